// The trail: what happened to each hosted address's mail and logins, event by event, in the
// store (so every daemon of a PostgreSQL service records into and reads the same one).
//
// Events come in through support/trail.ts's noteTrail and wait in a buffer, written together
// in one transaction every FLUSH_MS or FLUSH_AT events, and on stop: SMTP and POP3 never wait
// for the store. Two tables keep it bounded:
// - `trail`: an address that is an account or a forward, keyed `ADDRESS TIME.N.NODE`, so one
//   address's events are one key range, newest last; at most `cap` per address (trimmed as it
//   writes, and by the hourly prune with the days kept).
// - `trail_unknown`: a refused message meant for an address that does not exist (a typo, or a
//   dictionary attack), keyed by time alone and capped as a whole (UNKNOWN_CAP), so 20,000
//   random RCPTs cannot grow the store past it.
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

const FLUSH_MS = 200;
const FLUSH_AT = 500;
/** Events kept for all unknown addresses together. */
export const UNKNOWN_CAP = 10_000;
/** Longest address part of a key (the row keeps the whole address). */
const KEY_ADDRESS = 200;
/** The most events buffered: past it (the store is failing) new ones are dropped, and counted. */
const MAX_BUFFER = 50_000;

function timeKey(at: number, n: number): string {
  return `${String(at).padStart(15, '0')}.${String(n).padStart(6, '0')}`;
}

function addressKey(address: string): string {
  return address.slice(0, KEY_ADDRESS);
}

/**
 * An event as keyv stores a value (`{"value":...}`, a string that starts with ':' given one more,
 * as @keyv/serialize does, so "::1" reads back as "::1"), made by the engine's JSON.stringify.
 * The trail writes two to four events per message: keyv's own setMany serialises each one
 * through its hand-written recursive writer and a promise per row, which a CPU profile of a
 * POP3 fetch showed as most of the trail's cost on the event loop. The trail's tables are not
 * mirrored in memory, so writing the text directly (Table.putText) tells no mirror less.
 */
function storedText(r: TrailRecord): string {
  return JSON.stringify({ value: r }, (_k, v) => (typeof v === 'string' && v.startsWith(':') ? `:${v}` : v));
}

export class Trail {
  private buffer: TrailRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastAt = 0;
  private sameMs = 0;
  /** Events written per address since its last trim. */
  private sinceTrim = new Map<string, number>();
  private unknownSinceTrim = 0;
  /** Events dropped because the buffer was full; said once per flush that fails. */
  dropped = 0;
  /** Days kept (0: nothing is recorded) and events per address. */
  days = 30;
  cap = 1000;
  onError: (err: Error) => void = () => {};

  constructor(
    private readonly db: Database,
    private readonly known: Table<TrailRecord>,
    private readonly unknown: Table<TrailRecord>,
    private readonly node: string,
    /** Whether an address is an account or a forward (its events go to the trail proper). */
    private readonly hosted: (address: string) => boolean,
  ) {}

  /** Takes one event into the buffer. */
  note(n: TrailNote): void {
    if (this.days <= 0) return;
    if (this.buffer.length >= MAX_BUFFER) {
      this.dropped++;
      return;
    }
    const detail: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(n.detail ?? {})) if (v !== undefined) detail[k] = v;
    this.buffer.push({
      at: n.at ?? Date.now(),
      node: this.node,
      event: n.event,
      address: n.address.toLowerCase().slice(0, 320),
      messageId: n.messageId ?? null,
      queueId: n.queueId ?? null,
      client: n.client ?? null,
      detail,
    });
    if (this.buffer.length >= FLUSH_AT) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private key(at: number): string {
    if (at > this.lastAt) [this.lastAt, this.sameMs] = [at, 0];
    else this.sameMs++;
    return `${timeKey(this.lastAt, this.sameMs)}.${this.node}`;
  }

  /** Writes what is buffered (and what comes while it writes); resolves when it is written or failed. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer;
      this.buffer = [];
      const mine: [string, TrailRecord][] = [];
      const stray: [string, TrailRecord][] = [];
      for (const r of batch) {
        const k = this.key(r.at);
        if (this.hosted(r.address)) mine.push([`${addressKey(r.address)} ${k}`, r]);
        else stray.push([k, r]);
      }
      try {
        await this.db.write(async () => {
          await this.known.putText(mine.map(([k, r]) => [k, storedText(r)]));
          await this.unknown.putText(stray.map(([k, r]) => [k, storedText(r)]));
          await this.trimBusy(mine, stray.length);
        });
      } catch (err) {
        // The events are lost (the store refuses writes): said through onError, never thrown at mail.
        this.onError(err as Error);
      }
    }
  }

  /** Trims the addresses that wrote a tenth of their cap since their last trim, and the unknown table likewise. */
  private async trimBusy(mine: [string, TrailRecord][], stray: number): Promise<void> {
    const before = Date.now() - this.days * 86_400_000;
    for (const [, r] of mine) {
      const a = addressKey(r.address);
      const n = (this.sinceTrim.get(a) ?? 0) + 1;
      if (n < Math.max(10, this.cap / 10)) {
        this.sinceTrim.set(a, n);
        continue;
      }
      this.sinceTrim.delete(a);
      await this.known.trim(`${a} `, `${a}!`, this.cap, `${a} ${timeKey(before, 0)}`);
    }
    this.unknownSinceTrim += stray;
    if (this.unknownSinceTrim >= UNKNOWN_CAP / 20) {
      this.unknownSinceTrim = 0;
      await this.unknown.trim('', '~', UNKNOWN_CAP, timeKey(before, 0));
    }
  }

  /** Deletes what is older than the days kept and over the caps; returns how many went. */
  async prune(): Promise<number> {
    const before = Date.now() - this.days * 86_400_000;
    let gone = await this.db.write(() => this.unknown.trim('', '~', UNKNOWN_CAP, timeKey(before, 0)));
    // Each address in turn, found by skipping from one key range to the next.
    for (let k = await this.known.keyAfter(''); k !== null; ) {
      const a = k.slice(0, k.indexOf(' ') < 0 ? k.length : k.indexOf(' '));
      gone += await this.db.write(() => this.known.trim(`${a} `, `${a}!`, this.cap, `${a} ${timeKey(before, 0)}`));
      k = await this.known.keyAfter(`${a}!`);
    }
    return gone;
  }

  /** One address's events, newest first, at most the cap (and those of it as an unknown address). */
  async query(address: string, q: TrailQuery = {}): Promise<TrailRecord[]> {
    await this.flush();
    const a = address.toLowerCase();
    const k = addressKey(a);
    const from = `${k} ${timeKey(q.since ?? 0, 0)}`;
    const own = (await this.known.range(from, `${k}!`, Math.max(this.cap * 2, 1000))).map(([, r]) => r);
    const stray = (await this.unknown.range(timeKey(q.since ?? 0, 0), '~', UNKNOWN_CAP * 2)).map(([, r]) => r);
    const all = [...own, ...stray].filter((r) => r.address === a).sort((x, y) => y.at - x.at);
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

/** Keeps the events of the messages that match --from and --message-id (a message: one Message-ID or id). */
function filterTrail(events: TrailRecord[], q: TrailQuery): TrailRecord[] {
  if (q.from === undefined && q.messageId === undefined) return events;
  const from = q.from?.toLowerCase();
  const wanted = new Set<string>();
  for (const r of events) {
    const ok =
      (from === undefined || String(r.detail.from ?? '').toLowerCase() === from) &&
      (q.messageId === undefined || r.messageId === q.messageId || r.messageId === `<${q.messageId}>`);
    if (ok && (r.messageId || r.queueId)) wanted.add(r.messageId ?? r.queueId!);
  }
  return events.filter((r) => wanted.has(r.messageId ?? r.queueId ?? ''));
}
