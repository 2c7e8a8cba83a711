// The POP3 Accounts and Email Forwarding screens' state, shared: a form above a table (which
// field has the keys, what is typed, what the daemon said, a removal waiting for its yes) and
// what each answer from the daemon does to it. Pure; the keys are in form-keys.ts.
import type { ChangeAction, Field as ErrorField, PendingView, QueueResult } from '../../src/control/protocol.js';
import { actionWord, changeWord, whenApplies } from '../../src/model/format.js';
import { initialListState, keysOf, type ListState, settle } from './list-reducer.js';
import type { FormScreen } from './screen-names.js';
import type { Effect, Notice } from './step.js';
import { edges } from './text-buffer.js';

export type Focus = 'table' | 'name' | 'second' | 'filter' | 'confirm' | 'details';

export interface FormState {
  focus: Focus;
  /** add: a new name; change: a new password (or destinations) for `target`; quota: its new quota; rename: its new name. */
  mode: 'add' | 'change' | 'quota' | 'rename';
  target: string | null;
  name: string;
  /** The password (accounts) or the destinations (forwards). */
  second: string;
  filter: string;
  /** How the accounts table is ordered: by name, by mailbox size, or by how full against the quota. */
  sort: 'name' | 'size' | 'quota';
  list: ListState;
  /** The address a removal (or what `asking` names) waits to be confirmed for. */
  confirm: string | null;
  /** What waits for its yes, when not a removal: z (suspend, resume) and u (undo) ask too. */
  asking?: { what: 'suspend' | 'resume' | 'undo'; effect: Effect };
  error: { field: 'name' | 'second'; text: string } | null;
  notice: Notice | null;
  busy: boolean;
  /** A change sent when the daemon went away before answering: checked once it is back. */
  unconfirmed: { address: string; action: ChangeAction } | null;
  /** Where the cursor is in the field that has the keys (a UTF-16 offset; see text-buffer.ts). */
  cursor: number;
}

export const initialFormState: FormState = {
  focus: 'table',
  mode: 'add',
  target: null,
  name: '',
  second: '',
  filter: '',
  sort: 'name',
  list: initialListState,
  confirm: null,
  error: null,
  notice: null,
  busy: false,
  unconfirmed: null,
  cursor: 0,
};

/** Moves the keys to `focus`; a field's cursor starts at the end of its text, as the field's does. */
export function focusOn(state: FormState, focus: Focus): FormState {
  const text = focus === 'name' || focus === 'second' || focus === 'filter' ? state[focus] : '';
  return { ...state, focus, cursor: text.length };
}

/** What a key needs to know of the rows the screen shows. */
export interface FormRow {
  address: string;
  name: string;
  pending: { id: string; action: ChangeAction } | null;
  /** A forward's destinations as they will be after the apply. */
  destinations?: string[];
  /** An account's suspension, as applied. */
  suspended?: boolean;
}

export interface FormContext {
  screen: FormScreen;
  domain: string;
  rows: readonly FormRow[];
  tableHeight: number;
}

export type FormAction =
  | { type: 'edit'; field: 'name' | 'second' | 'filter'; value: string }
  /** `select`: the row the change added, which the selection moves to. */
  | { type: 'queued'; notice: Notice; select?: string }
  | { type: 'refused'; field: ErrorField | undefined; text: string }
  | { type: 'notice'; notice: Notice }
  | { type: 'unconfirmed'; address: string; action: ChangeAction }
  | { type: 'confirmed'; notice: Notice };

/** The list as it is drawn: on a row that exists, scrolled to show it. */
export function shownList(
  state: FormState,
  ctx: { rows: readonly { address: string }[]; tableHeight: number },
): ListState {
  return settle(state.list, keysOf(ctx.rows), ctx.tableHeight);
}

const typingFocus = (f: Focus) => f === 'name' || f === 'second' || f === 'filter';

/** True while a text field has the keys. */
export function isTyping(state: FormState): boolean {
  return typingFocus(state.focus);
}

/** Whether the cursor of the field that has the keys is at its start or end. */
export function fieldEdges(state: FormState): { atStart: boolean; atEnd: boolean } {
  if (!typingFocus(state.focus)) return { atStart: false, atEnd: false };
  return edges({ value: state[state.focus as 'name' | 'second' | 'filter'], cursor: state.cursor });
}

export function formReducer(state: FormState, action: FormAction): FormState {
  switch (action.type) {
    case 'edit': {
      // Kept as typed: the filter matches either case, and a name is sent in lower case (the
      // form says so under the field while it has capitals).
      if (action.field === 'filter') return { ...state, filter: action.value, list: initialListState };
      const error = state.error?.field === action.field ? null : state.error;
      return { ...state, [action.field]: action.value, error };
    }
    case 'queued':
      return {
        ...state,
        busy: false,
        mode: 'add',
        target: null,
        name: '',
        second: '',
        error: null,
        focus: 'table',
        notice: action.notice,
        list: action.select ? { ...state.list, selected: action.select } : state.list,
      };
    case 'refused': {
      // The daemon says which input it is about; what is not a field of this form is a notice.
      const field =
        action.field === 'name'
          ? 'name'
          : action.field === 'password' || action.field === 'destinations' || action.field === 'quota'
            ? 'second'
            : null;
      if (!field) return { ...state, busy: false, notice: { kind: 'error', text: action.text } };
      return focusOn(
        { ...state, busy: false, error: { field, text: action.text } },
        state.mode !== 'add' && field === 'name' ? 'second' : field,
      );
    }
    case 'notice':
      return { ...state, busy: false, notice: action.notice };
    case 'unconfirmed':
      return {
        ...state,
        busy: false,
        unconfirmed: { address: action.address, action: action.action },
        notice: {
          kind: 'error',
          text: 'Not confirmed: the daemon went away before answering. Once it is back, this line says whether it was queued.',
        },
      };
    case 'confirmed':
      return { ...state, notice: action.notice, unconfirmed: null };
  }
}

/** Once the daemon is back: was the change sent as it went away queued after all? */
export function checkUnconfirmed(state: FormState, pending: readonly PendingView[], now: number): FormAction | null {
  const u = state.unconfirmed;
  if (!u) return null;
  const queued = pending.find((p) => p.address === u.address && (p.action === u.action || p.action === 'add'));
  return {
    type: 'confirmed',
    notice: queued
      ? {
          kind: 'ok',
          text: `The daemon is back: the ${actionWord(queued.action)} of ${u.address} is queued, ${whenApplies(queued.appliesAt, now)}`,
        }
      : {
          kind: 'warn',
          text: `The daemon is back: the ${actionWord(u.action)} of ${u.address} was NOT queued; send it again`,
        },
  };
}

/** How a queued change reads on the notice line. */
export function describeQueued(r: QueueResult, now: number, extra = ''): string {
  if ('cancelled' in r)
    return `Cancelled the pending ${changeWord(r.cancelled)} of ${r.cancelled.address}: nothing will change`;
  return `Queued: ${changeWord(r.queued)} ${r.queued.address}${extra}, ${whenApplies(r.queued.appliesAt, now)}`;
}
