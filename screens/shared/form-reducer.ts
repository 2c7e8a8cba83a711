// The POP3 Accounts and Email Forwarding screens' state, shared: a form above a table (which
// field has the keys, what is typed, what the daemon said, a removal waiting for its yes) and
// what each key does to it. Pure: a key gives the next state and the requests to send
// (effects); the answers come back as actions.
import type { Key } from 'ink';
import type { ChangeAction, Field as ErrorField, PendingView, QueueResult } from '../../src/control/protocol.js';
import { actionWord, changeWord, whenApplies } from '../../src/model/format.js';
import {
  initialListState,
  keysOf,
  type ListState,
  listDelta,
  moveSelection,
  selectedIndex,
  settle,
} from './list-reducer.js';
import type { FormScreen } from './screen-names.js';
import type { Effect, Notice, Step } from './step.js';
import { cursorAfterKey, edges, isClear } from './text-field.js';

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
  /** The address a removal waits to be confirmed for. */
  confirm: string | null;
  error: { field: 'name' | 'second'; text: string } | null;
  notice: Notice | null;
  busy: boolean;
  /** A change sent when the daemon went away before answering: checked once it is back. */
  unconfirmed: { address: string; action: ChangeAction } | null;
  /**
   * Where the cursor is in the field that has the keys, as ink-text-input will have it: kept
   * here so that an arrow past either end never reaches the field (its cursor would leave the
   * text, and the next character would land in the wrong place).
   */
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
function focusOn(state: FormState, focus: Focus): FormState {
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
  | { type: 'queued'; notice: Notice }
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

function selectedRow<R extends { address: string }>(list: ListState, rows: readonly R[]): R | undefined {
  return rows[selectedIndex(list, keysOf(rows))];
}

const typingFocus = (f: Focus) => f === 'name' || f === 'second' || f === 'filter';

/** True while a text field has the keys. */
export function isTyping(state: FormState): boolean {
  return typingFocus(state.focus);
}

/** Whether the cursor of the field that has the keys is at its start or end. */
export function fieldEdges(state: FormState): { atStart: boolean; atEnd: boolean } {
  if (!typingFocus(state.focus)) return { atStart: false, atEnd: false };
  return edges(state.cursor, state[state.focus as 'name' | 'second' | 'filter'].length);
}

export function formReducer(state: FormState, action: FormAction): FormState {
  switch (action.type) {
    case 'edit': {
      if (action.field === 'filter') return { ...state, filter: action.value.toLowerCase(), list: initialListState };
      const error = state.error?.field === action.field ? null : state.error;
      return { ...state, [action.field]: action.field === 'name' ? action.value.toLowerCase() : action.value, error };
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

const noEffects = (state: FormState): Step<FormState> => ({ state, effects: [] });

/** What a key does on a form screen. */
export function formKey(state: FormState, input: string, key: Key, ctx: FormContext): Step<FormState> {
  const list = shownList(state, ctx);
  const keys = keysOf(ctx.rows);
  const selected = selectedRow(list, ctx.rows);

  if (state.focus === 'confirm') {
    if ((input === 'y' || input === 'Y') && state.confirm) {
      const address = state.confirm;
      const method = ctx.screen === 'accounts' ? 'accounts.remove' : 'forwards.remove';
      return {
        state: { ...state, confirm: null, focus: 'table', notice: null },
        effects: [
          {
            type: 'call',
            screen: ctx.screen,
            call: { method, params: { name: address, domain: ctx.domain } },
            what: 'remove',
            address,
          },
        ],
      };
    }
    return noEffects({ ...state, confirm: null, focus: 'table' });
  }
  if (state.focus === 'details') {
    // Who changed this account, and when.
    const shown = ctx.rows[selectedIndex(state.list, keysOf(ctx.rows))];
    if (input === 'h' && shown) return { state, effects: [{ type: 'nav', to: 'history', address: shown.address }] };
    return noEffects(key.escape || key.return ? { ...state, focus: 'table' } : state);
  }
  if (state.focus === 'filter') {
    if (key.escape || key.return || key.upArrow || key.downArrow) return noEffects({ ...state, focus: 'table' });
    return noEffects(editing(state, input, key));
  }
  if (state.focus === 'name' || state.focus === 'second') {
    const field = state.focus;
    if (key.escape)
      return noEffects({ ...state, mode: 'add', target: null, name: '', second: '', error: null, focus: 'table' });
    if (key.tab) return noEffects(focusOn(state, field === 'name' || state.mode !== 'add' ? 'second' : 'name'));
    if (key.upArrow || key.downArrow) return noEffects({ ...state, focus: 'table' });
    if (key.return) return field === 'name' ? noEffects(focusOn(state, 'second')) : submit(state, ctx);
    return noEffects(editing(state, input, key));
  }

  // The table has the keys; a letter with Ctrl or Alt is not its command.
  if (key.ctrl || (key.meta && !key.escape)) return noEffects(state);
  const delta = listDelta(input, key, ctx.tableHeight);
  if (delta !== null) return noEffects({ ...state, list: moveSelection(list, keys, delta, ctx.tableHeight) });
  if (input === 'a' || key.tab) {
    return noEffects(
      focusOn(
        {
          ...state,
          mode: 'add',
          target: null,
          name: state.mode === 'add' ? state.name : '',
          second: '',
          error: null,
          notice: null,
        },
        'name',
      ),
    );
  }
  if (input === 'f') return noEffects(focusOn(state, 'filter'));
  if (input === '/') return { state, effects: [{ type: 'nav', to: 'search', query: state.filter }] };
  if (input === 's' && ctx.screen === 'accounts')
    return noEffects({ ...state, sort: state.sort === 'name' ? 'size' : state.sort === 'size' ? 'quota' : 'name' });
  if (key.escape) return { state, effects: [{ type: 'nav', to: 'back' }] };
  if (input === 'q') return { state, effects: [{ type: 'nav', to: 'quit' }] };
  if (input === '?') return { state, effects: [{ type: 'nav', to: 'help' }] };
  if (ctx.screen === 'accounts' && input === 'i') return { state, effects: [{ type: 'nav', to: 'import' }] };
  if (!selected) return noEffects(state);
  const change = (second: string, mode: FormState['mode'] = 'change') =>
    noEffects(
      focusOn(
        {
          ...state,
          list,
          mode,
          target: selected.name,
          name: selected.name,
          second,
          error: null,
          notice: null,
        },
        'second',
      ),
    );
  if (ctx.screen === 'accounts' && input === 'p') return change('');
  if (ctx.screen === 'accounts' && input === 'l') return change('', 'quota');
  if (ctx.screen === 'accounts' && input === 'r') return change('', 'rename');
  if (ctx.screen === 'accounts' && input === 'z') {
    const resume = selected.suspended === true;
    return {
      state: { ...state, list, notice: null },
      effects: [
        {
          type: 'call',
          screen: 'accounts',
          call: resume
            ? { method: 'accounts.resume', params: { name: selected.name, domain: ctx.domain } }
            : { method: 'accounts.suspend', params: { name: selected.name, domain: ctx.domain } },
          what: resume ? 'resume' : 'suspend',
          address: selected.address,
        },
      ],
    };
  }
  if (ctx.screen === 'forwards' && (input === 'e' || key.return))
    return change((selected.destinations ?? []).join(', '));
  if (ctx.screen === 'accounts' && key.return) return noEffects({ ...state, list, focus: 'details' });
  if (input === 'h')
    return { state: { ...state, list }, effects: [{ type: 'nav', to: 'history', address: selected.address }] };
  if (input === 'd') return noEffects({ ...state, list, confirm: selected.address, focus: 'confirm', notice: null });
  if (input === 'u') {
    const p = selected.pending;
    if (!p)
      return noEffects({
        ...state,
        list,
        notice: { kind: 'warn', text: `${selected.address} has no pending change to undo` },
      });
    return {
      state: { ...state, list, notice: null },
      effects: [
        {
          type: 'call',
          screen: ctx.screen,
          call: { method: 'pending.cancel', params: { id: p.id } },
          what: 'undo',
          address: selected.address,
        },
      ],
    };
  }
  return noEffects(state);
}

/**
 * A key in a text field: the field (ink-text-input) changes the text; this follows its cursor,
 * and clears the field on Ctrl-U.
 */
function editing(state: FormState, input: string, key: Key): FormState {
  const field = state.focus as 'name' | 'second' | 'filter';
  if (isClear(input, key)) return { ...formReducer(state, { type: 'edit', field, value: '' }), cursor: 0 };
  return { ...state, cursor: cursorAfterKey(state.cursor, state[field].length, input, key) };
}

/** Enter in the last field: check what can be checked here, then send the change. */
function submit(state: FormState, ctx: FormContext): Step<FormState> {
  if (state.busy) return noEffects(state);
  const name = state.name.trim();
  const refuse = (field: 'name' | 'second', text: string) =>
    noEffects(focusOn({ ...state, error: { field, text } }, field));
  if (!name)
    return refuse(
      'name',
      `enter the ${ctx.screen === 'accounts' ? 'account' : 'forwarding'} name (without @${ctx.domain})`,
    );
  const address = `${name}@${ctx.domain}`;
  let effect: Effect;
  if (ctx.screen === 'accounts' && state.mode === 'rename') {
    const newName = state.second.trim().toLowerCase();
    if (!newName) return refuse('second', `enter the new name (without @${ctx.domain})`);
    effect = {
      type: 'submit',
      screen: 'accounts',
      call: { method: 'accounts.rename', params: { name, newName, domain: ctx.domain } },
      address,
      action: 'rename',
    };
  } else if (ctx.screen === 'accounts' && state.mode === 'quota') {
    if (!state.second.trim()) return refuse('second', 'enter a size like 25M or 2G, or none');
    effect = {
      type: 'submit',
      screen: 'accounts',
      call: { method: 'accounts.quota', params: { name, quota: state.second.trim(), domain: ctx.domain } },
      address,
      action: 'quota',
    };
  } else if (ctx.screen === 'accounts') {
    if (!state.second) return refuse('second', 'enter a password');
    const method = state.mode === 'add' ? 'accounts.add' : 'accounts.passwd';
    effect = {
      type: 'submit',
      screen: 'accounts',
      call: { method, params: { name, password: state.second, domain: ctx.domain } },
      address,
      action: state.mode === 'add' ? 'add' : 'password',
    };
  } else {
    const destinations = state.second.split(/[\s,;]+/).filter(Boolean);
    if (destinations.length === 0) return refuse('second', 'enter one or more destination addresses');
    effect = {
      type: 'submit',
      screen: 'forwards',
      call: { method: 'forwards.add', params: { name, destinations, domain: ctx.domain } },
      address,
      action: state.mode === 'add' ? 'add' : 'update',
    };
  }
  return { state: { ...state, busy: true, notice: null }, effects: [effect] };
}
