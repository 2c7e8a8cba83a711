// The Domains screen's state: which domain is selected, the field a new domain is typed into,
// a removal or an apply waiting for its yes, and what the daemon said. Choosing a hosted domain
// makes it the one the other screens manage. Pure.
import type { Key } from 'ink';
import type { DomainView } from '../../src/control/protocol.js';
import { clockTime } from '../../src/model/format.js';
import { initialListState, type ListState, listDelta, moveSelection, settle } from '../shared/list-reducer.js';
import type { Effect, Notice, Step } from '../shared/step.js';
import { cursorAfterKey, edges, isClear } from '../shared/text-field.js';

export interface DomainsState {
  list: ListState;
  focus: 'list' | 'name' | 'confirm';
  /** What the field is for: a new domain, or the selected domain's catch-all or default quota. */
  field: { what: 'add' } | { what: 'catchall' | 'quota'; domain: string };
  /** What is typed in the field. */
  name: string;
  cursor: number;
  /** What waits for its yes. */
  confirm: { what: 'remove'; domain: string; withAccounts: boolean } | { what: 'apply'; domain: string } | null;
  /** Why the typed domain was refused, shown beside the field. */
  error: string | null;
  notice: Notice | null;
  busy: boolean;
}

export const initialDomainsState: DomainsState = {
  list: initialListState,
  focus: 'list',
  field: { what: 'add' },
  name: '',
  cursor: 0,
  confirm: null,
  error: null,
  notice: null,
  busy: false,
};

export interface DomainsContext {
  /** Hosted domains and those being added, by name. */
  rows: readonly DomainView[];
  /** The domain the other screens manage now, if one is chosen. */
  current: string | null;
  tableHeight: number;
}

export type DomainsAction =
  | { type: 'edit'; value: string }
  | { type: 'added'; notice: Notice }
  | { type: 'refused'; text: string }
  | { type: 'notice'; notice: Notice };

export function shownDomainList(state: DomainsState, ctx: DomainsContext): ListState {
  return settle(
    state.list,
    ctx.rows.map((r) => r.domain),
    ctx.tableHeight,
  );
}

export function isTypingDomain(state: DomainsState): boolean {
  return state.focus === 'name';
}

export function domainFieldEdges(state: DomainsState): { atStart: boolean; atEnd: boolean } {
  return state.focus === 'name' ? edges(state.cursor, state.name.length) : { atStart: false, atEnd: false };
}

export function domainsReducer(state: DomainsState, action: DomainsAction): DomainsState {
  switch (action.type) {
    case 'edit':
      return { ...state, name: action.value.toLowerCase(), error: null };
    case 'added':
      return {
        ...state,
        busy: false,
        name: '',
        cursor: 0,
        error: null,
        focus: 'list',
        field: { what: 'add' },
        notice: action.notice,
      };
    case 'refused':
      return { ...state, busy: false, error: action.text, focus: 'name', cursor: state.name.length };
    case 'notice':
      return { ...state, busy: false, notice: action.notice };
  }
}

const still = (state: DomainsState): Step<DomainsState> => ({ state, effects: [] });

/** What a key does on the Domains screen. */
export function domainsKey(state: DomainsState, input: string, key: Key, ctx: DomainsContext): Step<DomainsState> {
  const list = shownDomainList(state, ctx);
  const selected = ctx.rows.find((r) => r.domain === list.selected);

  if (state.focus === 'confirm') {
    const c = state.confirm;
    const next: DomainsState = { ...state, list, confirm: null, focus: 'list' };
    if (!c || (input !== 'y' && input !== 'Y')) return still(next);
    const effect: Effect =
      c.what === 'remove'
        ? {
            type: 'call',
            screen: 'domains',
            what: 'remove-domain',
            call: {
              method: 'domains.remove',
              params: c.withAccounts ? { domain: c.domain, withAccounts: true } : { domain: c.domain },
            },
            address: c.domain,
          }
        : {
            type: 'call',
            screen: 'domains',
            what: 'apply',
            call: { method: 'pending.apply', params: { domain: c.domain } },
            address: c.domain,
          };
    return { state: { ...next, notice: null }, effects: [effect] };
  }

  if (state.focus === 'name') {
    if (key.escape) return still({ ...state, name: '', cursor: 0, error: null, focus: 'list', field: { what: 'add' } });
    if (key.return && state.field.what !== 'add') {
      const value = state.name.trim();
      const f = state.field;
      if (!value)
        return still({
          ...state,
          error: f.what === 'quota' ? 'type a size like 25M, or none' : 'type a name, or none',
        });
      if (state.busy) return still(state);
      return {
        state: { ...state, busy: true, notice: null },
        effects: [
          f.what === 'quota'
            ? {
                type: 'call',
                screen: 'domains',
                what: 'set-domain',
                call: { method: 'domains.quota', params: { domain: f.domain, quota: value } },
                address: f.domain,
              }
            : {
                type: 'call',
                screen: 'domains',
                what: 'set-domain',
                call: { method: 'domains.catchall', params: { domain: f.domain, target: value } },
                address: f.domain,
              },
        ],
      };
    }
    if (key.return) {
      const domain = state.name.trim();
      if (!domain) return still({ ...state, error: 'type the domain name, e.g. example.org' });
      if (state.busy) return still(state);
      return {
        state: { ...state, busy: true, notice: null },
        effects: [
          {
            type: 'call',
            screen: 'domains',
            what: 'add-domain',
            call: { method: 'domains.add', params: { domain } },
            address: domain,
          },
        ],
      };
    }
    if (key.upArrow || key.downArrow || key.tab) return still({ ...state, focus: 'list' });
    if (isClear(input, key)) return still({ ...state, name: '', cursor: 0, error: null });
    return still({ ...state, cursor: cursorAfterKey(state.cursor, state.name.length, input, key) });
  }

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
  if (key.escape) return { state, effects: ctx.current ? [{ type: 'nav', to: 'back' }] : [] };
  if (input === 'q') return { state, effects: [{ type: 'nav', to: 'quit' }] };
  if (input === '/') return { state, effects: [{ type: 'nav', to: 'search', query: '' }] };
  if (input === '?') return { state, effects: [{ type: 'nav', to: 'help' }] };
  if (!selected) return still(state);
  if (key.return) {
    if (selected.hosted) return { state: { ...state, list }, effects: [{ type: 'choose', domain: selected.domain }] };
    const when = selected.change ? ` at ${clockTime(selected.change.appliesAt)}` : '';
    return still({
      ...state,
      list,
      notice: {
        kind: 'warn',
        text: `${selected.domain} is hosted once its add applies${when}: press A to apply it now`,
      },
    });
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
  if (input === 'd') {
    if (selected.change?.action === 'remove')
      return still({ ...state, list, notice: { kind: 'warn', text: `${selected.domain} is being removed already` } });
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
    if (selected.pending === 0)
      return still({ ...state, list, notice: { kind: 'warn', text: `${selected.domain} has no pending changes` } });
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
    if (!c)
      return still({
        ...state,
        list,
        notice: { kind: 'warn', text: `${selected.domain} has no pending add or removal to undo` },
      });
    return {
      state: { ...state, list, notice: null },
      effects: [
        {
          type: 'call',
          screen: 'domains',
          what: 'undo',
          call: { method: 'pending.cancel', params: { id: c.id } },
          address: selected.domain,
        },
      ],
    };
  }
  return still(state);
}

/** The question a removal or an apply waits on, as the screen asks it. */
export function confirmQuestion(confirm: NonNullable<DomainsState['confirm']>, row: DomainView | undefined): string {
  if (confirm.what === 'apply')
    return `Apply the ${row?.pending ?? 0} pending change(s) of ${confirm.domain} now? (y/N)`;
  if (!confirm.withAccounts) return `Remove ${confirm.domain}? Its mail is refused once that applies. (y/N)`;
  return `Remove ${confirm.domain} with its ${row?.accounts ?? 0} account(s), ${row?.forwards ?? 0} forward(s)? Mail is archived. (y/N)`;
}
