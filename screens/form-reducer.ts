// The state of an add/change form above a table (POP3 accounts, forwards): which field has the
// keys, what is typed, what the daemon said, and a pending confirmation. Pure.
import type { Key } from 'ink';
import { initialListState, moveSelection, type ListState } from './list-reducer.js';

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

/** What a key asks of a form screen: a state change, or one of the things only the screen can do. */
export type FormCommand = FormAction | { type: 'submit' } | { type: 'remove'; address: string };

/** What a key typed into a field does to its text: null for a key that is not text. */
export function editText(value: string, input: string, key: Pick<Key, 'backspace' | 'delete' | 'ctrl' | 'meta'>): string | null {
  if (key.backspace || key.delete) return value.slice(0, -1);
  if (key.ctrl && input === 'u') return '';
  if (key.ctrl || key.meta) return null;
  const typed = input.replace(/[\u0000-\u001f\u007f]/g, '');
  return typed ? value + typed : null;
}

/**
 * The keys every form screen shares: typing into the fields and the filter, moving through
 * the table, starting an add, answering the removal question. Returns null for a key the
 * screen handles itself (its own commands such as p, d, u).
 */
export function formKey(state: FormState, input: string, key: Key, keys: readonly string[], tableHeight: number): FormCommand | null {
  if (state.focus === 'confirm') {
    return (input === 'y' || input === 'Y') && state.confirm ? { type: 'remove', address: state.confirm } : { type: 'cancel' };
  }
  if (state.focus === 'details') return key.escape || key.return ? { type: 'cancel' } : null;
  if (state.focus === 'filter') {
    if (key.escape || key.return || key.upArrow || key.downArrow) return { type: 'focus', focus: 'table' };
    const value = editText(state.filter, input, key);
    return value === null ? null : { type: 'edit', field: 'filter', value: value.toLowerCase() };
  }
  if (state.focus === 'name' || state.focus === 'second') {
    const field = state.focus;
    if (key.escape) return { type: 'cancel' };
    if (key.tab) return { type: 'focus', focus: field === 'name' || state.mode === 'change' ? 'second' : 'name' };
    if (key.return) return field === 'name' ? { type: 'focus', focus: 'second' } : { type: 'submit' };
    if (key.upArrow || key.downArrow) return { type: 'focus', focus: 'table' };
    const value = editText(state[field], input, key);
    return value === null ? null : { type: 'edit', field, value: field === 'name' ? value.toLowerCase() : value };
  }
  const move = (delta: number): FormCommand => ({ type: 'list', list: moveSelection(state.list, keys, delta, tableHeight) });
  if (key.upArrow || input === 'k') return move(-1);
  if (key.downArrow || input === 'j') return move(1);
  if (key.pageUp) return move(-tableHeight);
  if (key.pageDown) return move(tableHeight);
  if (key.home || input === 'g') return move(-Infinity);
  if (key.end || input === 'G') return move(Infinity);
  if (input === 'a' || key.tab) return { type: 'start-add' };
  if (input === '/') return { type: 'focus', focus: 'filter' };
  return null;
}
