// The Domains screen's state: which domain is selected, the on-screen filter, the field a new
// domain is typed into,
// a removal or an apply waiting for its yes, and what the daemon said; and what each answer does
// to it (keys: domains-keys.ts). Choosing a hosted domain makes it the one the other screens
// manage. Pure.
import type { DomainView } from '../../src/control/protocol.js';
import { filterEdges, type ListFilter, noFilter } from '../shared/list-filter.js';
import { initialListState, type ListState, settle } from '../shared/list-reducer.js';
import type { Notice } from '../shared/step.js';
import { edges } from '../shared/text-buffer.js';

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
  filter: ListFilter;
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
  filter: noFilter,
};

export interface DomainsContext {
  /** Hosted domains and those being added that the filter lets through, by name. */
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
  return state.focus === 'name' || state.filter.typing;
}

export function domainFieldEdges(state: DomainsState): { atStart: boolean; atEnd: boolean } {
  if (state.focus === 'name') return edges({ value: state.name, cursor: state.cursor });
  return state.filter.typing ? filterEdges(state.filter) : { atStart: false, atEnd: false };
}

export function domainsReducer(state: DomainsState, action: DomainsAction): DomainsState {
  switch (action.type) {
    case 'edit':
      // Domain names are lower case: shown so as they are typed (the cursor stays where it was).
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

/** The question a removal or an apply waits on, as the screen asks it. */
export function confirmQuestion(confirm: NonNullable<DomainsState['confirm']>, row: DomainView | undefined): string {
  if (confirm.what === 'apply')
    return `Apply the ${row?.pending ?? 0} pending change(s) of ${confirm.domain} now? (y/N)`;
  if (!confirm.withAccounts) return `Remove ${confirm.domain}? Its mail is refused once that applies. (y/N)`;
  return `Remove ${confirm.domain} with its ${row?.accounts ?? 0} account(s), ${row?.forwards ?? 0} forward(s)? Mail is archived. (y/N)`;
}
