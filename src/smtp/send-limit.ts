// The sending limit per account (--send-limit N/DURATION): how many messages one account may
// submit within a sliding window, because a hijacked password on a small host becomes a spam
// cannon within the hour. A message takes its place in the window synchronously when its
// submission is about to be stored (so any number of sessions racing past the limit let exactly
// N through), gives it back if the storing fails, and is written to DATA_DIR/sending/ after the
// message is stored, without holding up its 250: the count is a rate limit, not mail, so it need
// not be durable before the answer (a power cut forgets at most the last write's messages; a
// stop writes what is pending). Writes of one account's file are merged: however many messages
// it sent meanwhile, one write follows the one under way. One daemon's count: daemons that share
// a store each count what they accepted.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../support/durable.js';

export interface Limit {
  count: number;
  windowMs: number;
}

/** What an account sent within the window, as `vmail accounts limits` shows it. */
export interface SentCount {
  address: string;
  limit: number;
  windowMs: number;
  /** Messages submitted within the window. */
  sent: number;
  reached: boolean;
  /** When the oldest message in the window leaves it (a place frees up); null when none is counted. */
  freesAt: number | null;
}

/** A place in the window, taken for one message: kept once the message is stored, else given back. */
export interface Slot {
  /** Keeps the place; its file is written in the background (a failure goes to `failed`). */
  keep(failed: (err: Error) => void): void;
  release(): void;
}

export class SendLimit {
  /** Each account's submission times within the window, oldest first. */
  private readonly times = new Map<string, number[]>();
  /** Each account's file write in progress: writes of one file go one after another. */
  private readonly writing = new Map<string, Promise<void>>();
  /** Accounts whose times changed while their file was being written: written once more after. */
  private readonly dirty = new Set<string>();
  /** The folder's mkdir, once. */
  private made: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    public limit: Limit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the counts the last run left (a file that cannot be read counts nothing, and says so). */
  load(warn: (file: string, why: string) => void): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      // No folder yet: nothing was ever submitted.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const times = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as unknown;
        if (!Array.isArray(times) || !times.every((t) => typeof t === 'number')) throw new Error('not a list of times');
        this.times.set(
          decodeURIComponent(name.slice(0, -5)),
          times.sort((a, b) => a - b),
        );
      } catch (err) {
        warn(name, (err as Error).message);
      }
    }
  }

  /** The times of `address` still within the window. */
  private current(address: string): number[] {
    const times = this.times.get(address) ?? [];
    const from = this.now() - this.limit.windowMs;
    let i = 0;
    while (i < times.length && times[i] <= from) i++;
    if (i) times.splice(0, i);
    if (times.length === 0) this.times.delete(address);
    return times;
  }

  /** Whether `address` may submit one more message now. */
  reached(address: string): boolean {
    return this.current(address).length >= this.limit.count;
  }

  /**
   * Takes a place for one message of `address`, or null when the window is full. Synchronous:
   * of sessions racing for the last place, one gets it.
   */
  take(address: string): Slot | null {
    const times = this.current(address);
    if (times.length >= this.limit.count) return null;
    const at = this.now();
    times.push(at);
    this.times.set(address, times);
    let done = false;
    return {
      keep: (failed) => {
        done = true;
        this.save(address, failed);
      },
      release: () => {
        if (done) return;
        done = true;
        const list = this.times.get(address);
        const i = list ? list.lastIndexOf(at) : -1;
        if (list && i >= 0) list.splice(i, 1);
      },
    };
  }

  /** What `address` sent within the window. */
  count(address: string): SentCount {
    const times = this.current(address);
    return {
      address,
      limit: this.limit.count,
      windowMs: this.limit.windowMs,
      sent: times.length,
      reached: times.length >= this.limit.count,
      freesAt: times.length ? times[0] + this.limit.windowMs : null,
    };
  }

  /**
   * Writes `address`'s times durably, merged: with a write under way, one more follows it
   * (writing the times as they are then), however many messages asked meanwhile.
   */
  private save(address: string, failed: (err: Error) => void): void {
    if (this.writing.has(address)) {
      this.dirty.add(address);
      return;
    }
    const file = join(this.dir, `${encodeURIComponent(address)}.json`);
    const write = (async () => {
      // Made once per run (an admin who removes it meanwhile gets it back at the next start).
      this.made ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
      await this.made.catch((err: Error) => {
        // Not made: tried again at the next write, and this one fails as the mkdir did.
        this.made = null;
        throw err;
      });
      await writeAtomic(file, JSON.stringify(this.current(address)), { mode: 0o600 });
    })();
    this.writing.set(address, write);
    void write.then(
      () => this.wrote(address, failed),
      (err: Error) => {
        failed(err);
        this.wrote(address, failed);
      },
    );
  }

  /** A write of `address`'s file ended: the next one starts if its times changed meanwhile. */
  private wrote(address: string, failed: (err: Error) => void): void {
    this.writing.delete(address);
    if (this.dirty.delete(address)) this.save(address, failed);
  }

  /** Waits for every write under way and the ones they started (a stop: nothing counted is lost). */
  async flush(): Promise<void> {
    while (this.writing.size)
      // A failed write was reported to its caller already; the loop waits for what follows it.
      await Promise.allSettled([...this.writing.values()]);
  }
}
