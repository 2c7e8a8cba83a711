// What each key does on the Domains screen, by where the keys are: a question waiting for its
// yes (remove, apply), the field (a new domain, a catch-all, a default quota), or the list of
// domains (move, choose, and the letters that act on the selected domain). Pure.
import type { Key } from 'ink';
import type { DomainView } from '../../src/control/protocol.js';
import { clockTime } from '../../src/model/format.js';
import { filterKey, noFilter, openFilter } from '../shared/list-filter.js';
import type { ListState } from '../shared/list-reducer.js';
import { listDelta, moveSelection } from '../shared/list-reducer.js';
import type { Effect, RowCall, Step } from '../shared/step.js';
import { editKey } from '../shared/text-buffer.js';
import { type DomainsContext, type DomainsState, domainsReducer, shownDomainList } from './domains-reducer.js';

const still = (state: DomainsState): Step<DomainsState> => ({ state, effects: [] });

/** A request about `domain` from this screen, reported on its notice line. */
function domainCall(domain: string, call: RowCall): Effect {
  return { type: 'call', screen: 'domains', ...call, address: domain };
}

/** What a key does on the Domains screen. */
export function domainsKey(state: DomainsState, input: string, key: Key, ctx: DomainsContext): Step<DomainsState> {
  const list = shownDomainList(state, ctx);
  if (state.focus === 'confirm') return confirmKey(state, list, input);
  if (state.focus === 'name') return fieldKey(state, input, key);
  if (state.filter.typing) return still({ ...state, list, filter: filterKey(state.filter, input, key) });
  return listKey(state, list, input, key, ctx);
}

/** y sends the removal or the apply that waits; any other key drops the question. */
function confirmKey(state: DomainsState, list: ListState, input: string): Step<DomainsState> {
  const c = state.confirm;
  const next: DomainsState = { ...state, list, confirm: null, focus: 'list' };
  if (!c || (input !== 'y' && input !== 'Y')) return still(next);
  const effect =
    c.what === 'remove'
      ? domainCall(c.domain, {
          what: 'remove-domain',
          call: {
            method: 'domains.remove',
            params: c.withAccounts ? { domain: c.domain, withAccounts: true } : { domain: c.domain },
          },
        })
      : domainCall(c.domain, { what: 'apply', call: { method: 'pending.apply', params: { domain: c.domain } } });
  return { state: { ...next, notice: null }, effects: [effect] };
}

/** The field has the keys: Enter sends what is typed, Esc drops it, the rest edits it. */
function fieldKey(state: DomainsState, input: string, key: Key): Step<DomainsState> {
  if (key.escape) return still({ ...state, name: '', cursor: 0, error: null, focus: 'list', field: { what: 'add' } });
  if (key.return) {
    const f = state.field;
    return f.what === 'add' ? sendNewDomain(state) : sendDomainSetting(state, f);
  }
  if (key.upArrow || key.downArrow || key.tab) return still({ ...state, focus: 'list' });
  const next = editKey({ value: state.name, cursor: state.cursor }, input, key);
  if (!next) return still(state);
  if (next.value === state.name) return still({ ...state, cursor: next.cursor });
  return still({ ...domainsReducer(state, { type: 'edit', value: next.value }), cursor: next.cursor });
}

/** Enter in the field of a new domain: asks the daemon to add it. */
function sendNewDomain(state: DomainsState): Step<DomainsState> {
  const domain = state.name.trim();
  if (!domain) return still({ ...state, error: 'type the domain name, e.g. example.org' });
  if (state.busy) return still(state);
  return {
    state: { ...state, busy: true, notice: null },
    effects: [domainCall(domain, { what: 'add-domain', call: { method: 'domains.add', params: { domain } } })],
  };
}

/** Enter in the field of the selected domain's catch-all or default quota: asks to set it. */
function sendDomainSetting(
  state: DomainsState,
  f: Exclude<DomainsState['field'], { what: 'add' }>,
): Step<DomainsState> {
  const value = state.name.trim();
  if (!value)
    return still({
      ...state,
      error: f.what === 'quota' ? 'type a size like 25M, or none' : 'type a name, or none',
    });
  if (state.busy) return still(state);
  return {
    state: { ...state, busy: true, notice: null },
    effects: [
      domainCall(
        f.domain,
        f.what === 'quota'
          ? { what: 'set-domain', call: { method: 'domains.quota', params: { domain: f.domain, quota: value } } }
          : { what: 'set-domain', call: { method: 'domains.catchall', params: { domain: f.domain, target: value } } },
      ),
    ],
  };
}

/** The list has the keys: move, open the field, leave; the rest act on the selected domain. */
function listKey(
  state: DomainsState,
  list: ListState,
  input: string,
  key: Key,
  ctx: DomainsContext,
): Step<DomainsState> {
  if (key.ctrl || (key.meta && !key.escape)) return still(state);
  const delta = listDelta(input, key, ctx.tableHeight);
  if (delta !== null)
    return still({
      ...state,
      list: moveSelection(
        list,
        ctx.rows.map((r) => r.domain),
        delta,
        ctx.tableHeight,
      ),
    });
  if (input === 'a' || key.tab)
    return still({
      ...state,
      list,
      focus: 'name',
      field: { what: 'add' },
      name: state.field.what === 'add' ? state.name : '',
      cursor: state.field.what === 'add' ? state.name.length : 0,
      error: null,
      notice: null,
    });
  // Esc drops a filter before it leaves the screen.
  if (key.escape && state.filter.text) return still({ ...state, filter: noFilter });
  if (key.escape) return { state, effects: ctx.current ? [{ type: 'nav', to: 'back' }] : [] };
  if (input === 'q') return { state, effects: [{ type: 'nav', to: 'quit' }] };
  // / (or f) filters this list on screen; S searches every domain's accounts and forwards.
  if (input === '/' || input === 'f') return still({ ...state, list, filter: openFilter(state.filter), notice: null });
  if (input === 'S') return { state, effects: [{ type: 'nav', to: 'search', query: '' }] };
  if (input === '?') return { state, effects: [{ type: 'nav', to: 'help' }] };
  const selected = ctx.rows.find((r) => r.domain === list.selected);
  if (!selected) return still(state);
  return selectedDomainKey(state, list, selected, input, key);
}

/** A key on the selected domain: Enter chooses it; c, l, d, A and u act on it. */
function selectedDomainKey(
  state: DomainsState,
  list: ListState,
  selected: DomainView,
  input: string,
  key: Key,
): Step<DomainsState> {
  const warn = (text: string) => still({ ...state, list, notice: { kind: 'warn', text } });
  if (key.return) {
    if (selected.hosted) return { state: { ...state, list }, effects: [{ type: 'choose', domain: selected.domain }] };
    const when = selected.change ? ` at ${clockTime(selected.change.appliesAt)}` : '';
    return warn(`${selected.domain} is hosted once its add applies${when}: press A to apply it now`);
  }
  if ((input === 'c' || input === 'l') && selected.hosted) {
    // The field, filled with what is set now, for the selected domain's catch-all or quota.
    const what = input === 'c' ? 'catchall' : 'quota';
    const now = what === 'catchall' ? (selected.catchall ?? '') : selected.quota === null ? '' : `${selected.quota}`;
    return still({
      ...state,
      list,
      focus: 'name',
      field: { what, domain: selected.domain },
      name: now,
      cursor: now.length,
      error: null,
      notice: null,
    });
  }
  // n: the domain's DNS records, each looked up (vmail domains check), as a checklist.
  if (input === 'n') {
    if (!selected.hosted)
      return warn(`${selected.domain} is not hosted yet: its records are checked once its add applies`);
    return { state: { ...state, list }, effects: [{ type: 'nav', to: 'dns', domain: selected.domain }] };
  }
  if (input === 'd') {
    if (selected.change?.action === 'remove') return warn(`${selected.domain} is being removed already`);
    const withAccounts = selected.accounts + selected.forwards > 0;
    return still({
      ...state,
      list,
      focus: 'confirm',
      confirm: { what: 'remove', domain: selected.domain, withAccounts },
      notice: null,
    });
  }
  if (input === 'A') {
    if (selected.pending === 0) return warn(`${selected.domain} has no pending changes`);
    return still({
      ...state,
      list,
      focus: 'confirm',
      confirm: { what: 'apply', domain: selected.domain },
      notice: null,
    });
  }
  if (input === 'u') {
    const c = selected.change;
    if (!c) return warn(`${selected.domain} has no pending add or removal to undo`);
    return {
      state: { ...state, list, notice: null },
      effects: [
        domainCall(selected.domain, { what: 'undo', call: { method: 'pending.cancel', params: { id: c.id } } }),
      ],
    };
  }
  return still(state);
}
