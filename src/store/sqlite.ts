// The embedded store: one SQLite file, one connection shared by every keyv table in it, so that
// one transaction can span tables. Writes run one at a time, each in its own transaction. It
// also watches its file: deleted or replaced under the daemon, writes are refused and a copy
// of what the daemon holds is saved; a write-ahead log that keeps growing is checkpointed.
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import KeyvSqlite from '@keyv/sqlite';
import { UnavailableError } from '../model/errors.js';
import type { Logger } from '../support/log.js';
import { type Database, type Sql, Table } from './database.js';

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

/** How long a write waits for another process (a backup, a sqlite3 shell) to let go. */
const BUSY_TIMEOUT_MS = 10_000;
/** A write-ahead log past this size means checkpoints are not keeping up: try, and say so. */
const WAL_WARN_BYTES = 16 * 1024 * 1024;
const CHECK_MS = 2000;

/** The store file was deleted or replaced under the running daemon. */
class StoreLostError extends UnavailableError {}

/**
 * The key from its character `from` on, cut as bytes: SQLite's substr of a text stops at a NUL
 * in it ("a\0b" read back as "a", and a page ending on such a key would start the next page
 * before it). The prefix cut is ASCII, so its bytes are its characters.
 */
const sqliteKeyFrom = (from: number) => `CAST(substr(CAST(key AS BLOB), ${from}) AS TEXT)`;

export class SqliteDatabase implements Database {
  readonly kind = 'sqlite';
  private chain: Promise<unknown> = Promise.resolve();
  private lostHow: 'deleted' | 'replaced' | null = null;
  private rescuedTo: string | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private walWarnedAt = 0;
  /** Called once, when the file is first found gone or replaced. */
  onLost: () => void = () => {};
  private readonly sql: Sql;

  private constructor(
    readonly file: string,
    private readonly connection: KeyvSqlite,
    private readonly identity: { dev: number; ino: number },
  ) {
    this.sql = (text, params = []) => connection.query(text, ...params) as Promise<Record<string, unknown>[]>;
  }

  get where(): string {
    return this.file;
  }

  static async open(file: string): Promise<SqliteDatabase> {
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
    return new SqliteDatabase(file, connection, { dev: st.dev, ino: st.ino });
  }

  async table<T>(name: string): Promise<Table<T>> {
    const adapter = new TableAdapter(this.connection.query, name);
    await this.connection.query(`CREATE TABLE IF NOT EXISTS ${name}(key VARCHAR(255) PRIMARY KEY, value TEXT )`);
    return new Table<T>(adapter, name, this.sql, undefined, sqliteKeyFrom);
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
        // The write's own error is the one to report; SQLite undoes a transaction left open when the connection fails.
        await this.connection.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
    // The chain only keeps writes in order: this write's error reaches its caller through `run`.
    this.chain = run.catch(() => {});
    return run;
  }

  /** A read transaction: WAL mode keeps its view while a running daemon writes. */
  snapshot<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(async () => {
      await this.connection.query('BEGIN DEFERRED');
      try {
        return await fn();
      } finally {
        // A read transaction: a COMMIT that fails has nothing to keep, and what was read stands.
        await this.connection.query('COMMIT').catch(() => {});
      }
    });
    // The chain only keeps transactions in order: this one's error reaches its caller through `run`.
    this.chain = run.catch(() => {});
    return run;
  }

  /** One daemon per file: its own lock (the change queue's) is the only one needed. */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return fn();
  }

  /**
   * Checks that the path still names the file the daemon opened. Deleted or replaced (an `rm`,
   * a restore moved over it), writes would go to a file nobody will ever open again: the daemon
   * refuses them from then on, and says why. Returns the problem, or null.
   */
  async checkFile(): Promise<string | null> {
    if (!this.lostHow) {
      // Not to be found (gone, or its folder is): a daemon starting now would not find it either.
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
    await this.copyTo(to);
    this.rescuedTo = to;
  }

  /** Copies the whole database, as of one moment between transactions, into the new file `to`. */
  async copyTo(to: string): Promise<void> {
    const run = this.chain.then(() => this.connection.query('VACUUM INTO ?', to));
    // The chain only keeps statements in order: the copy's error reaches its caller through `run`.
    this.chain = run.catch(() => {});
    await run;
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
    // The chain only keeps statements in order: the checkpoint's error reaches its caller through `run`.
    this.chain = run.catch(() => {});
    return run;
  }

  /**
   * Looks at the file every few seconds: deleted or replaced under the daemon, it says so at
   * once and saves a copy of what the daemon holds next to it; a write-ahead log that keeps
   * growing (a reader holding it, e.g. a sqlite3 shell left open) is checkpointed, or reported.
   */
  startChecking(log: Logger): void {
    this.onLost = () => {
      const copy = `${this.file}.rescued-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      void stat(dirname(copy))
        .then(() => this.rescue(copy).then(() => true))
        // Not saved: the log line below says that no copy could be made.
        .catch(() => false)
        .then((saved) =>
          log.error('store lost', {
            file: this.file,
            problem: this.problem,
            copy: saved ? copy : 'none could be saved',
          }),
        );
    };
    const check = async () => {
      if (await this.checkFile()) return;
      // No WAL file: nothing has grown to check.
      const wal = await stat(`${this.file}-wal`).catch(() => null);
      if (!wal || wal.size < WAL_WARN_BYTES) return;
      // A checkpoint that failed is one not done: warned about below, like one a reader holds up.
      const done = await this.checkpoint().catch(() => false);
      if (!done && Date.now() - this.walWarnedAt > 10 * 60_000) {
        this.walWarnedAt = Date.now();
        log.warning('store wal stuck', {
          file: `${this.file}-wal`,
          mb: Math.round(wal.size / 1048576),
          why: 'another process holds a read transaction on the store: close any sqlite3 shell or backup reading it',
        });
      } else if (done && this.walWarnedAt) {
        this.walWarnedAt = 0;
        log.notice('store wal checkpointed', { file: `${this.file}-wal` });
      }
    };
    const loop = () => {
      this.checkTimer = setTimeout(
        () =>
          void check()
            // Said, and tried again at the next round: the store's file may be in trouble.
            .catch((err: Error) => log.warning('store check failed', { file: this.file, error: err.message }))
            .finally(loop),
        CHECK_MS,
      );
      this.checkTimer.unref();
    };
    loop();
  }

  async close(): Promise<void> {
    if (this.checkTimer) clearTimeout(this.checkTimer);
    await this.chain;
    await this.connection.disconnect();
  }
}
