// The state of an add/change form above a table (POP3 accounts, forwards): which field has the
// keys, what is typed, what the daemon said, and a pending confirmation. Pure.
import { initialListState, type ListState } from './list-reducer.js';

export type Focus = 'table' | 'name' | 'second' | 'filter' | 'confirm' | 'details';

export interface Notice {
  kind: 'ok' | 'warn' | 'error';
  text: string;
}

export interface FormState {
  focus: Focus;
  /** add: a new name; change: a new password (or destinations) for `target`. */
  mode: 'add' | 'change';
  target: string | null;
  name: string;
  /** The password (accounts) or the destinations (forwards). */
  second: string;
  filter: string;
  sort: 'name' | 'size';
  list: ListState;
  /** The address a removal waits to be confirmed for. */
  confirm: string | null;
  error: { field: 'name' | 'second'; text: string } | null;
  notice: Notice | null;
  busy: boolean;
  /** A change sent when the daemon went away before answering: checked once it is back. */
  unconfirmed: { address: string; action: string } | null;
}

export type FormAction =
  | { type: 'focus'; focus: Focus }
  | { type: 'edit'; field: 'name' | 'second' | 'filter'; value: string }
  | { type: 'start-add' }
  | { type: 'start-change'; name: string; second?: string }
  | { type: 'submitting' }
  | { type: 'submitted'; notice: Notice }
  | { type: 'rejected'; field: 'name' | 'second'; text: string }
  | { type: 'notice'; notice: Notice | null }
  | { type: 'unconfirmed'; address: string; action: string; notice: Notice }
  | { type: 'confirmed'; notice: Notice }
  | { type: 'toggle-sort' }
  | { type: 'list'; list: ListState }
  | { type: 'ask-remove'; address: string }
  | { type: 'cancel' };

export const initialFormState: FormState = {
  focus: 'table', mode: 'add', target: null, name: '', second: '', filter: '', sort: 'name',
  list: initialListState, confirm: null, error: null, notice: null, busy: false, unconfirmed: null,
};

export function formReducer(state: FormState, action: FormAction): FormState {
  switch (action.type) {
    case 'focus':
      return { ...state, focus: action.focus };
    case 'edit': {
      if (action.field === 'filter') return { ...state, filter: action.value, list: initialListState };
      const error = state.error?.field === action.field ? null : state.error;
      return { ...state, [action.field]: action.value, error };
    }
    case 'start-add':
      return { ...state, mode: 'add', target: null, name: state.mode === 'add' ? state.name : '', second: '', focus: 'name', error: null, notice: null };
    case 'start-change':
      return { ...state, mode: 'change', target: action.name, name: action.name, second: action.second ?? '', focus: 'second', error: null, notice: null };
    case 'submitting':
      return { ...state, busy: true, notice: null };
    case 'submitted':
      return { ...state, busy: false, mode: 'add', target: null, name: '', second: '', error: null, focus: 'table', notice: action.notice };
    case 'rejected':
      return { ...state, busy: false, error: { field: action.field, text: action.text }, focus: action.field };
    case 'notice':
      return { ...state, busy: false, notice: action.notice };
    case 'unconfirmed':
      return { ...state, busy: false, notice: action.notice, unconfirmed: { address: action.address, action: action.action } };
    case 'confirmed':
      return { ...state, notice: action.notice, unconfirmed: null };
    case 'toggle-sort':
      return { ...state, sort: state.sort === 'name' ? 'size' : 'name' };
    case 'list':
      return { ...state, list: action.list };
    case 'ask-remove':
      return { ...state, confirm: action.address, focus: 'confirm', notice: null };
    case 'cancel':
      if (state.focus === 'confirm') return { ...state, confirm: null, focus: 'table' };
      if (state.focus === 'filter') return { ...state, focus: 'table' };
      if (state.focus === 'details') return { ...state, focus: 'table' };
      return { ...state, mode: 'add', target: null, name: '', second: '', error: null, focus: 'table' };
  }
}

/** Which field a refusal from the daemon is about. */
export function fieldOf(message: string): 'name' | 'second' {
  return /password|destination|forward to itself|mail address|loop/i.test(message) ? 'second' : 'name';
}
