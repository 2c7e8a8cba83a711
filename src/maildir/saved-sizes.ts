// The mailbox sizes the last run saved (DATA_DIR/mailbox-index), as a start reads them: one
// line per mailbox, `address messages bytes oldest|- stamp|- listed|counted`, read by hand
// into columns (no array or object per line, no number strings), and handed to the index in
// the file's order. The file was written in the store's order, so the next account is almost
// always the next row: a start of 100,000 makes no map of them unless the order moved.

const HEADER = 'vmail-mailbox-index 1';
/** Digits a count may have (as the earlier reader: past this it is no count). */
const MAX_DIGITS = 15;
const SPACE = 32;

/** What a saved row fills in of a mailbox's entry in the index. */
export interface SavedRow {
  messages: number;
  bytes: number;
  /** ms, or null when it had no message with a delivery time. */
  oldest: number | null;
  /** Folder times when listed ('' for none). */
  stamp: string;
  /** Whether that listing could be trusted ('listed'), or it was counted on since ('counted'). */
  settled: boolean;
}

/** The digits of text[from, to) as a number; -1 when it is not 1 to 15 digits and nothing else. */
function digits(text: string, from: number, to: number): number {
  if (to <= from || to - from > MAX_DIGITS) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

export class SavedSizes {
  /** Each row's address; null once taken. */
  private readonly addresses: (string | null)[] = [];
  private readonly messages: number[] = [];
  private readonly bytes: number[] = [];
  /** -1 for none. */
  private readonly oldest: number[] = [];
  private readonly stamps: string[] = [];
  private readonly listed: boolean[] = [];
  /** The row the next account most likely is. */
  private next = 0;
  /** Rows by address from `next` on: made only when an account is not at `next`. */
  private byAddress: Map<string, number> | null = null;

  /**
   * Reads a saved index's text. A line that is torn (a kill -9 mid-save), hand-edited or not a
   * count is left out: that mailbox is listed. Any other text (no header) holds no row.
   */
  static parse(text: string): SavedSizes {
    const rows = new SavedSizes();
    if (!text.startsWith(`${HEADER}\n`)) return rows;
    const end = text.length;
    let at = HEADER.length + 1;
    const fields = [0, 0, 0, 0, 0, 0];
    while (at < end) {
      let eol = text.indexOf('\n', at);
      if (eol < 0) eol = end;
      // The five spaces between the six fields, all within this line.
      let n = 0;
      for (let i = at; i < eol && n < 5; i++) if (text.charCodeAt(i) === SPACE) fields[n++] = i;
      if (n === 5) rows.add(text, at, fields, eol);
      at = eol + 1;
    }
    return rows;
  }

  /** Adds the row text[at, eol) whose spaces are at `sp`, if every field is what it must be. */
  private add(text: string, at: number, sp: number[], eol: number): void {
    let trustEnd = text.indexOf(' ', sp[4] + 1);
    if (trustEnd < 0 || trustEnd > eol) trustEnd = eol;
    const trust = text.slice(sp[4] + 1, trustEnd);
    if (trust !== 'listed' && trust !== 'counted') return;
    const messages = digits(text, sp[0] + 1, sp[1]);
    const bytes = digits(text, sp[1] + 1, sp[2]);
    const dash = sp[3] - sp[2] === 2 && text.charCodeAt(sp[2] + 1) === 45;
    const oldest = dash ? -1 : digits(text, sp[2] + 1, sp[3]);
    if (messages < 0 || bytes < 0 || (oldest < 0 && !dash)) return;
    if (sp[0] === at || sp[4] === sp[3] + 1) return;
    const stamp = text.slice(sp[3] + 1, sp[4]);
    this.addresses.push(text.slice(at, sp[0]));
    this.messages.push(messages);
    this.bytes.push(bytes);
    this.oldest.push(oldest);
    this.stamps.push(stamp === '-' ? '' : stamp);
    this.listed.push(trust === 'listed');
  }

  get size(): number {
    return this.addresses.length;
  }

  /** Fills `into` with the row saved for `address` (taken: a second call finds none); false when none. */
  take(address: string, into: SavedRow): boolean {
    // Rows taken through the map are stepped over.
    while (this.next < this.addresses.length && this.addresses[this.next] === null) this.next++;
    let row = this.next;
    if (this.addresses[row] === address) this.next++;
    else {
      if (!this.byAddress) {
        // The order moved (accounts added or removed by another daemon, a hand-edit): a map of
        // the rows still ahead (those behind are all taken), made once.
        this.byAddress = new Map();
        for (let i = this.next; i < this.addresses.length; i++) {
          const a = this.addresses[i];
          if (a !== null) this.byAddress.set(a, i);
        }
      }
      const found = this.byAddress.get(address);
      if (found === undefined || this.addresses[found] !== address) return false;
      row = found;
    }
    this.addresses[row] = null;
    into.messages = this.messages[row];
    into.bytes = this.bytes[row];
    const oldest = this.oldest[row];
    into.oldest = oldest < 0 ? null : oldest;
    into.stamp = this.stamps[row];
    into.settled = this.listed[row];
    return true;
  }
}
