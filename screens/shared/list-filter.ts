// The on-screen filter of a list without a form of its own (Pending Changes, Domains), as the
// account lists have theirs: `/` or `f` opens it, the rows narrow as it is typed, Enter or an
// arrow keeps it and gives the keys back to the list, Esc drops it. Pure.
import type { Key } from 'ink';
import { edges, editKey } from './text-buffer.js';

export interface ListFilter {
  text: string;
  cursor: number;
  /** The filter has the keys (its field is focused). */
  typing: boolean;
}

export const noFilter: ListFilter = { text: '', cursor: 0, typing: false };

/** The filter opened for typing, with what it held. */
export function openFilter(f: ListFilter): ListFilter {
  return { ...f, typing: true, cursor: f.text.length };
}

/**
 * A key while the filter has the keys: Esc drops it, Enter and the arrows up and down keep it
 * and leave it, the rest edits it.
 */
export function filterKey(f: ListFilter, input: string, key: Key): ListFilter {
  if (key.escape) return noFilter;
  if (key.return || key.upArrow || key.downArrow || key.tab) return { ...f, typing: false };
  const next = editKey({ value: f.text, cursor: f.cursor }, input, key);
  return next ? { ...f, text: next.value, cursor: next.cursor } : f;
}

/** Where the cursor is in the filter's text, for the key gate. */
export function filterEdges(f: ListFilter): { atStart: boolean; atEnd: boolean } {
  return edges({ value: f.text, cursor: f.cursor });
}

/** The rows whose text (any of `fields`) holds the filter's, in either case. */
export function filtered<T>(rows: readonly T[], f: ListFilter, fields: (row: T) => readonly string[]): readonly T[] {
  const needle = f.text.trim().toLowerCase();
  if (!needle) return rows;
  return rows.filter((r) => fields(r).some((s) => s.toLowerCase().includes(needle)));
}
