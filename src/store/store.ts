// The daemon's configuration and queue, kept through keyv (in SQLite, or in PostgreSQL shared
// by several daemons) and mirrored in memory so that reads (listing 10,000 accounts, a POP3
// login) never wait on the database. Every write is one transaction: the mirror changes only
// once it has committed. Rows other daemons changed come in through `remote()`.
import { mkdirSync } from 'node:fs';
import type { PendingChange } from '../model/changes.js';
import type { Logger } from '../support/log.js';
import { type AuditEntry, AuditLog } from './audit-log.js';
import type { Database, Table } from './database.js';
import type { StoreLocation } from './location.js';
import type { RemoteRows } from './postgres.js';
import type { AccountRecord, ActivityRecord, AppliedRecord, DomainRecord, ForwardRecord, Meta } from './records.js';
import { logRows } from './records.js';
import { addressesOf, PendingChanges, RowsByDomain } from './row-indexes.js';
import { upgradeSchema } from './schema.js';
import { SqliteDatabase } from './sqlite.js';
import { Trail, type TrailRecord, type TrailRow } from './trail.js';

/**
 * What one committed write changed: the account and forward addresses whose rows (or pending
 * change) it touched, and the pending changes queued, replaced or gone.
 */
export interface Touched {
  addresses: string[];
  pending: string[];
  /** Only a login was noted: no row came or went (told at a slower pace than writes). */
  loginOnly?: boolean;
}

/** What rows other daemons changed meant for this one's accounts. */
export interface RemoteAccounts {
  added: string[];
  removed: string[];
  /** Accounts still here whose row changed (a password, a quota, a suspension). */
  changed: string[];
}

const ACTIVITY_FLUSH_MS = 1000;
/** The tables every daemon keeps in memory (the others are read when asked for). */
const MIRRORED = ['domains', 'accounts', 'forwards', 'pending', 'meta'];

export class Store {
  /** The hosted domains. */
  readonly domains = new Map<string, DomainRecord>();
  /** Domains removed with `domains remove`. */
  readonly removedDomains = new Map<string, DomainRecord>();
  readonly accounts = new RowsByDomain<AccountRecord>();
  readonly forwards = new RowsByDomain<ForwardRecord>();
  readonly pending = new PendingChanges();
  readonly activity = new Map<string, ActivityRecord>();
  meta: Meta = {};
  /** The schema version the store had when opened (null: it was new), and the copy made before migrating it. */
  upgraded: { from: number | null; copy: string | null } = { from: null, copy: null };
  /** Who changed what: written and read through the store's own connection. */
  readonly audit: AuditLog;
  /** What happened to each address's mail and logins (trail.ts). */
  readonly trail: Trail;
  private readonly activityDirty = new Set<string>();
  private activityTimer: NodeJS.Timeout | null = null;
  private log: Logger | null = null;
  private readonly touchListeners: ((t: Touched) => void)[] = [];
  private readonly remoteListeners: ((a: RemoteAccounts) => void)[] = [];
  private readonly activityListeners: ((rows: [string, ActivityRecord][]) => void)[] = [];

  private constructor(
    private readonly db: Database,
    private readonly t: {
      domains: Table<DomainRecord>;
      accounts: Table<AccountRecord>;
      forwards: Table<ForwardRecord>;
      pending: Table<PendingChange>;
      applied: Table<AppliedRecord>;
      activity: Table<ActivityRecord>;
      meta: Table<Meta>;
      audit: Table<AuditEntry>;
      trail: Table<TrailRow>;
      trail_unknown: Table<TrailRecord>;
    },
    node: string | null,
  ) {
    this.audit = new AuditLog(db, t.audit, node);
    const hosted = (a: string) => this.accounts.has(a) || this.forwards.has(a);
    this.trail = new Trail(db, t.trail, t.trail_unknown, node ?? 'main', hosted);
  }

  /**
   * Opens the store at `location` (default: `DATA_DIR/vmail.sqlite`); `node` names this daemon
   * among those sharing a PostgreSQL store.
   */
  static async open(
    dataDir: string,
    location: StoreLocation = { kind: 'sqlite', path: `${dataDir}/vmail.sqlite` },
    node = 'main',
  ): Promise<Store> {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    // PostgreSQL's driver is loaded only for a store that is there.
    const db =
      location.kind === 'sqlite'
        ? await SqliteDatabase.open(location.path)
        : await (await import('./postgres.js')).PostgresDatabase.open(location.url, node, MIRRORED);
    const tables = {
      domains: await db.table<DomainRecord>('domains'),
      accounts: await db.table<AccountRecord>('accounts'),
      forwards: await db.table<ForwardRecord>('forwards'),
      pending: await db.table<PendingChange>('pending'),
      applied: await db.table<AppliedRecord>('applied'),
      activity: await db.table<ActivityRecord>('activity'),
      meta: await db.table<Meta>('meta'),
      audit: await db.table<AuditEntry>('audit'),
    };
    const file = db instanceof SqliteDatabase ? db : null;
    const upgraded = await upgradeSchema(
      db,
      new Map<string, Table<unknown>>(Object.entries(tables)),
      file && ((to) => file.copyTo(to)),
      file?.file ?? null,
    ).catch(async (err) => {
      await db.close();
      throw err;
    });
    // Made once the schema is known to be this vmail's: a newer store is left as it was.
    const trail = {
      trail: await db.table<TrailRow>('trail'),
      trail_unknown: await db.table<TrailRecord>('trail_unknown'),
    };
    const store = new Store(db, { ...tables, ...trail }, db.kind === 'postgres' ? node : null);
    store.upgraded = upgraded;
    await store.load();
    if ('onRemote' in db) db.onRemote = (rows) => store.remote(rows);
    return store;
  }

  /** The database under the store (the cluster reaches PostgreSQL's own features through it). */
  get database(): Database {
    return this.db;
  }

  /** Where the store is, for messages: the file, or the PostgreSQL server without its password. */
  get where(): string {
    return this.db.where;
  }

  /** Why the store cannot take changes, or null when it can. */
  get problem(): string | null {
    return this.db.problem;
  }

  private async load(): Promise<void> {
    const [domains, , forwards, pending, activity, meta] = await Promise.all([
      this.t.domains.all(),
      // Straight into the mirror: the largest table is not held in a second map first.
      this.t.accounts.all(this.accounts),
      this.t.forwards.all(),
      this.t.pending.all(),
      this.t.activity.all(),
      this.t.meta.get('meta'),
    ]);
    for (const [k, v] of domains) (v.removedAt === undefined ? this.domains : this.removedDomains).set(k, v);
    for (const [k, v] of forwards) this.forwards.set(k, v);
    for (const v of [...pending.values()].sort((a, b) => a.seq - b.seq)) this.pending.set(v.id, v);
    for (const [k, v] of activity) this.activity.set(k, v);
    this.meta = meta ?? {};
  }

  /**
   * Runs `fn` alone among every daemon sharing the store, with every change the others made
   * before it read (the change queue's lock, across daemons).
   */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.db.exclusive(fn);
  }

  /** Calls `listener` when other daemons' writes add, remove or change accounts. */
  onRemoteAccounts(listener: (a: RemoteAccounts) => void): void {
    this.remoteListeners.push(listener);
  }

  /**
   * Takes the rows other daemons changed into the mirror ('all': reads every mirrored table
   * again, after this daemon was cut off from the log for too long), then tells the listeners
   * as its own writes do.
   */
  private async remote(rows: RemoteRows | 'all'): Promise<void> {
    if (rows === 'all') {
      this.log?.notice('store read again', {
        why: 'the change log no longer goes back to what this daemon last read (it was stopped or cut off)',
      });
      const all: RemoteRows = new Map();
      const mine: Record<string, Iterable<string>> = {
        domains: [...this.domains.keys(), ...this.removedDomains.keys()],
        accounts: this.accounts.keys(),
        forwards: this.forwards.keys(),
        pending: this.pending.keys(),
        meta: ['meta'],
      };
      for (const name of MIRRORED) {
        const table = this.t[name as keyof typeof this.t] as Table<unknown>;
        const now = new Map<string, unknown>(await table.all());
        for (const k of mine[name]) if (!now.has(k)) now.set(k, undefined);
        all.set(name, now);
      }
      rows = all;
    }
    const addresses: string[] = [];
    const gonePending: PendingChange[] = [];
    const accounts: RemoteAccounts = { added: [], removed: [], changed: [] };
    for (const [k, v] of rows.get('domains') ?? []) {
      if (v) this.setDomain(v as DomainRecord);
      else {
        this.domains.delete(k);
        this.removedDomains.delete(k);
      }
    }
    for (const [k, v] of rows.get('accounts') ?? []) {
      const had = this.accounts.has(k);
      if (v) this.accounts.set(k, v as AccountRecord);
      else this.accounts.delete(k);
      if (v && !had) accounts.added.push(k);
      else if (!v && had) accounts.removed.push(k);
      else if (v) accounts.changed.push(k);
      addresses.push(k);
    }
    for (const [k, v] of rows.get('forwards') ?? []) {
      if (v) this.forwards.set(k, v as ForwardRecord);
      else this.forwards.delete(k);
      addresses.push(k);
    }
    for (const [id, v] of rows.get('pending') ?? []) {
      const old = this.pending.get(id);
      if (old) gonePending.push(old);
      if (v) this.pending.set(id, v as PendingChange);
      else this.pending.delete(id);
    }
    const meta = rows.get('meta')?.get('meta');
    if (meta) this.meta = meta as Meta;
    const changes = [...gonePending, ...[...(rows.get('pending')?.values() ?? [])].filter(Boolean)] as PendingChange[];
    this.touched(changes, addresses, [...(rows.get('pending')?.keys() ?? [])]);
    if (accounts.added.length || accounts.removed.length || accounts.changed.length)
      for (const l of this.remoteListeners) l(accounts);
  }

  /** Calls `listener` after each committed write with what it touched (the console's live rows). */
  onTouch(listener: (t: Touched) => void): void {
    this.touchListeners.push(listener);
  }

  private touched(changes: PendingChange[], addresses: string[] = [], pending = changes.map((c) => c.id)): void {
    const t = { addresses: [...addresses, ...changes.flatMap(addressesOf)], pending };
    for (const l of this.touchListeners) l(t);
  }

  /** Hosts `domain` at once (a first start's --domain); the queued way is a domain change. */
  async addDomain(domain: string, now: number): Promise<void> {
    if (this.domains.has(domain)) return;
    const rec = { domain, addedAt: now };
    await this.db.write(() => this.t.domains.put([[domain, rec]]));
    this.setDomain(rec);
  }

  private setDomain(rec: DomainRecord): void {
    if (rec.removedAt === undefined) {
      this.domains.set(rec.domain, rec);
      this.removedDomains.delete(rec.domain);
    } else {
      this.domains.delete(rec.domain);
      this.removedDomains.set(rec.domain, rec);
    }
  }

  /**
   * The number for the next change: never reused, also across restarts. It is taken for good
   * when the change is queued; the caller queues one change at a time.
   */
  nextSeq(): number {
    return Math.max(this.meta.lastSeq ?? 0, this.pending.maxSeq) + 1;
  }

  async saveMeta(patch: Meta): Promise<void> {
    this.meta = await this.db.write(() => this.mergeMeta(() => patch));
  }

  /**
   * Records daemon `node`'s settings beside the others' entries as the store has them (read in
   * the write, which daemons take one at a time): daemons starting together keep each their own.
   */
  async saveNodeSettings(node: string, settings: Record<string, string>): Promise<void> {
    this.meta = await this.db.write(() =>
      this.mergeMeta((row) => ({ nodeSettings: { ...row.nodeSettings, [node]: settings } })),
    );
  }

  /**
   * Inside a write: merges `patch(row)` into the meta row as the store has it (another daemon
   * sharing it may have written since this one last read it); returns the row written.
   */
  private async mergeMeta(patch: (row: Meta) => Meta): Promise<Meta> {
    const row = (await this.t.meta.get('meta')) ?? this.meta;
    const merged = { ...row, ...patch(row) };
    await this.t.meta.put([['meta', merged]]);
    return merged;
  }

  /** Queues `change`, dropping `replaces` (an earlier change for the same name) in the same step. */
  async queue(change: PendingChange, replaces?: PendingChange): Promise<void> {
    await this.queueMany([change], replaces ? [replaces] : []);
  }

  /** Queues many changes in one transaction (a bulk import); each must be for its own name. */
  async queueMany(changes: PendingChange[], replaces: PendingChange[] = []): Promise<void> {
    const top = changes.reduce((n, c) => Math.max(n, c.seq), 0);
    const meta = await this.db.write(async () => {
      await this.t.pending.remove(replaces.map((r) => r.id));
      await this.t.pending.put(changes.map((c) => [c.id, c]));
      return this.mergeMeta((row) => ({ lastSeq: Math.max(row.lastSeq ?? 0, top) }));
    });
    for (const r of replaces) this.pending.delete(r.id);
    for (const c of changes) this.pending.set(c.id, c);
    this.meta = meta;
    this.touched([...replaces, ...changes]);
  }

  async cancel(id: string): Promise<void> {
    await this.dropPending([id]);
  }

  /** The ids among `ids` that the apply log already holds. */
  appliedAmong(ids: string[]): Promise<Set<string>> {
    return this.t.applied.present(ids);
  }

  async appliedLog(): Promise<AppliedRecord[]> {
    return [...(await this.t.applied.all()).values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Records the outcome of applying `changes` in one transaction: the domain, account and
   * forward rows, the apply log, the audit log and the queue change together. A crash leaves all of it or none of it, and a
   * change not recorded is applied again (its file-system side is idempotent).
   */
  async commitApplied(
    changes: PendingChange[],
    accounts: { set: AccountRecord[]; remove: string[] },
    forwards: { set: ForwardRecord[]; remove: string[] },
    domains: DomainRecord[],
    appliedAt: number,
    audit: AuditEntry[] = [],
  ): Promise<void> {
    const addr = (r: { name: string; domain: string }) => `${r.name}@${r.domain}`;
    await this.db.write(async () => {
      await this.audit.putIn(audit);
      await this.t.domains.put(domains.map((d) => [d.domain, d]));
      await this.t.accounts.remove(accounts.remove);
      await this.t.accounts.put(accounts.set.map((a) => [addr(a), a]));
      await this.t.forwards.remove(forwards.remove);
      await this.t.forwards.put(forwards.set.map((f) => [addr(f), f]));
      await this.t.applied.put(logRows(changes, appliedAt));
      await this.t.pending.remove(changes.map((c) => c.id));
    });
    for (const d of domains) this.setDomain(d);
    for (const k of accounts.remove) this.accounts.delete(k);
    for (const a of accounts.set) this.accounts.set(addr(a), a);
    for (const k of forwards.remove) this.forwards.delete(k);
    for (const f of forwards.set) this.forwards.set(addr(f), f);
    for (const c of changes) this.pending.delete(c.id);
    this.touched(changes, [
      ...accounts.remove,
      ...accounts.set.map(addr),
      ...forwards.remove,
      ...forwards.set.map(addr),
    ]);
  }

  /** Writes changes into the apply log alone (tests set up what a crash would leave). */
  async logApplied(changes: PendingChange[], appliedAt: number): Promise<void> {
    await this.db.write(() => this.t.applied.put(logRows(changes, appliedAt)));
  }

  /**
   * Replaces an account's password hash with one of the same password in vmail's own scheme
   * (a hash brought from another server, at its first good login). Not a change anyone asked
   * for: the password stays what it was. False when the hash changed in the meantime.
   */
  async rehash(address: string, from: string, to: string): Promise<boolean> {
    // Checked inside the write: an apply that changed the password meanwhile has committed by then.
    return this.db.write(async () => {
      // From the store, not the mirror: another daemon may have changed it a moment ago.
      const a = await this.t.accounts.get(address);
      if (a?.passwordHash !== from) return false;
      const next = { ...a, passwordHash: to };
      await this.t.accounts.put([[address, next]]);
      this.accounts.set(address, next);
      return true;
    });
  }

  async dropPending(ids: string[]): Promise<void> {
    await this.db.write(() => this.t.pending.remove(ids));
    const gone = ids.flatMap((id) => this.pending.get(id) ?? []);
    for (const id of ids) this.pending.delete(id);
    this.touched(gone);
  }

  /**
   * Notes a login or a delivery. Shown at once, written within a second in one transaction
   * with the others: a busy server does not pay an fsync per message for a "last seen" time.
   */
  recordActivity(address: string, patch: ActivityRecord): void {
    this.activity.set(address, { ...this.activity.get(address), ...patch });
    this.activityDirty.add(address);
    this.activityTimer ??= setTimeout(() => void this.flushActivity(), ACTIVITY_FLUSH_MS);
    // A login shows in the account's row (a delivery is told with the size it moved).
    if (patch.lastLoginAt !== undefined) this.loggedIn(address);
  }

  /** Calls `listener` with the activity each flush wrote (other daemons are told of it). */
  onActivityWritten(listener: (rows: [string, ActivityRecord][]) => void): void {
    this.activityListeners.push(listener);
  }

  /** Takes activity another daemon saw: the newer time of each kind wins; it is not written again. */
  takeActivity(address: string, seen: ActivityRecord): void {
    const mine = this.activity.get(address) ?? {};
    const next = { ...mine };
    if ((seen.lastLoginAt ?? 0) > (mine.lastLoginAt ?? 0)) {
      next.lastLoginAt = seen.lastLoginAt;
      next.lastLoginFrom = seen.lastLoginFrom;
    }
    if ((seen.lastDeliveryAt ?? 0) > (mine.lastDeliveryAt ?? 0)) next.lastDeliveryAt = seen.lastDeliveryAt;
    this.activity.set(address, next);
    if (next.lastLoginAt !== mine.lastLoginAt) this.loggedIn(address);
  }

  private loggedIn(address: string): void {
    for (const l of this.touchListeners) l({ addresses: [address], pending: [], loginOnly: true });
  }

  /** Writes the activity noted since the last flush; if that fails, it is kept and tried again. */
  private async flushActivity(): Promise<void> {
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = null;
    const addresses = [...this.activityDirty];
    this.activityDirty.clear();
    if (!addresses.length) return;
    const rows = addresses.map((a): [string, ActivityRecord] => [a, this.activity.get(a)!]);
    try {
      await this.db.write(() => this.t.activity.put(rows));
      for (const l of this.activityListeners) l(rows);
    } catch (err) {
      for (const a of addresses) this.activityDirty.add(a);
      if (!this.db.problem)
        this.log?.warning('store activity not written', { error: (err as Error).message, retry: 'in 10s' });
      this.activityTimer ??= setTimeout(() => void this.flushActivity(), 10 * ACTIVITY_FLUSH_MS);
      this.activityTimer.unref();
    }
  }

  /** Starts the database's upkeep, and reports through `log` from now on. */
  startChecking(log: Logger): void {
    this.log = log;
    this.db.startChecking(log);
  }

  async close(): Promise<void> {
    await this.flushActivity();
    if (this.activityTimer) clearTimeout(this.activityTimer);
    await this.db.close();
  }
}
