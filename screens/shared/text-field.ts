// Where a text field's cursor goes on a key, as ink-text-input moves it: the screens keep this
// mirror so that an arrow past either end never reaches the field (its cursor would leave the
// text, and the next character would land in the wrong place; the key gate drops those arrows).
import type { Key } from 'ink';

/** The cursor after `key` in a field whose text is `length` long; Ctrl-U (clear) is the caller's. */
export function cursorAfterKey(cursor: number, length: number, input: string, key: Key): number {
  if (key.leftArrow) return Math.max(0, cursor - 1);
  if (key.rightArrow) return Math.min(length, cursor + 1);
  if (key.backspace || key.delete) return Math.max(0, cursor - 1);
  if (key.ctrl || key.meta || input === '') return cursor;
  return cursor + input.length;
}

/** Whether the cursor is at the start or end of the text, for the key gate. */
export function edges(cursor: number, length: number): { atStart: boolean; atEnd: boolean } {
  return { atStart: cursor <= 0, atEnd: cursor >= length };
}

/** Ctrl-U: the field is cleared. */
export const isClear = (input: string, key: Key): boolean => key.ctrl && input === 'u';
