// A scrolling selection over a list of keys (addresses, ids): where the cursor is, what the
// window shows, and the keys that move it. Keeps the selection on the same key when the list
// changes underneath. Pure.
import type { Key } from 'ink';

export interface ListState {
  selected: string | null;
  top: number;
  /** Where the selection was when last moved or drawn: if its row goes, the selection stays here. */
  index?: number;
}

export const initialListState: ListState = { selected: null, top: 0 };

/** What a list moves over: its length, the key at a position, and the position of a key. */
export interface Keys {
  readonly length: number;
  at(index: number): string | undefined;
  indexOf(key: string): number;
}

/** The rows' addresses as the keys a list moves over, read from the rows (100,000 are not copied). */
export function keysOf(rows: readonly { address: string }[]): Keys {
  return {
    length: rows.length,
    at: (i) => rows[i]?.address,
    indexOf: (key) => rows.findIndex((r) => r.address === key),
  };
}

/** The selected index in `keys`, falling back to the nearest valid one. */
export function selectedIndex(state: ListState, keys: Keys): number {
  if (keys.length === 0) return -1;
  const i = state.selected === null ? -1 : keys.indexOf(state.selected);
  return i >= 0 ? i : Math.min(Math.max(0, state.index ?? state.top), keys.length - 1);
}

/** Moves the cursor by `delta` rows (or to an end with ±Infinity) and scrolls to keep it shown. */
export function moveSelection(state: ListState, keys: Keys, delta: number, height: number): ListState {
  if (keys.length === 0) return initialListState;
  const from = selectedIndex(state, keys);
  const to =
    delta === Infinity
      ? keys.length - 1
      : delta === -Infinity
        ? 0
        : Math.min(keys.length - 1, Math.max(0, from + delta));
  return { selected: keys.at(to) ?? null, top: scrollTo(state.top, to, height, keys.length), index: to };
}

/** Keeps the window on the selection after the list changed. */
export function settle(state: ListState, keys: Keys, height: number): ListState {
  if (keys.length === 0) return state.selected === null && state.top === 0 ? state : initialListState;
  const i = selectedIndex(state, keys);
  const top = scrollTo(state.top, i, height, keys.length);
  const selected = keys.at(i) ?? null;
  return selected === state.selected && top === state.top && i === state.index ? state : { selected, top, index: i };
}

function scrollTo(top: number, index: number, height: number, length: number): number {
  const h = Math.max(1, height);
  let t = top;
  if (index < t) t = index;
  if (index >= t + h) t = index - h + 1;
  return Math.max(0, Math.min(t, Math.max(0, length - h)));
}

/**
 * How far a key moves the selection in a table `height` rows tall: arrows and j/k by one,
 * PgUp/PgDn by a page, Home/End and g/G to an end. null: the key does not move it.
 */
export function listDelta(input: string, key: Key, height: number): number | null {
  if (key.upArrow || input === 'k') return -1;
  if (key.downArrow || input === 'j') return 1;
  if (key.pageUp) return -height;
  if (key.pageDown) return height;
  if (key.home || input === 'g') return -Infinity;
  if (key.end || input === 'G') return Infinity;
  return null;
}
