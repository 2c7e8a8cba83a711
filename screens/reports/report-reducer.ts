// The console's three looking-glass screens, which read and do not change: Needs attention
// (mailboxes whose mail is not being collected, on every domain), Search (names and
// destinations on every domain) and History (the audit log, for one address or all). Each is
// a list to move through; Enter jumps to the row's account or forward on its own domain.
// Pure: the app shell gives each its rows.
import type { Key } from 'ink';
import type { LogEntryView } from '../../src/control/protocol.js';
import { initialListState, type ListState, listDelta, moveSelection, selectedIndex } from '../shared/list-reducer.js';
import type { ReportScreen } from '../shared/screen-names.js';

export interface ReportsState {
  attention: ListState;
  search: ListState & { query: string };
  history: ListState & {
    /** Whose history: an address, or null for everything. */
    address: string | null;
    /** null while it loads. */
    entries: LogEntryView[] | null;
    error: string | null;
  };
}

export const initialReportsState: ReportsState = {
  attention: initialListState,
  search: { ...initialListState, query: '' },
  history: { ...initialListState, address: null, entries: null, error: null },
};

/** Where Enter takes the admin: a name on its own domain's screen. */
export interface Jump {
  domain: string;
  screen: 'accounts' | 'forwards';
  name: string;
}

export interface ReportContext {
  /** Each row's key, in order, and where Enter on it goes (null: nowhere). */
  keys: readonly string[];
  jumps: readonly (Jump | null)[];
  height: number;
}

export type ReportOutcome = { state: ReportsState; jump?: Jump; back?: true; reload?: true };

/** What one key does on a report screen. */
export function reportKey(
  state: ReportsState,
  screen: ReportScreen,
  input: string,
  key: Key,
  ctx: ReportContext,
): ReportOutcome {
  const list = state[screen];
  const set = (patch: Partial<ReportsState[ReportScreen]>): ReportsState => ({
    ...state,
    [screen]: { ...list, ...patch },
  });
  if (key.escape) return { state, back: true };
  if (key.return) {
    const jump = ctx.jumps[selectedIndex(list, ctx.keys)] ?? null;
    return jump ? { state, jump } : { state };
  }
  if (screen === 'search') {
    const q = state.search.query;
    if (key.backspace || key.delete) return { state: set({ query: q.slice(0, -1), selected: null, top: 0 }) };
    if (key.upArrow || key.downArrow || key.pageUp || key.pageDown || key.home || key.end) {
      const delta = listDelta('', key, ctx.height) ?? 0;
      return { state: set(moveSelection(list, ctx.keys, delta, ctx.height)) };
    }
    // Everything typed goes into the search (letters such as j and k too).
    if (input && !key.ctrl && !key.meta && !/[\p{Cc}]/u.test(input))
      return { state: set({ query: (q + input).slice(0, 100), selected: null, top: 0 }) };
    return { state };
  }
  const delta = listDelta(input, key, ctx.height);
  if (delta !== null) return { state: set(moveSelection(list, ctx.keys, delta, ctx.height)) };
  if (screen === 'history' && input === 'a' && state.history.address !== null)
    return {
      state: { ...state, history: { ...initialReportsState.history, address: null } },
      reload: true,
    };
  return { state };
}

/** The history of `address` (or all of it), to be loaded. */
export function openHistory(state: ReportsState, address: string | null): ReportsState {
  return { ...state, history: { ...initialReportsState.history, address } };
}
