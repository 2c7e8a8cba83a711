// One keyv namespace in its own SQLite table and connection, with writes serialized so that a
// batch can run inside one transaction (one fsync for many rows).
import Keyv from 'keyv';
import KeyvSqlite from '@keyv/sqlite';

/**
 * The SQLite adapter with the `setMany` that keyv uses when a store has one: one multi-row
 * upsert per few hundred rows instead of one statement (and one thread-pool trip) per row.
 */
class BatchingKeyvSqlite extends KeyvSqlite {
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

export class Table<T> {
  readonly keyv: Keyv<T>;
  private readonly sqlite: BatchingKeyvSqlite;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(file: string, readonly name: string) {
    this.sqlite = new BatchingKeyvSqlite({ uri: `sqlite://${file}`, table: name, busyTimeout: 10_000, iterationLimit: 5000 } as ConstructorParameters<typeof KeyvSqlite>[0]);
    this.keyv = new Keyv<T>({ store: this.sqlite, namespace: name });
    // Surface adapter errors through the promise that failed, not as an unhandled 'error' event.
    this.keyv.on('error', () => {});
  }

  static async open<T>(file: string, name: string): Promise<Table<T>> {
    const table = new Table<T>(file, name);
    await table.sqlite.query('PRAGMA journal_mode=WAL');
    await table.sqlite.query('PRAGMA synchronous=FULL');
    return table;
  }

  /** Runs `fn` after every earlier write on this table has finished. */
  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  async all(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const iterator = this.keyv.iterator?.(this.name);
    if (!iterator) throw new Error(`table ${this.name}: the store cannot be iterated`);
    for await (const [key, value] of iterator) out.set(String(key), value as T);
    return out;
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

  set(key: string, value: T): Promise<void> {
    return this.serial(async () => {
      await this.keyv.set(key, value);
    });
  }

  delete(key: string): Promise<void> {
    return this.serial(async () => {
      await this.keyv.delete(key);
    });
  }

  /** Sets and deletes many rows in one transaction: all of them land, or none. */
  batch(sets: Iterable<[string, T]>, deletes: Iterable<string> = []): Promise<void> {
    return this.serial(async () => {
      await this.sqlite.query('BEGIN IMMEDIATE');
      try {
        const rows = [...sets].map(([key, value]) => ({ key, value }));
        if (rows.length > 0 && !(await this.keyv.setMany(rows)).every(Boolean)) throw new Error(`table ${this.name}: a write failed`);
        const keys = [...deletes];
        // The adapter matches rows to keys with a linear search: keep each call small.
        for (let i = 0; i < keys.length; i += 200) await this.keyv.deleteMany(keys.slice(i, i + 200));
        await this.sqlite.query('COMMIT');
      } catch (err) {
        await this.sqlite.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      await this.sqlite.disconnect();
    });
  }
}
