// The trail: what happened to each hosted address's mail and logins, event by event, in the
// store (so every daemon of a PostgreSQL service records into and reads the same one).
//
// Events come in through support/trail.ts's noteTrail and wait (as their stored text, off the
// JavaScript heap: see Waiting) to be written together in one transaction every FLUSH_MS or
// FLUSH_AT events, and on stop: SMTP and POP3 never wait for the store. Two tables keep it bounded:
// - `trail`: an address that is an account or a forward. One row per address per write holds
//   that address's events of the batch as an array (at most PACK), keyed `ADDRESS TIME.N.NODE`
//   of its first event, so one address's events are one key range, newest last, and a POP3
//   session that fetches and deletes 300 messages writes a few rows, not 600. Rows written
//   before packing (schema 3) hold one event, not an array: both are read. At most `cap` events
//   per address, counted in the rows (trimmed as it writes, and by the hourly prune with the
//   days kept): whole oldest rows go while the newer ones hold at least `cap`, so the oldest
//   row kept may straddle the cap and hold a few events more.
// - `trail_unknown`: a refused message meant for an address that does not exist (a typo, or a
//   dictionary attack), keyed by time alone and capped as a whole (UNKNOWN_CAP), so 20,000
//   random RCPTs cannot grow the store past it.

import { visible } from '../model/trail-format.js';
import type { TrailNote } from '../support/trail.js';
import type { Database, Table } from './database.js';

/** One event as stored; `at` in milliseconds. */
export interface TrailRecord {
  at: number;
  node: string;
  event: TrailNote['event'];
  address: string;
  messageId: string | null;
  queueId: string | null;
  client: string | null;
  detail: Record<string, string | number | boolean>;
}

export interface TrailQuery {
  since?: number;
  /** Only messages from this envelope sender. */
  from?: string;
  messageId?: string;
}

export const FLUSH_MS = 200;
const FLUSH_AT = 500;
/** Events kept for all unknown addresses together. */
export const UNKNOWN_CAP = 10_000;
/** Longest address part of a key (the row keeps the whole address). */
const KEY_ADDRESS = 200;
/** The most events buffered: past it (the store is failing) new ones are dropped, and counted. */
const MAX_BUFFER = 50_000;
/**
 * The most events one row holds: an address with 20,000 events in one batch gets 200 rows of
 * 100. Rows of 500 (about 150 KB of text) went into V8's large-object space, which is the old
 * generation, as they were made and read back by a trim: under one busy address the old
 * generation was collected half as often again (28 against 19 full collections in 12,000
 * messages of one sender, 8 with no trail).
 */
export const PACK = 100;
/** Rows read per query when walking an address's rows newest first. */
const PAGE = 64;
/**
 * How much older than `--since` a row's key may be and still hold an event after it: a row is
 * keyed by its first event, and a batch gathers events for FLUSH_MS plus however long the write
 * before it took.
 */
const ROW_SPAN_MS = 10 * 60_000;

/** A row's value: a packed row's events (oldest first), or one event (a row written before packing). */
export type TrailRow = TrailRecord | TrailRecord[];

function timeKey(at: number, n: number): string {
  return `${String(at).padStart(15, '0')}.${String(n).padStart(6, '0')}`;
}

function addressKey(address: string): string {
  return address.slice(0, KEY_ADDRESS);
}

/**
 * A string as keyv stores it: one that starts with ':' is given one more, as @keyv/serialize
 * does, so "::1" reads back as "::1".
 */
function keyvString<T>(v: T): T {
  return (typeof v === 'string' && v.startsWith(':') ? `:${v}` : v) as T;
}

/**
 * Rows as keyv stores a value (`{"value":...}`), made of the events' texts: a packed row's
 * events in an array, or an unknown address's one event. The trail writes two to four events
 * per message: keyv's own setMany serialises each one through its hand-written recursive writer
 * and a promise per row, which a CPU profile of a POP3 fetch showed as most of the trail's cost
 * on the event loop. The trail's tables are not mirrored in memory, so writing the text
 * directly (Table.putText) tells no mirror less.
 */
const rowText = (events: string[]) => `{"value":[${events.join(',')}]}`;
const oneText = (event: string) => `{"value":${event}}`;

/**
 * The events noted since the last write: each one's stored text (JSON, its strings as keyv
 * keeps them) in one Buffer, which is memory outside the JavaScript heap, with its time and
 * address beside it. An event waits up to FLUSH_MS, long enough to outlive two young-generation
 * collections: kept as objects, every event was copied into the old generation, whose
 * collections then came several times as often. A CPU profile of one SMTP sender (two events a
 * message) showed 246 ms of collection for 8,000 messages against 71 ms with no events kept,
 * the trail's largest cost, and the one sender's rate 16% lower.
 */
class Waiting {
  private bytes = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private readonly ends: number[] = [];
  readonly ats: number[] = [];
  readonly addresses: string[] = [];

  get length(): number {
    return this.ends.length;
  }

  add(at: number, address: string, text: string): void {
    const need = this.used + Buffer.byteLength(text);
    if (need > this.bytes.length) {
      const more = Buffer.allocUnsafe(Math.max(need, 2 * this.bytes.length));
      this.bytes.copy(more, 0, 0, this.used);
      this.bytes = more;
    }
    this.used += this.bytes.write(text, this.used);
    this.ends.push(this.used);
    this.ats.push(at);
    this.addresses.push(address);
  }

  text(i: number): string {
    return this.bytes.toString('utf8', i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }
}

/** A packed row as it is written: its key, its address, its events' texts (oldest first). */
type PackedRow = { key: string; address: string; events: string[] };

/**
 * How many events a row's stored text holds, without parsing it: the count the trim has the
 * store make (EVENT_MARKS, below), here in JavaScript, for a row already read. Every event
 * is an object whose first key is "at" (note() makes it so, and JSON keeps that order). In JSON
 * text `{"at":` cannot occur inside a string (a quote there is always `\"`), so each one starts
 * an object: an event in a packed row's array comes after `[` or `,`; a row of one event
 * (schema 3) has it after `"value":`, and a detail object (flat, never in an array) after
 * `"detail":`, both after `:`. So: the events after `[` or `,`, or one if there are none.
 */
export function eventsIn(text: string): number {
  let n = 0;
  for (let i = text.indexOf('{"at":'); i > 0; i = text.indexOf('{"at":', i + 6)) if (text[i - 1] !== ':') n++;
  return Math.max(1, n);
}

/** What eventsIn counts, as the store counts it (Table.rangeCounts, for the trim): an event after `[` or `,`. */
export const EVENT_MARKS = ['[{"at":', ',{"at":'];

export class Trail {
  private waiting = new Waiting();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastAt = 0;
  private sameMs = 0;
  /** Events written per address since its last trim. */
  private sinceTrim = new Map<string, number>();
  private unknownSinceTrim = 0;
  /** Events dropped because the buffer was full (in all); onDropped tells each new count. */
  dropped = 0;
  private droppedTold = 0;
  /** Days kept (0: nothing is recorded) and events per address. */
  days = 30;
  cap = 1000;
  onError: (err: Error) => void = () => {};
  /** Told, after each write, of the events dropped since it last told (the store was too slow). */
  onDropped: (events: number) => void = () => {};

  constructor(
    private readonly db: Database,
    private readonly known: Table<TrailRow>,
    private readonly unknown: Table<TrailRecord>,
    private readonly node: string,
    /** Whether an address is an account or a forward (its events go to the trail proper). */
    private readonly hosted: (address: string) => boolean,
  ) {}

  /** Takes one event, as the text it is stored as (a TrailRecord, "at" first: see eventsIn). */
  note(n: TrailNote): void {
    if (this.days <= 0) return;
    if (this.waiting.length >= MAX_BUFFER) {
      this.dropped++;
      return;
    }
    const detail: Record<string, string | number | boolean> = {};
    if (n.detail)
      for (const k of Object.keys(n.detail)) {
        const v = n.detail[k];
        if (v !== undefined) detail[k] = keyvString(v);
      }
    const at = n.at ?? Date.now();
    const address = n.address.toLowerCase().slice(0, 320);
    const event: TrailRecord = {
      at,
      node: keyvString(this.node),
      event: n.event,
      address: keyvString(address),
      messageId: keyvString(n.messageId ?? null),
      queueId: keyvString(n.queueId ?? null),
      client: keyvString(n.client ?? null),
      detail,
    };
    this.waiting.add(at, address, JSON.stringify(event));
    this.arm();
  }

  /**
   * Schedules the next write: at once past FLUSH_AT events, else FLUSH_MS after the first event
   * that waits. Never straight behind the write before (it arms again when it ends): under
   * steady mail that loop committed the one or two events each commit's fsync let in, dozens
   * of commits (and WAL fsyncs) a second against the Maildirs' own fsyncs.
   */
  private arm(): void {
    if (!this.waiting.length || this.flushing) return;
    if (this.waiting.length >= FLUSH_AT) void this.startWrite();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.startWrite(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /**
   * The next key, after every key before it: an event's time, or the newest time taken so far
   * with a count (a clock set back keeps counting). The count has six digits: at the millionth
   * key of one millisecond the next millisecond is taken, which still sorts after it.
   */
  private key(at: number): string {
    if (at > this.lastAt) [this.lastAt, this.sameMs] = [at, 0];
    else if (this.sameMs < 999_999) this.sameMs++;
    else [this.lastAt, this.sameMs] = [this.lastAt + 1, 0];
    return `${timeKey(this.lastAt, this.sameMs)}.${this.node}`;
  }

  /** Writes what is buffered (and what comes while it writes); resolves when it is written or failed. */
  async flush(): Promise<void> {
    while (this.flushing || this.waiting.length) await (this.flushing ?? this.startWrite());
  }

  /**
   * Resolves when the events noted before the call are written (or failed): the write under way,
   * then one of what was buffered when it ended. What comes after the call does not hold it up,
   * as it does flush() (a `vmail trace` under mail that never pauses would wait for ever).
   */
  private async written(): Promise<void> {
    if (this.flushing) await this.flushing;
    // Its end may have started the next write (FLUSH_AT buffered): it holds what was buffered.
    if (this.flushing || this.waiting.length) await (this.flushing ?? this.startWrite());
  }

  /** Writes the buffered events as one batch (the write in progress, if one is). */
  private startWrite(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
      this.arm();
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const batch = this.waiting;
    this.waiting = new Waiting();
    const { mine, stray } = this.pack(batch);
    try {
      await this.db.write(async () => {
        await this.known.putText(mine.map((row) => [row.key, rowText(row.events)]));
        await this.unknown.putText(stray);
        await this.trimBusy(mine, stray.length);
      });
    } catch (err) {
      // The events are lost (the store refuses writes): said through onError, never thrown at mail.
      this.onError(err as Error);
    }
    if (this.dropped > this.droppedTold) {
      this.onDropped(this.dropped - this.droppedTold);
      this.droppedTold = this.dropped;
    }
  }

  /**
   * The batch as rows: a hosted address's events in one row (a new one every PACK events),
   * keyed by its first event, oldest first in it; an unknown address's event in a row of its
   * own, as keyv's text. Every event takes a key in turn, so keys stay distinct.
   */
  private pack(batch: Waiting): { mine: PackedRow[]; stray: [string, string][] } {
    const mine: PackedRow[] = [];
    const stray: [string, string][] = [];
    const open = new Map<string, PackedRow>();
    for (let i = 0; i < batch.length; i++) {
      const k = this.key(batch.ats[i]);
      const address = batch.addresses[i];
      if (!this.hosted(address)) {
        stray.push([k, oneText(batch.text(i))]);
        continue;
      }
      let row = open.get(address);
      if (!row || row.events.length >= PACK) {
        row = { key: `${addressKey(address)} ${k}`, address, events: [] };
        open.set(address, row);
        mine.push(row);
      }
      row.events.push(batch.text(i));
    }
    return { mine, stray };
  }

  /** Trims the addresses that wrote a tenth of their cap since their last trim, and the unknown table likewise. */
  private async trimBusy(mine: PackedRow[], stray: number): Promise<void> {
    const before = Date.now() - this.days * 86_400_000;
    const every = Math.max(10, this.cap / 10);
    const due = new Set<string>();
    for (const row of mine) {
      const a = addressKey(row.address);
      const n = (this.sinceTrim.get(a) ?? 0) + row.events.length;
      this.sinceTrim.set(a, n);
      if (n >= every) due.add(a);
    }
    for (const a of due) {
      this.sinceTrim.delete(a);
      await this.trimAddress(a, before);
    }
    this.unknownSinceTrim += stray;
    if (this.unknownSinceTrim >= UNKNOWN_CAP / 20) {
      this.unknownSinceTrim = 0;
      await this.unknown.trim('', '~', UNKNOWN_CAP, timeKey(before, 0));
    }
  }

  /**
   * Deletes an address's rows older than `before`, and its oldest whole rows while the newer
   * ones hold at least the cap of events. Only inside `Database.write`. Returns how many rows went.
   */
  private async trimAddress(a: string, before: number): Promise<number> {
    let rows = 0;
    let held = 0;
    for (let to = `${a}!`; held < this.cap; ) {
      const page = await this.known.rangeCounts(`${a} `, to, PAGE, EVENT_MARKS);
      for (const [, events] of page) {
        rows++;
        held += Math.max(1, events);
        if (held >= this.cap) break;
      }
      if (page.length < PAGE) break;
      to = page[page.length - 1][0];
    }
    return this.known.trim(`${a} `, `${a}!`, rows, `${a} ${timeKey(before, 0)}`);
  }

  /**
   * The newest events of the address key `a` (newest first) in rows whose key is at or after
   * `since`, read PAGE rows at a time until `cap` events (the last row read may add more).
   */
  private async newest(a: string, since: number, cap: number): Promise<TrailRecord[]> {
    const events: TrailRecord[] = [];
    const from = `${a} ${timeKey(since, 0)}`;
    for (let to = `${a}!`; events.length < cap; ) {
      const page = await this.known.range(from, to, PAGE);
      for (const [, v] of page) {
        if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) events.push(v[i]);
        else events.push(v);
        if (events.length >= cap) break;
      }
      if (page.length < PAGE) break;
      to = page[page.length - 1][0];
    }
    return events;
  }

  /** Deletes what is older than the days kept and over the caps; returns how many rows went (a packed row holds many events). */
  async prune(): Promise<number> {
    const before = Date.now() - this.days * 86_400_000;
    let gone = await this.db.write(() => this.unknown.trim('', '~', UNKNOWN_CAP, timeKey(before, 0)));
    // Each address in turn, found by skipping from one key range to the next.
    for (let k = await this.known.keyAfter(''); k !== null; ) {
      const a = k.slice(0, k.indexOf(' ') < 0 ? k.length : k.indexOf(' '));
      gone += await this.db.write(() => this.trimAddress(a, before));
      k = await this.known.keyAfter(`${a}!`);
    }
    return gone;
  }

  /** One address's events, newest first, at most the cap (and those of it as an unknown address). */
  async query(address: string, q: TrailQuery = {}): Promise<TrailRecord[]> {
    await this.written();
    const a = address.toLowerCase();
    const since = q.since ?? 0;
    const events = await this.newest(addressKey(a), Math.max(0, since - ROW_SPAN_MS), this.cap);
    const own = events.filter((r) => r.at >= since && r.address === a).slice(0, this.cap);
    const stray = (await this.unknown.range(timeKey(since, 0), '~', UNKNOWN_CAP * 2)).map(([, r]) => r);
    const all = [...own, ...stray.filter((r) => r.address === a)].sort((x, y) => y.at - x.at);
    return filterTrail(joinUidls(all), q);
  }

  async stop(): Promise<void> {
    await this.flush();
  }
}

/**
 * Gives each event the Message-ID it is about where it did not know it: a retrieved or deleted
 * one from the delivery of its UIDL, a forward queue's outcome from the forward or submission
 * that queued its entry.
 */
function joinUidls(events: TrailRecord[]): TrailRecord[] {
  const byUidl = new Map<string, TrailRecord>();
  const byEntry = new Map<string, TrailRecord>();
  for (const r of events) {
    if (r.event === 'delivered' && r.detail.uidl) byUidl.set(String(r.detail.uidl), r);
    if (r.event === 'forwarded' && r.detail.entry) byEntry.set(String(r.detail.entry), r);
    if (r.event === 'submitted' && r.detail.entries)
      for (const e of String(r.detail.entries).split(',')) byEntry.set(e, r);
  }
  return events.map((r) => {
    if (r.messageId) return r;
    const d =
      r.event === 'retrieved' || r.event === 'deleted'
        ? byUidl.get(String(r.detail.uidl))
        : r.queueId
          ? byEntry.get(r.queueId)
          : undefined;
    return d ? { ...r, messageId: d.messageId, queueId: d.queueId ?? r.queueId } : r;
  });
}

/**
 * Whether the stored Message-ID is the one asked for: as stored or as `vmail trace` shows it
 * (control characters escaped, model/trail-format.ts visible()), so one copied from its output
 * is found; with or without its angle brackets. `shownToo` false: the stored form only.
 */
function sameMessageId(stored: string | null, asked: string, shownToo: boolean): boolean {
  if (stored === null) return false;
  const ids = shownToo ? [stored, visible(stored)] : [stored];
  return ids.some((id) => id === asked || id === `<${asked}>`);
}

/** Keeps the events of the messages that match --from and --message-id (a message: one Message-ID or id). */
function filterTrail(events: TrailRecord[], q: TrailQuery): TrailRecord[] {
  if (q.from === undefined && q.messageId === undefined) return events;
  const from = q.from?.toLowerCase();
  const asked = q.messageId;
  const fromOk = (r: TrailRecord) => from === undefined || String(r.detail.from ?? '').toLowerCase() === from;
  // visible() leaves a backslash as it is, so `<c\x07d@x>` (four characters) and `<c BEL d@x>`
  // look alike in trace: an id that some message --from keeps holds as asked is that message, not
  // the other one an outsider made to look like it; the shown form counts only when none does.
  const shownToo = asked !== undefined && !events.some((r) => fromOk(r) && sameMessageId(r.messageId, asked, false));
  const wanted = new Set<string>();
  for (const r of events) {
    const ok = fromOk(r) && (asked === undefined || sameMessageId(r.messageId, asked, shownToo));
    if (ok && (r.messageId || r.queueId)) wanted.add(r.messageId ?? r.queueId!);
  }
  return events.filter((r) => wanted.has(r.messageId ?? r.queueId ?? ''));
}
