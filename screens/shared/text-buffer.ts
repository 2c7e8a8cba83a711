// The text of a field and its cursor, owned by the screen's state as gemini-cli's text buffer
// owns them: every field (names, passwords, destinations, filters, the domain and quota fields,
// the import path, search) edits through `editKey`, and the field is drawn from it (Field in
// frame.tsx). The cursor is a UTF-16 offset that always sits between two graphemes, so Left,
// Right, Backspace and Delete move over and remove what a reader sees as one character (an
// emoji, a letter with its accent), never half of one. Pure.
import type { Key } from 'ink';

export interface TextBuffer {
  value: string;
  /** UTF-16 offset into `value`, on a grapheme boundary. */
  cursor: number;
}

/** Longer than any name, password, address list or path the console sends; a paste beyond is cut here. */
export const MAX_FIELD = 4096;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The graphemes of `text`, in order. */
export function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/** The offset of the grapheme boundary before `cursor` (0 at the start). */
function previousBoundary(value: string, cursor: number): number {
  let last = 0;
  for (const s of segmenter.segment(value.slice(0, cursor))) last = s.index;
  return cursor === 0 ? 0 : last;
}

/** The offset of the grapheme boundary after `cursor` (the length at the end). */
function nextBoundary(value: string, cursor: number): number {
  if (cursor >= value.length) return value.length;
  const first = segmenter.segment(value.slice(cursor))[Symbol.iterator]().next();
  return first.done ? value.length : cursor + first.value.segment.length;
}

/** Text as a field takes it: no control characters, no escape sequences, no line breaks. */
export function cleanText(text: string): string {
  return text
    .replace(/\u001b(\[[0-9;?]*[ -/]*[@-~]|\][^\u0007\u001b]*(\u0007|\u001b\\)?|O.|.)?/gsu, '')
    .replace(/[\p{Cc}\u2028\u2029]/gu, '');
}

/** Whether the cursor is at the start or end of the text, for the key gate. */
export function edges(buf: TextBuffer): { atStart: boolean; atEnd: boolean } {
  return { atStart: buf.cursor <= 0, atEnd: buf.cursor >= buf.value.length };
}

/** Inserts `text` at the cursor (cleaned; what would pass MAX_FIELD is left out). */
export function insert(buf: TextBuffer, text: string): TextBuffer {
  const room = MAX_FIELD - buf.value.length;
  let clean = cleanText(text);
  if (clean.length > room) {
    // Cut on a grapheme boundary: no half emoji at the end of a cut paste.
    let kept = '';
    for (const g of graphemes(clean)) {
      if (kept.length + g.length > room) break;
      kept += g;
    }
    clean = kept;
  }
  if (!clean) return buf;
  const { value, cursor } = buf;
  return { value: value.slice(0, cursor) + clean + value.slice(cursor), cursor: cursor + clean.length };
}

/** Removes the text between `from` and `to`; the cursor goes to `from`. */
function cut(buf: TextBuffer, from: number, to: number): TextBuffer {
  if (from === to) return buf;
  return { value: buf.value.slice(0, from) + buf.value.slice(to), cursor: from };
}

/** Where Ctrl-W cuts from: the start of the word before the cursor, and the spaces after it. */
function wordStart(value: string, cursor: number): number {
  let i = cursor;
  while (i > 0 && /\s/.test(value[i - 1])) i--;
  while (i > 0 && !/\s/.test(value[i - 1])) i--;
  return i;
}

/**
 * What a key does to the buffer: Left/Right by grapheme; Home/Ctrl-A, End/Ctrl-E; Backspace
 * (the grapheme before), Delete (the grapheme after); Ctrl-U (to the start), Ctrl-K (to the
 * end), Ctrl-W (the word before); text is inserted. null: the key is not an edit (Tab, Enter,
 * Esc, arrows up and down are the screen's).
 */
export function editKey(buf: TextBuffer, input: string, key: Key): TextBuffer | null {
  const { value, cursor } = buf;
  if (key.leftArrow) return { value, cursor: previousBoundary(value, cursor) };
  if (key.rightArrow) return { value, cursor: nextBoundary(value, cursor) };
  if (key.home || (key.ctrl && input === 'a')) return { value, cursor: 0 };
  if (key.end || (key.ctrl && input === 'e')) return { value, cursor: value.length };
  if (key.backspace) return cut(buf, previousBoundary(value, cursor), cursor);
  if (key.delete) return cut(buf, cursor, nextBoundary(value, cursor));
  if (key.ctrl && input === 'u') return cut(buf, 0, cursor);
  if (key.ctrl && input === 'k') return cut(buf, cursor, value.length);
  if (key.ctrl && input === 'w') return cut(buf, wordStart(value, cursor), cursor);
  if (key.ctrl || key.meta || key.tab || key.return || key.escape || key.upArrow || key.downArrow) return null;
  if (key.pageUp || key.pageDown) return null;
  return input ? insert(buf, input) : null;
}

/** How many terminal columns a grapheme takes: two for wide (CJK, emoji), one otherwise. */
function columns(g: string): number {
  return /\p{Extended_Pictographic}|[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{20000}-\u{3fffd}]/u.test(
    g,
  )
    ? 2
    : 1;
}

/** What a field shows of its buffer in `width` columns: the text around the cursor. */
export interface FieldView {
  /** Before the cursor, the cursor's grapheme (' ' at the end), after it. */
  before: string;
  at: string;
  after: string;
  /** Text is cut off on that side. */
  cutStart: boolean;
  cutEnd: boolean;
}

/**
 * The window of the text that keeps the cursor in view in `width` columns (the cursor's cell
 * included; a cut side shows `…` in its first or last column). `mask` draws one `*` per grapheme.
 */
export function fieldView(buf: TextBuffer, width: number, mask = false): FieldView {
  const gs = graphemes(buf.value);
  const shown = mask ? gs.map(() => '*') : gs;
  let at = 0;
  for (let i = 0, off = 0; i < gs.length && off < buf.cursor; i++) {
    off += gs[i].length;
    at = i + 1;
  }
  const cells = shown.map(columns);
  const total = cells.reduce((a, b) => a + b, 0) + (at === gs.length ? 1 : 0);
  const room = Math.max(3, width);
  if (total <= room)
    return {
      before: shown.slice(0, at).join(''),
      at: shown[at] ?? ' ',
      after: shown.slice(at + 1).join(''),
      cutStart: false,
      cutEnd: false,
    };
  // Grow a window from the cursor: leftwards first (what was just typed), then rightwards.
  let from = at;
  let to = at + 1;
  let used = cells[at] ?? 1;
  const fits = (extra: number) => used + extra + (from > 0 ? 1 : 0) + (to < shown.length ? 1 : 0) <= room;
  while (from > 0 && used + cells[from - 1] + (from - 1 > 0 ? 1 : 0) + (to < shown.length ? 1 : 0) <= room)
    used += cells[--from];
  while (to < shown.length && fits(cells[to])) used += cells[to++];
  return {
    before: shown.slice(from, at).join(''),
    at: shown[at] ?? ' ',
    after: shown.slice(at + 1, to).join(''),
    cutStart: from > 0,
    cutEnd: to < shown.length,
  };
}
