// The Pending Changes screen's state: the selection, the on-screen filter, a question waiting for
// its yes (cancel one change, or apply this domain's changes now), and what the daemon said. Pure.
import type { Key } from 'ink';
import type { PendingView } from '../../src/control/protocol.js';
import { filterKey, type ListFilter, noFilter, openFilter } from '../shared/list-filter.js';
import { initialListState, type ListState, listDelta, moveSelection, settle } from '../shared/list-reducer.js';
import type { Notice, Step } from '../shared/step.js';

export interface PendingState {
  list: ListState;
  confirm: 'apply' | 'cancel' | null;
  notice: Notice | null;
  filter: ListFilter;
}

export const initialPendingState: PendingState = {
  list: initialListState,
  confirm: null,
  notice: null,
  filter: noFilter,
};

export interface PendingContext {
  domain: string;
  /** This domain's pending changes the filter lets through, oldest first. */
  rows: readonly PendingView[];
  tableHeight: number;
}

export function shownPendingList(state: PendingState, ctx: PendingContext): ListState {
  return settle(
    state.list,
    ctx.rows.map((p) => p.id),
    ctx.tableHeight,
  );
}

export function pendingKey(state: PendingState, input: string, key: Key, ctx: PendingContext): Step<PendingState> {
  const list = shownPendingList(state, ctx);
  const keys = ctx.rows.map((p) => p.id);
  const selected = ctx.rows.find((p) => p.id === list.selected);
  if (state.confirm) {
    const next = { ...state, list, confirm: null };
    if (input !== 'y' && input !== 'Y') return { state: next, effects: [] };
    if (state.confirm === 'apply') {
      return {
        state: { ...next, notice: null },
        effects: [
          {
            type: 'call',
            screen: 'pending',
            what: 'apply',
            call: { method: 'pending.apply', params: { domain: ctx.domain } },
            address: ctx.domain,
          },
        ],
      };
    }
    if (!selected) return { state: next, effects: [] };
    return {
      state: { ...next, notice: null },
      effects: [
        {
          type: 'call',
          screen: 'pending',
          what: 'cancel',
          call: { method: 'pending.cancel', params: { id: selected.id } },
          address: selected.address,
        },
      ],
    };
  }
  if (state.filter.typing)
    return { state: { ...state, list, filter: filterKey(state.filter, input, key) }, effects: [] };
  if (key.ctrl || (key.meta && !key.escape)) return { state, effects: [] };
  const delta = listDelta(input, key, ctx.tableHeight);
  if (delta !== null)
    return { state: { ...state, list: moveSelection(list, keys, delta, ctx.tableHeight) }, effects: [] };
  if ((input === 'c' || input === 'd' || input === 'u') && selected)
    return { state: { ...state, list, confirm: 'cancel' }, effects: [] };
  if (input === 'A' && ctx.rows.length) return { state: { ...state, list, confirm: 'apply' }, effects: [] };
  // Esc drops a filter before it leaves the screen.
  if (key.escape && state.filter.text) return { state: { ...state, filter: noFilter }, effects: [] };
  if (key.escape) return { state, effects: [{ type: 'nav', to: 'back' }] };
  if (input === 'q') return { state, effects: [{ type: 'nav', to: 'quit' }] };
  // / (or f) filters this list on screen; S searches every domain, starting from the filter.
  if (input === '/' || input === 'f') return { state: { ...state, filter: openFilter(state.filter) }, effects: [] };
  if (input === 'S') return { state, effects: [{ type: 'nav', to: 'search', query: state.filter.text }] };
  if (input === '?') return { state, effects: [{ type: 'nav', to: 'help' }] };
  return { state, effects: [] };
}
