// The shared store: the same keyv tables in PostgreSQL (through @keyv/postgres), so that
// several daemons serve one service. @keyv/postgres runs each statement on whichever pooled
// connection is free, so a BEGIN and the statements after it may land on different
// connections: each table's adapter here runs on the database's own connections instead, and a
// transaction spans tables. Transactions (writes, snapshots, the sync) run one at a time on a
// connection of their own, which every statement made inside one finds through an
// AsyncLocalStorage; reads made outside any run on another, never inside a transaction under
// way (where they would see its uncommitted rows, or fail with it).
//
// Every daemon keeps the configuration in memory. So that each sees the others' writes, every
// write that changes a mirrored table also appends the keys it touched to `vmail_log` (one row
// per transaction, numbered in commit order: writes take one transaction-level lock) and
// NOTIFYs the others; `sync()` reads the log from the last number this daemon saw and reads
// those rows again. A missed notification only delays that until the next sync.
import { AsyncLocalStorage } from 'node:async_hooks';
import KeyvPostgres from '@keyv/postgres';
import pg from 'pg';
import { UnavailableError } from '../model/errors.js';
import type { Logger } from '../support/log.js';
import { type Database, type Sql, Table } from './database.js';
import { withoutPassword } from './location.js';

/** Lock numbers (pg advisory locks, one 64-bit space per database). */
export const LOCKS = {
  /** Taken by every write transaction: log numbers commit in order. */
  log: 0x766d61696c01n,
  /** Held while a daemon changes the queue or applies it: one at a time across the service. */
  queue: 0x766d61696c02n,
  /** Held by the daemon that applies on the hour. */
  applyLease: 0x766d61696c03n,
  /** Held while a daemon creates the tables (several starting at once would collide). */
  schema: 0x766d61696c04n,
};

/** The NOTIFY channel a committed write names its log number on. */
export const LOG_CHANNEL = 'vmail_log';

/** The rows another daemon changed, by table: the row now, or undefined where it went. */
export type RemoteRows = Map<string, Map<string, unknown>>;

/** How long log rows are kept: a daemon cut off for longer reads every table again. */
const LOG_KEEP = '1 day';

/**
 * One connection to the server that runs one statement at a time, in the order asked (pg
 * queues statements sent together on one client too, but no longer promises to).
 */
export class Connection {
  private last: Promise<unknown> = Promise.resolve();

  private constructor(readonly client: pg.Client) {}

  /** Connects to `url`, named `name` in pg_stat_activity (other daemons look for it there). */
  static async open(url: string, name: string): Promise<Connection> {
    const client = new pg.Client({ connectionString: url, application_name: name.slice(0, 63) });
    await client.connect();
    return new Connection(client);
  }

  query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    // Without parameters, the simple protocol: it also takes several statements at once.
    const run = this.last.then(() => (params.length ? this.client.query(sql, params) : this.client.query(sql)));
    // The chain only keeps queries in order: this query's error reaches its caller through `run`.
    this.last = run.catch(() => {});
    return run;
  }

  /** Calls `lost` once the connection fails or the server ends it. */
  onLost(lost: (why: string) => void): void {
    this.client.on('error', (err) => lost(err.message)).on('end', () => lost('the server closed the connection'));
  }

  async end(): Promise<void> {
    // Closing a connection that failed or was closed already: nothing is left to end.
    await this.client.end().catch(() => {});
  }
}

/** The keyv PostgreSQL adapter for one table, on the database's one connection. */
class TableAdapter extends KeyvPostgres {
  private shared: ((sql: string, values?: unknown[]) => Promise<unknown[]>) | null = null;

  constructor(shared: (sql: string, values?: unknown[]) => Promise<unknown[]>, table: string) {
    // The table exists already (made with binary key order), so the adapter's own CREATE is a no-op.
    super({ uri: 'postgres://unused', table });
    this.shared = shared;
  }

  // Called from the adapter's constructor: its queries go to the shared connection, looked up
  // at each call (the constructor has not set it yet when this runs).
  override async connect() {
    return (sql: string, values?: unknown[]) => this.shared!(sql, values) as Promise<never>;
  }

  override async disconnect(): Promise<void> {}

  /**
   * One multi-row upsert per thousand rows, each value a parameter of its own, as sqlite.ts
   * does. The adapter's own passes every key and value as two text arrays (UNNEST), which pg
   * escapes a character at a time in JavaScript: a JSON row is full of quotes, and 10,000 adds
   * spent more time there than in the database. keyv reads the answer as one result per row.
   */
  override async setMany(entries: Parameters<KeyvPostgres['setMany']>[0]): Promise<void> {
    const table = `${this.opts.schema}.${this.opts.table}`;
    for (let i = 0; i < entries.length; i += 1000) {
      const rows = entries.slice(i, i + 1000);
      const sql = `INSERT INTO ${table} (key, value) VALUES ${rows.map((_, j) => `($${2 * j + 1}, $${2 * j + 2})`).join(', ')} ON CONFLICT(key) DO UPDATE SET value=excluded.value`;
      await this.shared!(
        sql,
        rows.flatMap((r) => [r.key, r.value]),
      );
    }
    return entries.map(() => true) as unknown as undefined;
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (the statements here hold no literal `?`). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  readonly where: string;
  private chain: Promise<unknown> = Promise.resolve();
  private lost: string | null = null;
  private readonly tables = new Map<string, Table<unknown>>();
  /** The keys the transaction under way has touched, by table (only the mirrored tables). */
  private touched: Map<string, Set<string>> | null = null;
  /** The last log number this daemon has read (or written). */
  private seen = 0;
  /** Told the rows other daemons changed (or 'all': read every table again). */
  onRemote: (rows: RemoteRows | 'all') => Promise<void> | void = () => {};
  /** Told once when a connection is lost: the daemon cannot go on safely without it. */
  onLost: (why: string) => void = () => {};
  private readonly sql: Sql;
  /** The transaction's connection, inside one (write, snapshot, sync). */
  private readonly inTransaction = new AsyncLocalStorage<Connection>();

  private constructor(
    readonly url: string,
    readonly node: string,
    private readonly reads: Connection,
    private readonly client: Connection,
    private readonly lockClient: Connection,
    private readonly mirrored: Set<string>,
  ) {
    this.where = withoutPassword(url);
    this.sql = async (text, params = []) => (await this.run(numbered(text), params)).rows;
    for (const c of [reads, client, lockClient]) c.onLost((why) => this.lose(why));
  }

  /** Runs a statement on the transaction's connection inside one, else on the one for reads. */
  private run(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    return (this.inTransaction.getStore() ?? this.reads).query(sql, params);
  }

  /**
   * Connects as daemon `node`; `mirrored`: the tables daemons keep in memory, whose writes
   * are logged for the others.
   */
  static async open(url: string, node: string, mirrored: string[]): Promise<PostgresDatabase> {
    const opened: Connection[] = [];
    try {
      for (let i = 0; i < 3; i++) opened.push(await Connection.open(url, `vmail:${node}`));
    } catch (err) {
      for (const c of opened) await c.end();
      throw new UnavailableError(`cannot reach the store ${withoutPassword(url)}: ${(err as Error).message}`);
    }
    const [reads, client, lockClient] = opened;
    const db = new PostgresDatabase(url, node, reads, client, lockClient, new Set(mirrored));
    await db.schema(
      `CREATE TABLE IF NOT EXISTS vmail_log (version BIGSERIAL PRIMARY KEY, node TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now(), touched JSONB NOT NULL)`,
    );
    // The daemons' heartbeats (src/cluster/node.ts).
    await db.schema(
      `CREATE TABLE IF NOT EXISTS vmail_nodes (id TEXT PRIMARY KEY, host TEXT NOT NULL, version TEXT NOT NULL, pid INTEGER NOT NULL, started_at TIMESTAMPTZ NOT NULL, seen_at TIMESTAMPTZ NOT NULL)`,
    );
    const [row] = await db.sql('SELECT coalesce(max(version), 0) AS v FROM vmail_log');
    // Read before the tables are: a write that lands in between is read again, to no harm.
    db.seen = Number(row.v);
    return db;
  }

  /** Runs DDL under the schema lock: daemons starting together do not trip over each other. */
  private schema(ddl: string): Promise<void> {
    return this.queued(async () => {
      await this.client.query('BEGIN');
      try {
        await this.client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.schema.toString()]);
        await this.client.query(ddl);
        await this.client.query('COMMIT');
      } catch (err) {
        // The DDL's own error is the one to report; PostgreSQL undoes a transaction whose connection is gone.
        await this.client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async table<T>(name: string): Promise<Table<T>> {
    // Keys compare byte by byte (COLLATE "C"), as SQLite's do: time-ordered keys stay in order.
    await this.schema(`CREATE TABLE IF NOT EXISTS ${name} (key TEXT COLLATE "C" PRIMARY KEY, value TEXT)`);
    const adapter = new TableAdapter(async (sql, values) => (await this.run(sql, values)).rows, name);
    const table = new Table<T>(adapter, name, this.sql, (t, keys) => this.wrote(t, keys));
    this.tables.set(name, table as Table<unknown>);
    return table;
  }

  private wrote(table: string, keys: string[]): void {
    if (!this.touched || !this.mirrored.has(table)) return;
    const set = this.touched.get(table) ?? new Set<string>();
    this.touched.set(table, set);
    for (const k of keys) set.add(k);
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = why;
    this.onLost(why);
  }

  get problem(): string | null {
    return this.lost ? `the store ${this.where} cannot be reached: ${this.lost}` : null;
  }

  /** Runs `fn` after every transaction before it, its statements on the transaction's connection. */
  private queued<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(() => {
      if (this.lost) throw new UnavailableError(this.problem!);
      return this.inTransaction.run(this.client, fn);
    });
    // The chain only keeps transactions in order: this one's error reaches its caller through `run`.
    this.chain = run.catch(() => {});
    return run;
  }

  write<R>(fn: () => Promise<R>): Promise<R> {
    return this.queued(async () => {
      await this.client.query('BEGIN');
      this.touched = new Map();
      try {
        await this.client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.log.toString()]);
        const result = await fn();
        if (this.touched.size) {
          const touched = Object.fromEntries([...this.touched].map(([t, keys]) => [t, [...keys]]));
          const [row] = (
            await this.client.query('INSERT INTO vmail_log (node, touched) VALUES ($1, $2) RETURNING version', [
              this.node,
              JSON.stringify(touched),
            ])
          ).rows;
          await this.client.query('SELECT pg_notify($1, $2)', [LOG_CHANNEL, String(row.version)]);
        }
        await this.client.query('COMMIT');
        return result;
      } catch (err) {
        // The write's own error is the one to report; PostgreSQL undoes a transaction whose connection is gone.
        await this.client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        this.touched = null;
      }
    });
  }

  /** One repeatable-read transaction: every read in it sees the database as it was at its start. */
  snapshot<R>(fn: () => Promise<R>): Promise<R> {
    return this.queued(async () => {
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await fn();
      } finally {
        // A read-only transaction: a COMMIT that fails has nothing to keep, and what was read stands.
        await this.client.query('COMMIT').catch(() => {});
      }
    });
  }

  /**
   * Runs `fn` while this daemon holds the queue lock: no other daemon changes the queue or
   * applies it meanwhile, and this one has read every change the others made before.
   * A daemon that dies holding it lets go with its connection.
   */
  async exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.lost) throw new UnavailableError(this.problem!);
    await this.lockClient.query('SELECT pg_advisory_lock($1)', [LOCKS.queue.toString()]);
    try {
      await this.sync();
      return await fn();
    } finally {
      // It fails only when the lock's connection broke, and PostgreSQL frees a session's advisory locks when it ends.
      await this.lockClient.query('SELECT pg_advisory_unlock($1)', [LOCKS.queue.toString()]).catch(() => {});
    }
  }

  /**
   * Reads what other daemons wrote since the last sync and hands the rows to `onRemote`.
   * Runs between this daemon's own writes, never inside one.
   */
  sync(): Promise<void> {
    return this.queued(async () => {
      const [{ low, high }] = await this.sql(
        'SELECT coalesce(min(version), 0) AS low, coalesce(max(version), 0) AS high FROM vmail_log',
      );
      if (Number(high) <= this.seen) return;
      if (Number(low) > this.seen + 1) {
        // The log no longer goes back that far: every row is read again.
        this.seen = Number(high);
        await this.onRemote('all');
        return;
      }
      const keys = new Map<string, Set<string>>();
      let upTo = this.seen;
      for (;;) {
        const rows = await this.sql(
          'SELECT version, node, touched FROM vmail_log WHERE version > ? ORDER BY version LIMIT 1000',
          [upTo],
        );
        for (const r of rows) {
          if (r.node === this.node) continue;
          for (const [t, ks] of Object.entries(r.touched as Record<string, string[]>)) {
            const set = keys.get(t) ?? new Set<string>();
            keys.set(t, set);
            for (const k of ks) set.add(k);
          }
        }
        if (rows.length) upTo = Number(rows[rows.length - 1].version);
        if (rows.length < 1000) break;
      }
      const changed: RemoteRows = new Map();
      for (const [t, ks] of keys) {
        const table = this.tables.get(t);
        if (table) changed.set(t, await table.getMany([...ks]));
      }
      this.seen = upTo;
      if (changed.size) await this.onRemote(changed);
    });
  }

  /** Drops log rows older than a day (any daemon may; one a day is enough). */
  trimLog(): Promise<number> {
    return this.queued(async () => {
      const r = await this.client.query(`DELETE FROM vmail_log WHERE at < now() - interval '${LOG_KEEP}'`);
      return r.rowCount ?? 0;
    });
  }

  startChecking(_log: Logger): void {}

  async close(): Promise<void> {
    await this.chain;
    this.lost ??= 'closed';
    await this.reads.end();
    await this.client.end();
    await this.lockClient.end();
  }
}
