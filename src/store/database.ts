// The SQLite file under the store: one connection shared by every keyv table in it, so that one
// transaction can span tables (an applied chunk changes accounts, forwards, the apply log and
// the queue together, or not at all). Writes run one at a time, each in its own transaction.
import { stat } from 'node:fs/promises';
import { defaultDeserialize } from '@keyv/serialize';
import KeyvSqlite from '@keyv/sqlite';
import Keyv, { type DeserializedData } from 'keyv';
import { UnavailableError } from '../model/errors.js';

type Query = (sql: string, ...params: unknown[]) => Promise<unknown[]>;

/**
 * The keyv SQLite adapter for one table, running its statements on the database's shared
 * connection. It also gives keyv the `setMany` it uses when an adapter has one: one multi-row
 * upsert per few hundred rows instead of a statement (and a thread-pool trip) per row.
 */
class TableAdapter extends KeyvSqlite {
  constructor(shared: Query, table: string) {
    // The adapter always opens a connection of its own: give it a throwaway in-memory one,
    // close that, and run everything on the shared connection instead.
    super({ uri: 'sqlite://:memory:', table });
    void this.close().catch(() => {});
    this.query = shared as KeyvSqlite['query'];
    this.close = async () => {};
  }

  async setMany(entries: { key: string; value: unknown }[]): Promise<boolean[]> {
    const table = this.opts.table as string;
    for (let i = 0; i < entries.length; i += 400) {
      const rows = entries.slice(i, i + 400);
      const sql = `INSERT INTO ${table} (key, value) VALUES ${rows.map(() => '(?, ?)').join(', ')} ON CONFLICT(key) DO UPDATE SET value=excluded.value`;
      await this.query(sql, ...rows.flatMap((r) => [r.key, r.value]));
    }
    return entries.map(() => true);
  }
}

const PAGE_ROWS = 5000;

/**
 * keyv's own reading of its stored text, without its per-value reviver where nothing needs
 * one: keyv marks a Buffer as `":base64:` and a string that starts with a colon as `"::`, so a
 * text without either is plain JSON (three times faster to read 100,000 accounts).
 */
function deserialize<V>(text: string): DeserializedData<V> | undefined {
  return text.includes('"::') || text.includes('":base64:') ? defaultDeserialize(text) : JSON.parse(text);
}

/** One keyv namespace in its own SQLite table. Its writes only run inside `Database.write`. */
export class Table<T> {
  readonly keyv: Keyv<T>;

  constructor(
    private readonly adapter: TableAdapter,
    readonly name: string,
  ) {
    this.keyv = new Keyv<T>({ store: adapter, namespace: name, deserialize });
    // Surface adapter errors through the promise that failed, not as an unhandled 'error' event.
    this.keyv.on('error', () => {});
  }

  /**
   * Every row, read a few thousand at a time in key order (keyv's iterator reads ten rows per
   * query, each from an offset: quadratic at 100,000 rows; one query for all of them would
   * hold every row twice at once).
   */
  async all(): Promise<Map<string, T>> {
    const prefix = `${this.name}:`;
    const out = new Map<string, T>();
    // ';' is the character after ':', so [prefix, name;) is every key with the prefix.
    let after = prefix;
    for (;;) {
      const rows = await this.rows(
        `SELECT key, value FROM ${this.name} WHERE key > ? AND key < ? ORDER BY key LIMIT ${PAGE_ROWS}`,
        after,
        `${this.name};`,
      );
      for (const [k, v] of rows) out.set(k, v);
      if (rows.length < PAGE_ROWS) return out;
      after = prefix + rows[rows.length - 1][0];
    }
  }

  get(key: string): Promise<T | undefined> {
    return this.keyv.get(key) as Promise<T | undefined>;
  }

  /** Which of `keys` have a row: a few queries for many keys, not one per key. */
  async present(keys: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const values = await this.keyv.getMany(chunk);
      chunk.forEach((k, j) => {
        if (values[j] !== undefined) out.add(k);
      });
    }
    return out;
  }

  /**
   * Rows whose keys lie in [from, to), newest (highest key) first, at most `limit`: a range of
   * a table whose keys sort in time order, read with one query.
   */
  range(from: string, to: string, limit: number): Promise<[string, T][]> {
    const prefix = `${this.name}:`;
    return this.rows(
      `SELECT key, value FROM ${this.name} WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?`,
      prefix + from,
      prefix + to,
      limit,
    );
  }

  /** The rows a query selects (key, value), with keys unprefixed and values as keyv stored them. */
  private async rows(sql: string, ...params: unknown[]): Promise<[string, T][]> {
    const prefix = `${this.name}:`;
    const rows = (await this.adapter.query(sql, ...params)) as { key: string; value: string }[];
    const out: [string, T][] = [];
    for (const row of rows) {
      const data = await this.keyv.deserialize?.(row.value);
      if (data) out.push([row.key.slice(prefix.length), data.value as T]);
    }
    return out;
  }

  /** Deletes the rows whose keys sort before `key`; returns how many went. Only inside `Database.write`. */
  async removeBefore(key: string): Promise<number> {
    const prefix = `${this.name}:`;
    const [row] = (await this.adapter.query(
      `SELECT count(*) AS n FROM ${this.name} WHERE key >= ? AND key < ?`,
      prefix,
      prefix + key,
    )) as { n: number }[];
    await this.adapter.query(`DELETE FROM ${this.name} WHERE key >= ? AND key < ?`, prefix, prefix + key);
    return row?.n ?? 0;
  }

  async put(rows: Iterable<[string, T]>): Promise<void> {
    const entries = [...rows].map(([key, value]) => ({ key, value }));
    if (entries.length > 0 && !(await this.keyv.setMany(entries)).every(Boolean))
      throw new Error(`table ${this.name}: a write failed`);
  }

  async remove(keys: Iterable<string>): Promise<void> {
    const all = [...keys];
    // The adapter matches rows to keys with a linear search: keep each call small.
    for (let i = 0; i < all.length; i += 200) await this.keyv.deleteMany(all.slice(i, i + 200));
  }
}

/** How long a write waits for another process (a backup, a sqlite3 shell) to let go. */
const BUSY_TIMEOUT_MS = 10_000;

/** The store file was deleted or replaced under the running daemon. */
class StoreLostError extends UnavailableError {}

export class Database {
  private chain: Promise<unknown> = Promise.resolve();
  private lostHow: 'deleted' | 'replaced' | null = null;
  private rescuedTo: string | null = null;
  /** Called once, when the file is first found gone or replaced. */
  onLost: () => void = () => {};

  private constructor(
    readonly file: string,
    private readonly connection: KeyvSqlite,
    private readonly identity: { dev: number; ino: number },
  ) {}

  static async open(file: string): Promise<Database> {
    const connection = new KeyvSqlite({
      uri: `sqlite://${file}`,
      table: 'meta',
      busyTimeout: BUSY_TIMEOUT_MS,
      iterationLimit: 5000,
    } as ConstructorParameters<typeof KeyvSqlite>[0]);
    connection.on('error', () => {});
    await connection.query('PRAGMA journal_mode=WAL');
    await connection.query('PRAGMA synchronous=FULL');
    const st = await stat(file);
    return new Database(file, connection, { dev: st.dev, ino: st.ino });
  }

  async table<T>(name: string): Promise<Table<T>> {
    const adapter = new TableAdapter(this.connection.query, name);
    await this.connection.query(`CREATE TABLE IF NOT EXISTS ${name}(key VARCHAR(255) PRIMARY KEY, value TEXT )`);
    return new Table<T>(adapter, name);
  }

  /**
   * Runs `fn`'s writes as one transaction, after every earlier write has finished: they all
   * land, or none do. Refused once the file is no longer the one the daemon opened.
   */
  write<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(async () => {
      const lost = await this.checkFile();
      if (lost) throw new StoreLostError(lost);
      await this.connection.query('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        await this.connection.query('COMMIT');
        return result;
      } catch (err) {
        await this.connection.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /**
   * Checks that the path still names the file the daemon opened. Deleted or replaced (an `rm`,
   * a restore moved over it), writes would go to a file nobody will ever open again: the daemon
   * refuses them from then on, and says why. Returns the problem, or null.
   */
  async checkFile(): Promise<string | null> {
    if (!this.lostHow) {
      const st = await stat(this.file).catch(() => null);
      if (!st) this.lostHow = 'deleted';
      else if (st.dev !== this.identity.dev || st.ino !== this.identity.ino) this.lostHow = 'replaced';
      if (this.lostHow) this.onLost();
    }
    return this.problem;
  }

  get problem(): string | null {
    if (!this.lostHow) return null;
    const fix = this.rescuedTo
      ? `a copy as the daemon had it is in ${this.rescuedTo}: stop the daemon, move that copy to ${this.file}, start it again`
      : 'stop the daemon, put the file back, start it again';
    return `the store ${this.file} was ${this.lostHow} while the daemon ran: changes are refused (nothing was changed); ${fix}`;
  }

  /**
   * Copies the database as the daemon still sees it into `to` (the open connection keeps a
   * deleted file readable), so what went with the path can be put back.
   */
  async rescue(to: string): Promise<void> {
    const run = this.chain.then(() => this.connection.query('VACUUM INTO ?', to));
    this.chain = run.catch(() => {});
    await run;
    this.rescuedTo = to;
  }

  /**
   * Checkpoints the WAL into the main file and truncates it, between transactions; false if a
   * reader in another process holds it back.
   */
  checkpoint(): Promise<boolean> {
    const run = this.chain.then(async () => {
      // Without waiting: a reader that holds the log back is reported, not waited for.
      await this.connection.query('PRAGMA busy_timeout=0');
      try {
        const rows = (await this.connection.query('PRAGMA wal_checkpoint(TRUNCATE)')) as { busy: number }[];
        return rows[0]?.busy === 0;
      } finally {
        await this.connection.query(`PRAGMA busy_timeout=${BUSY_TIMEOUT_MS}`);
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.connection.disconnect();
  }
}
