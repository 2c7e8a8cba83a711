// What each key does on the POP3 Accounts and Email Forwarding screens, by where the keys are:
// a removal waiting for its yes, an account's details, the filter, the form's two fields, or
// the table (the keys both screens share, then each screen's own letters on the selected row).
// Pure: a key gives the next state and the requests to send (effects).
import type { Key } from 'ink';
import { type FormContext, type FormRow, type FormState, focusOn, formReducer, shownList } from './form-reducer.js';
import { keysOf, type ListState, listDelta, moveSelection, selectedIndex } from './list-reducer.js';
import type { Effect, Step } from './step.js';
import { editKey } from './text-buffer.js';

const noEffects = (state: FormState): Step<FormState> => ({ state, effects: [] });

/** What a key does on a form screen. */
export function formKey(state: FormState, input: string, key: Key, ctx: FormContext): Step<FormState> {
  switch (state.focus) {
    case 'confirm':
      return confirmKey(state, input, ctx);
    case 'details':
      return detailsKey(state, input, key, ctx);
    case 'filter':
      // Esc drops the filter (the whole list is back); Enter and the arrows keep it.
      if (key.escape)
        return noEffects({ ...formReducer(state, { type: 'edit', field: 'filter', value: '' }), focus: 'table' });
      if (key.return || key.upArrow || key.downArrow) return noEffects({ ...state, focus: 'table' });
      return noEffects(editing(state, input, key));
    case 'name':
    case 'second':
      return fieldKey(state, input, key, ctx);
    case 'table':
      return tableKey(state, input, key, ctx);
  }
}

/** y sends the removal (or the suspension, resumption, undo) that waits; any other key drops the question. */
function confirmKey(state: FormState, input: string, ctx: FormContext): Step<FormState> {
  if ((input === 'y' || input === 'Y') && state.confirm && state.asking) {
    return {
      state: { ...state, confirm: null, asking: undefined, focus: 'table', notice: null },
      effects: [state.asking.effect],
    };
  }
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
  return noEffects({ ...state, confirm: null, asking: undefined, focus: 'table' });
}

/** An account's details are open: h shows who changed it and when; Esc or Enter closes them. */
function detailsKey(state: FormState, input: string, key: Key, ctx: FormContext): Step<FormState> {
  const shown = ctx.rows[selectedIndex(state.list, keysOf(ctx.rows))];
  if (input === 'h' && shown) return { state, effects: [{ type: 'nav', to: 'history', address: shown.address }] };
  if (input === 't' && shown) return { state, effects: [{ type: 'nav', to: 'trail', address: shown.address }] };
  return noEffects(key.escape || key.return ? { ...state, focus: 'table' } : state);
}

/** The name or the second field has the keys: Tab and Enter move on, Enter in the last one sends. */
function fieldKey(state: FormState, input: string, key: Key, ctx: FormContext): Step<FormState> {
  const field = state.focus;
  if (key.escape)
    return noEffects({ ...state, mode: 'add', target: null, name: '', second: '', error: null, focus: 'table' });
  if (key.tab) return noEffects(focusOn(state, field === 'name' || state.mode !== 'add' ? 'second' : 'name'));
  if (key.upArrow || key.downArrow) return noEffects({ ...state, focus: 'table' });
  if (key.return) return field === 'name' ? noEffects(focusOn(state, 'second')) : submit(state, ctx);
  return noEffects(editing(state, input, key));
}

/** The table has the keys: move, add, filter, leave; then the keys on the selected row. */
function tableKey(state: FormState, input: string, key: Key, ctx: FormContext): Step<FormState> {
  // A letter with Ctrl or Alt is not the table's command.
  if (key.ctrl || (key.meta && !key.escape)) return noEffects(state);
  const list = shownList(state, ctx);
  const delta = listDelta(input, key, ctx.tableHeight);
  if (delta !== null)
    return noEffects({ ...state, list: moveSelection(list, keysOf(ctx.rows), delta, ctx.tableHeight) });
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
  // / (or f) filters this list on screen; S searches every domain, starting from the filter.
  if (input === 'f' || input === '/') return noEffects(focusOn(state, 'filter'));
  if (input === 'S') return { state, effects: [{ type: 'nav', to: 'search', query: state.filter }] };
  if (input === 's' && ctx.screen === 'accounts')
    return noEffects({ ...state, sort: state.sort === 'name' ? 'size' : state.sort === 'size' ? 'quota' : 'name' });
  // Esc drops a filter before it leaves the screen.
  if (key.escape && state.filter) return noEffects(formReducer(state, { type: 'edit', field: 'filter', value: '' }));
  if (key.escape) return { state, effects: [{ type: 'nav', to: 'back' }] };
  if (input === 'q') return { state, effects: [{ type: 'nav', to: 'quit' }] };
  if (input === '?') return { state, effects: [{ type: 'nav', to: 'help' }] };
  if (ctx.screen === 'accounts' && input === 'i') return { state, effects: [{ type: 'nav', to: 'import' }] };
  const selected = selectedRow(list, ctx.rows);
  if (!selected) return noEffects(state);
  const own =
    ctx.screen === 'accounts'
      ? accountRowKey(state, list, selected, input, key, ctx)
      : forwardRowKey(state, list, selected, input, key);
  return own ?? commonRowKey(state, list, selected, input, ctx);
}

/** The form, opened on the selected row to change it: its second field gets the keys. */
function changeRow(state: FormState, list: ListState, selected: FormRow, second: string, mode: FormState['mode']) {
  const next: FormState = { ...state, list, mode, target: selected.name, name: selected.name, second };
  return noEffects(focusOn({ ...next, error: null, notice: null }, 'second'));
}

/** An account's own keys: p password, l quota, r rename, z suspend or resume, Enter details. */
function accountRowKey(
  state: FormState,
  list: ListState,
  selected: FormRow,
  input: string,
  key: Key,
  ctx: FormContext,
): Step<FormState> | null {
  if (input === 'p') return changeRow(state, list, selected, '', 'change');
  if (input === 'l') return changeRow(state, list, selected, '', 'quota');
  if (input === 'r') return changeRow(state, list, selected, '', 'rename');
  if (input === 'z') {
    // Asks first, as d does: a suspended mailbox refuses its owner's login.
    const resume = selected.suspended === true;
    const effect: Effect = {
      type: 'call',
      screen: 'accounts',
      call: resume
        ? { method: 'accounts.resume', params: { name: selected.name, domain: ctx.domain } }
        : { method: 'accounts.suspend', params: { name: selected.name, domain: ctx.domain } },
      what: resume ? 'resume' : 'suspend',
      address: selected.address,
    };
    return noEffects(ask(state, list, selected.address, { what: resume ? 'resume' : 'suspend', effect }));
  }
  if (key.return) return noEffects({ ...state, list, focus: 'details' });
  return null;
}

/** A forward's own key: e or Enter edits its destinations. */
function forwardRowKey(
  state: FormState,
  list: ListState,
  selected: FormRow,
  input: string,
  key: Key,
): Step<FormState> | null {
  if (input === 'e' || key.return)
    return changeRow(state, list, selected, (selected.destinations ?? []).join(', '), 'change');
  return null;
}

/** The keys both screens have on the selected row: h its history, d remove, u undo. */
function commonRowKey(
  state: FormState,
  list: ListState,
  selected: FormRow,
  input: string,
  ctx: FormContext,
): Step<FormState> {
  if (input === 'h')
    return { state: { ...state, list }, effects: [{ type: 'nav', to: 'history', address: selected.address }] };
  if (input === 't')
    return { state: { ...state, list }, effects: [{ type: 'nav', to: 'trail', address: selected.address }] };
  if (input === 'd') return noEffects(ask(state, list, selected.address, undefined));
  if (input === 'u') {
    const p = selected.pending;
    if (!p)
      return noEffects({
        ...state,
        list,
        notice: { kind: 'warn', text: `${selected.address} has no pending change to undo` },
      });
    const effect: Effect = {
      type: 'call',
      screen: ctx.screen,
      call: { method: 'pending.cancel', params: { id: p.id } },
      what: 'undo',
      address: selected.address,
    };
    return noEffects(ask(state, list, selected.address, { what: 'undo', effect }));
  }
  return noEffects(state);
}

/** A question on the selected row, answered by y (see confirmKey). */
function ask(state: FormState, list: ListState, address: string, asking: FormState['asking']): FormState {
  return { ...state, list, confirm: address, asking, focus: 'confirm', notice: null };
}

function selectedRow<R extends { address: string }>(list: ListState, rows: readonly R[]): R | undefined {
  return rows[selectedIndex(list, keysOf(rows))];
}

/** A key in a text field: edits its text and cursor (text-buffer.ts). */
function editing(state: FormState, input: string, key: Key): FormState {
  const field = state.focus as 'name' | 'second' | 'filter';
  const next = editKey({ value: state[field], cursor: state.cursor }, input, key);
  if (!next) return state;
  if (next.value === state[field]) return { ...state, cursor: next.cursor };
  return { ...formReducer(state, { type: 'edit', field, value: next.value }), cursor: next.cursor };
}

/** Enter in the last field: check what can be checked here, then send the change. */
function submit(state: FormState, ctx: FormContext): Step<FormState> {
  if (state.busy) return noEffects(state);
  // Names are stored in lower case (src/model/names.ts); the form showed it while typing.
  const name = state.name.trim().toLowerCase();
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
