// The one layout rule every screen follows at any width (80 columns first): a table's columns
// are sized by priority (the address whole first, then the status, then the rest), no wider
// than what they hold; text that does not fit wraps at word boundaries, and where it must be cut
// it is cut between words, never inside one. Pure.

/** A table column: what it holds, and how much it matters when the width runs short. */
export interface Column {
  title: string;
  /** The widest cell it holds now (its title included). */
  want: number;
  /** Never narrower than this (a number column: its widest value). */
  min?: number;
  /** Lower is served first: 0 the address, 1 the status, 2 the rest. */
  priority: number;
  /** Takes what is left over once every column has what it wants (a DETAIL column). */
  rest?: boolean;
}

/** Columns of a row start with the selection mark (2) and are one space apart. */
export const ROW_MARK = 2;

/**
 * The width of each column in `width` terminal columns: every column first gets its minimum
 * (at most its title), then, by priority, what it wants; a `rest` column takes what is left.
 * A column never gets more than it wants unless it is the rest column.
 */
export function fitColumns(columns: readonly Column[], width: number): number[] {
  let room = width - ROW_MARK - Math.max(0, columns.length - 1);
  const out = columns.map((c) => Math.min(c.want, Math.max(c.min ?? 0, Math.min(c.title.length, c.want))));
  room -= out.reduce((a, b) => a + b, 0);
  const order = columns.map((c, i) => ({ c, i })).sort((a, b) => a.c.priority - b.c.priority || a.i - b.i);
  for (const { c, i } of order) {
    if (room <= 0) break;
    const more = Math.min(room, c.want - out[i]);
    if (more > 0) {
      out[i] += more;
      room -= more;
    }
  }
  const rest = columns.findIndex((c) => c.rest);
  if (rest >= 0 && room > 0) out[rest] += room;
  return out;
}

/** The widest of `texts` and `title`: what a column wants. */
export function widest(title: string, texts: Iterable<string>): number {
  let w = title.length;
  for (const t of texts) if (t.length > w) w = t.length;
  return w;
}

/**
 * `text` in lines of at most `width` columns, broken between words; a word longer than a line
 * (a long address) is broken where it must. Lines after the first start with `indent` spaces.
 */
export function wrapWords(text: string, width: number, indent = 0): string[] {
  const w = Math.max(1, width);
  const lines: string[] = [];
  let line = '';
  const pad = ' '.repeat(Math.min(indent, Math.max(0, w - 10)));
  for (const word of text.split(/(?<=\S)(?= )|(?<= )(?=\S)/)) {
    // `word` alternates between runs of spaces and runs of non-spaces.
    if (line.length + word.length <= w) {
      line += word;
      continue;
    }
    if (/^ +$/.test(word)) {
      lines.push(line);
      line = pad;
      continue;
    }
    if (line.trim()) lines.push(line.trimEnd());
    line = lines.length ? pad : '';
    let rest = word;
    while (line.length + rest.length > w) {
      const take = w - line.length;
      lines.push(line + rest.slice(0, take));
      rest = rest.slice(take);
      line = pad;
    }
    line += rest;
  }
  if (line.trim() || lines.length === 0) lines.push(line.trimEnd());
  return lines;
}

/**
 * `text` in at most `width` columns: whole if it fits, else cut between words and ended with
 * ` …` (a space before it: the last word shown is whole); a text with no space to cut at (a
 * long address) is cut where it must be, with `…` right after.
 */
export function cutWords(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 2) return '…'.slice(0, Math.max(0, width));
  const head = text.slice(0, width - 1);
  const space = head.lastIndexOf(' ');
  if (space <= 0) return `${text.slice(0, width - 1)}…`;
  return `${head.slice(0, space).replace(/[\s,;:]+$/, '')} …`;
}

/** A question: cut between words so that its `[y/N]` always shows. */
export function question(text: string, width: number): string {
  return `${cutWords(text, width - 6)} [y/N]`;
}

/** How many lines a notice takes: wrapped at words, at most `max`. */
export function noticeRows(text: string | undefined, width: number, max = 3): number {
  if (!text) return 1;
  return Math.min(max, wrapWords(`✓ ${text}`, width, 2).length);
}

/** The widest value of a list of rows, remembered per list (100,000 rows are measured once). */
const measured = new WeakMap<object, Map<string, number>>();

/** What a column of `rows` wants: the widest of `title` and each row's `text`; kept per rows list. */
export function widestOf<R>(rows: readonly R[], what: string, title: string, text: (row: R) => string): number {
  let known = measured.get(rows);
  if (!known) {
    known = new Map();
    measured.set(rows, known);
  }
  const had = known.get(what);
  if (had !== undefined) return had;
  let w = title.length;
  for (const r of rows) {
    const t = text(r);
    if (t.length > w) w = t.length;
  }
  known.set(what, w);
  return w;
}

/** Rows a table gives up to a notice wrapped over more than one line. */
export function noticeExtra(notice: { text: string } | null, width: number): number {
  return notice ? noticeRows(notice.text, width) - 1 : 0;
}
