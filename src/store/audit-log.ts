// The audit log: who changed what, and when. One row per request that changes something (and
// one per change applied), naming the OS user and pid the kernel reported for the client. Rows
// are only ever added through the API; the retention sweep is the one thing that deletes them.
// Entries that arrive while a write is under way are written together in the next transaction
// (group commit), so a busy console does not pay a disk sync per request.

import { domainOf } from '../model/names.js';
import type { Database, Table } from './database.js';

export interface AuditEntry {
  /** Milliseconds since the epoch. */
  at: number;
  user: string;
  uid: number;
  pid: number;
  /** The socket method (accounts.add, pending.apply, ...), or apply for a change applied. */
  method: string;
  /** The request's parameters as text, never a password or a hash. */
  params: Record<string, string>;
  /** queued 12, cancelled 12, applied, refused: why. */
  outcome: string;
}

export interface AuditQuery {
  since?: number;
  user?: string;
  /** Entries about this address (name@domain), or about its domain as a whole. */
  address?: string;
  /** Newest entries kept when more match; the answer is oldest first. */
  limit?: number;
}

/** Keys sort in time order: the time, then a counter for entries of the same millisecond. */
function keyOf(at: number, n: number): string {
  return `${String(at).padStart(15, '0')}.${String(n).padStart(6, '0')}`;
}

const PAGE = 5000;

export class AuditLog {
  private waiting: { entry: AuditEntry; done: (err?: Error) => void }[] = [];
  private writing: Promise<void> | null = null;
  private lastAt = 0;
  private sameMs = 0;

  constructor(
    private readonly db: Database,
    private readonly table: Table<AuditEntry>,
    /** The daemon's name when several share the store: their entries of one millisecond stay apart. */
    private readonly node: string | null = null,
  ) {}

  /** Records entries; resolves once they are on disk. */
  append(...entries: AuditEntry[]): Promise<void> {
    if (!entries.length) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = entries.length;
      let failed: Error | undefined;
      const done = (err?: Error) => {
        failed ??= err;
        if (--left > 0) return;
        if (failed) reject(failed);
        else resolve();
      };
      for (const entry of entries) this.waiting.push({ entry, done });
      this.writing ??= this.flush();
    });
  }

  /** Rows for `entries`, keyed in time order. */
  keyed(entries: readonly AuditEntry[]): [string, AuditEntry][] {
    return entries.map((entry): [string, AuditEntry] => {
      if (entry.at > this.lastAt) [this.lastAt, this.sameMs] = [entry.at, 0];
      else this.sameMs++;
      const key = keyOf(this.lastAt, this.sameMs);
      return [this.node ? `${key}.${this.node}` : key, entry];
    });
  }

  /** Writes entries inside a transaction the caller runs (an apply's, with what it records). */
  putIn(entries: readonly AuditEntry[]): Promise<void> {
    return this.table.put(this.keyed(entries));
  }

  private async flush(): Promise<void> {
    while (this.waiting.length) {
      const batch = this.waiting;
      this.waiting = [];
      const rows = this.keyed(batch.map((b) => b.entry));
      try {
        await this.db.write(() => this.table.put(rows));
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err as Error);
      }
    }
    this.writing = null;
  }

  /** The entries that match, oldest first. */
  async query(q: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = q.limit ?? 1000;
    const from = keyOf(q.since ?? 0, 0);
    let to = keyOf(Number.MAX_SAFE_INTEGER, 0);
    const matches = (e: AuditEntry) => {
      if (q.user !== undefined && e.user !== q.user && String(e.uid) !== q.user) return false;
      if (q.address === undefined) return true;
      const { address, newAddress, domain } = e.params;
      if (address !== undefined || newAddress !== undefined) return address === q.address || newAddress === q.address;
      // A change to the whole domain (its quota, its catch-all) is about each of its accounts.
      return e.method.startsWith('domains.') && domain === domainOf(q.address);
    };
    const out: AuditEntry[] = [];
    for (;;) {
      const page = await this.table.range(from, to, PAGE);
      for (const [, e] of page) if (matches(e) && out.length < limit) out.push(e);
      if (page.length < PAGE || out.length >= limit) break;
      to = page[page.length - 1][0];
    }
    return out.reverse();
  }

  /** Deletes the entries older than `before`; returns how many went. */
  prune(before: number): Promise<number> {
    return this.db.write(() => this.table.removeBefore(keyOf(before, 0)));
  }
}
