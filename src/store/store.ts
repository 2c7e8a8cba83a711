// The daemon's configuration and queue, kept in SQLite through keyv and mirrored in memory so
// that reads (listing 10,000 accounts, a POP3 login) never wait on the database.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PendingChange } from '../model/changes.js';
import { Table } from './table.js';

export interface DomainRecord {
  domain: string;
  addedAt: number;
}

export interface AccountRecord {
  name: string;
  domain: string;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

export interface ForwardRecord {
  name: string;
  domain: string;
  destinations: string[];
  createdAt: number;
  updatedAt: number;
}

/** What happened to an account lately: kept apart from its configuration, written often. */
export interface ActivityRecord {
  lastLoginAt?: number;
  lastLoginFrom?: string;
  lastDeliveryAt?: number;
}

export interface AppliedRecord extends Omit<PendingChange, 'passwordHash'> {
  appliedAt: number;
}

interface Meta {
  lastSeq?: number;
  lastApplyAt?: number;
}

const ACTIVITY_FLUSH_MS = 1000;

export class Store {
  readonly domains = new Map<string, DomainRecord>();
  readonly accounts = new Map<string, AccountRecord>();
  readonly forwards = new Map<string, ForwardRecord>();
  readonly pending = new Map<string, PendingChange>();
  readonly activity = new Map<string, ActivityRecord>();
  meta: Meta = {};
  private readonly activityDirty = new Set<string>();
  private activityTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly file: string,
    private readonly t: {
      domains: Table<DomainRecord>;
      accounts: Table<AccountRecord>;
      forwards: Table<ForwardRecord>;
      pending: Table<PendingChange>;
      applied: Table<AppliedRecord>;
      activity: Table<ActivityRecord>;
      meta: Table<Meta>;
    },
  ) {}

  static async open(dataDir: string): Promise<Store> {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    const file = join(dataDir, 'vmail.sqlite');
    // Opened one after another: each connection sets WAL mode on the shared file.
    const tables = {
      domains: await Table.open<DomainRecord>(file, 'domains'),
      accounts: await Table.open<AccountRecord>(file, 'accounts'),
      forwards: await Table.open<ForwardRecord>(file, 'forwards'),
      pending: await Table.open<PendingChange>(file, 'pending'),
      applied: await Table.open<AppliedRecord>(file, 'applied'),
      activity: await Table.open<ActivityRecord>(file, 'activity'),
      meta: await Table.open<Meta>(file, 'meta'),
    };
    const store = new Store(file, tables);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const [domains, accounts, forwards, pending, activity, meta] = await Promise.all([
      this.t.domains.all(),
      this.t.accounts.all(),
      this.t.forwards.all(),
      this.t.pending.all(),
      this.t.activity.all(),
      this.t.meta.get('meta'),
    ]);
    for (const [k, v] of domains) this.domains.set(k, v);
    for (const [k, v] of accounts) this.accounts.set(k, v);
    for (const [k, v] of forwards) this.forwards.set(k, v);
    for (const v of [...pending.values()].sort((a, b) => a.seq - b.seq)) this.pending.set(v.id, v);
    for (const [k, v] of activity) this.activity.set(k, v);
    this.meta = meta ?? {};
  }

  async addDomain(domain: string, now: number): Promise<void> {
    if (this.domains.has(domain)) return;
    const rec = { domain, addedAt: now };
    await this.t.domains.set(domain, rec);
    this.domains.set(domain, rec);
  }

  /** The next change id: never reused, also across restarts. */
  async nextSeq(): Promise<number> {
    let max = this.meta.lastSeq ?? 0;
    for (const p of this.pending.values()) max = Math.max(max, p.seq);
    const seq = max + 1;
    await this.saveMeta({ lastSeq: seq });
    return seq;
  }

  async saveMeta(patch: Meta): Promise<void> {
    const next = { ...this.meta, ...patch };
    await this.t.meta.set('meta', next);
    this.meta = next;
  }

  /** Queues `change`, dropping `replaces` (an earlier change for the same name) in the same step. */
  async queue(change: PendingChange, replaces?: PendingChange): Promise<void> {
    await this.t.pending.batch([[change.id, change]], replaces ? [replaces.id] : []);
    if (replaces) this.pending.delete(replaces.id);
    this.pending.set(change.id, change);
  }

  /** Queues many changes in one transaction (a bulk import); each must be for its own name. */
  async queueMany(changes: PendingChange[]): Promise<void> {
    await this.t.pending.batch(changes.map((c) => [c.id, c]));
    for (const c of changes) this.pending.set(c.id, c);
    const last = Math.max(this.meta.lastSeq ?? 0, ...changes.map((c) => c.seq));
    await this.saveMeta({ lastSeq: last });
  }

  async cancel(id: string): Promise<void> {
    await this.t.pending.batch([], [id]);
    this.pending.delete(id);
  }

  /** The ids among `ids` that the apply log already holds. */
  appliedAmong(ids: string[]): Promise<Set<string>> {
    return this.t.applied.present(ids);
  }

  async appliedLog(): Promise<AppliedRecord[]> {
    return [...(await this.t.applied.all()).values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Records the outcome of applying `changes`: the new account and forward rows first, then the
   * apply log, then the queue. A crash between steps leaves changes that are re-applied (each is
   * idempotent) or, once logged, only dropped from the queue: each is applied exactly once.
   */
  async commitApplied(
    changes: PendingChange[],
    accounts: { set: AccountRecord[]; remove: string[] },
    forwards: { set: ForwardRecord[]; remove: string[] },
    appliedAt: number,
  ): Promise<void> {
    const addr = (r: { name: string; domain: string }) => `${r.name}@${r.domain}`;
    await Promise.all([
      this.t.accounts.batch(accounts.set.map((a) => [addr(a), a]), accounts.remove),
      this.t.forwards.batch(forwards.set.map((f) => [addr(f), f]), forwards.remove),
    ]);
    for (const a of accounts.set) this.accounts.set(addr(a), a);
    for (const k of accounts.remove) this.accounts.delete(k);
    for (const f of forwards.set) this.forwards.set(addr(f), f);
    for (const k of forwards.remove) this.forwards.delete(k);
    await this.logApplied(changes, appliedAt);
    await this.dropPending(changes.map((c) => c.id));
  }

  async logApplied(changes: PendingChange[], appliedAt: number): Promise<void> {
    await this.t.applied.batch(
      changes.map((c) => {
        const { passwordHash: _hash, ...rest } = c;
        return [c.id, { ...rest, appliedAt }];
      }),
    );
  }

  async dropPending(ids: string[]): Promise<void> {
    await this.t.pending.batch([], ids);
    for (const id of ids) this.pending.delete(id);
  }

  /**
   * Notes a login or a delivery. Shown at once, written within a second in one transaction
   * with the others: a busy server does not pay an fsync per message for a "last seen" time.
   */
  recordActivity(address: string, patch: ActivityRecord): void {
    this.activity.set(address, { ...this.activity.get(address), ...patch });
    this.activityDirty.add(address);
    this.activityTimer ??= setTimeout(() => void this.flushActivity().catch(() => {}), ACTIVITY_FLUSH_MS);
  }

  private async flushActivity(): Promise<void> {
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = null;
    const rows = [...this.activityDirty].map((a): [string, ActivityRecord] => [a, this.activity.get(a)!]);
    this.activityDirty.clear();
    if (rows.length) await this.t.activity.batch(rows);
  }

  async close(): Promise<void> {
    await this.flushActivity();
    await Promise.all(Object.values(this.t).map((t) => t.close()));
  }
}
