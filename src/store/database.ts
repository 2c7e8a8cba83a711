// What the store needs from a database, whichever it is: keyv tables whose writes run inside
// one transaction across tables (an applied chunk changes accounts, forwards, the apply log and
// the queue together, or not at all). SQLite (sqlite.ts) is the embedded default; PostgreSQL
// (postgres.ts) lets several daemons share one store.
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';
import Keyv, { type DeserializedData, type KeyvStoreAdapter } from 'keyv';
import type { Logger } from '../support/log.js';

/** Runs one statement with `?` placeholders on the database's connection; resolves to its rows. */
export type Sql = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

export interface Database {
  readonly kind: 'sqlite' | 'postgres';
  /** The file, or the server and database name (never a password): for messages. */
  readonly where: string;
  table<T>(name: string): Promise<Table<T>>;
  /** Runs `fn`'s writes as one transaction, after every earlier write has finished: all land, or none. */
  write<R>(fn: () => Promise<R>): Promise<R>;
  /** Runs `fn`'s reads on one consistent view of the database, while others may write. */
  snapshot<R>(fn: () => Promise<R>): Promise<R>;
  /** Runs `fn` alone among every daemon on this database (one daemon: at once). */
  exclusive<R>(fn: () => Promise<R>): Promise<R>;
  /** Why writes are refused, or null. */
  readonly problem: string | null;
  /** Starts the database's own upkeep (checks, checkpoints), reported through `log`. */
  startChecking(log: Logger): void;
  close(): Promise<void>;
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

/**
 * keyv's text for `data`, made by JSON.stringify where that is the same text: keyv's own
 * serializer builds it in JavaScript, a string at a time (a tenth of a 10,000-add apply's
 * time), and differs from JSON only for a Buffer (":base64:..."), a string that starts with a
 * colon (escaped "::..."), a function in an array (left out) and a toJSON (its answer escaped):
 * a value holding any of these is given to keyv's serializer.
 */
export function serialize(data: unknown): string {
  return plainJson(data) ? JSON.stringify(data) : defaultSerialize(data);
}

/** True when JSON.stringify makes keyv's text for `v` (see serialize). */
function plainJson(v: unknown): boolean {
  if (typeof v === 'string') return v.charCodeAt(0) !== 58; // ':'
  // undefined at the top (keyv: "null") and a symbol (keyv: a bare `undefined`) go to keyv's.
  if (typeof v !== 'object' || v === null) return typeof v !== 'function' && typeof v !== 'symbol' && v !== undefined;
  // keyv calls any truthy toJSON (and throws on one that is no function).
  if (Buffer.isBuffer(v) || (v as { toJSON?: unknown }).toJSON) return false;
  // keyv lists an array with for-in: holes left out, extra properties put in.
  if (Array.isArray(v)) return Object.keys(v).length === v.length && v.every(plainJson);
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    // An own property left out by both (undefined, a function) needs no look.
    if (x !== undefined && typeof x !== 'function' && !plainJson(x)) return false;
  }
  return true;
}

/** One keyv namespace in its own table. Its writes only run inside `Database.write`. */
export class Table<T> {
  readonly keyv: Keyv<T>;

  /**
   * `adapter`: the keyv adapter, on the database's connection; `sql`: that connection for the
   * queries keyv has no call for; `wrote`: told the keys each write touched.
   */
  constructor(
    adapter: unknown,
    readonly name: string,
    private readonly sql: Sql,
    private readonly wrote: (table: string, keys: string[]) => void = () => {},
    /** SQL for the key from its character `from` on (SQLite's differs: sqlite.ts). */
    private readonly keyFrom: (from: number) => string = (from) => `substr(key, ${from})`,
  ) {
    this.keyv = new Keyv<T>({ store: adapter as KeyvStoreAdapter, namespace: name, serialize, deserialize });
    // Surface adapter errors through the promise that failed, not as an unhandled 'error' event.
    this.keyv.on('error', () => {});
  }

  /**
   * Every row, read a few thousand at a time in key order (keyv's iterator reads ten rows per
   * query, each from an offset: quadratic at 100,000 rows; one query for all of them would
   * hold every row twice at once).
   */
  async all(): Promise<Map<string, T>>;
  /** Every row into `into` (the store's own map: 100,000 rows are not held in a second map first). */
  async all<M extends Map<string, T>>(into: M): Promise<M>;
  async all(into = new Map<string, T>()): Promise<Map<string, T>> {
    // Each row straight from the query's answer: no [key, value] pair per row.
    for await (const rows of this.stored()) for (const r of rows) into.set(r.k, this.parse(r.value) as T);
    return into;
  }

  /** Every row as stored (key unprefixed, value as keyv's text), a page at a time: for copying a store. */
  async *pages(): AsyncGenerator<[string, string][]> {
    for await (const rows of this.stored()) yield rows.map((r) => [r.k, r.value]);
  }

  /**
   * Every row as the query answers it, a page at a time in key order. The key comes without its
   * prefix from the database itself: a key cut in JS would be a slice that keeps the whole
   * prefixed key alive beside it (100,000 of each, for the life of the daemon). Named `k`, not
   * `key`: ORDER BY would take the cut key for the column and sort every row, past the index.
   */
  private async *stored(): AsyncGenerator<{ k: string; value: string }[]> {
    const prefix = `${this.name}:`;
    // ';' is the character after ':', so [prefix, name;) is every key with the prefix.
    let after = prefix;
    for (;;) {
      const rows = (await this.sql(
        `SELECT ${this.keyFrom(prefix.length + 1)} AS k, value FROM ${this.name} WHERE key > ? AND key < ? ORDER BY key LIMIT ${PAGE_ROWS}`,
        [after, `${this.name};`],
      )) as { k: string; value: string }[];
      yield rows;
      if (rows.length < PAGE_ROWS) return;
      after = prefix + rows[rows.length - 1].k;
    }
  }

  /**
   * Writes rows as `pages` gave them (another store's copy, or values already in keyv's text),
   * inside `Database.write`. Tells `wrote` nothing: not for the tables mirrored in memory.
   */
  async putText(rows: [string, string][]): Promise<void> {
    const prefix = `${this.name}:`;
    for (let i = 0; i < rows.length; i += 400) {
      const part = rows.slice(i, i + 400);
      await this.sql(
        `INSERT INTO ${this.name} (key, value) VALUES ${part.map(() => '(?, ?)').join(', ')} ON CONFLICT(key) DO UPDATE SET value=excluded.value`,
        part.flatMap(([k, v]) => [prefix + k, v]),
      );
    }
  }

  /** How many rows the table has. */
  async count(): Promise<number> {
    const [row] = await this.sql(`SELECT count(*) AS n FROM ${this.name}`);
    return Number(row?.n ?? 0);
  }

  private parse(text: string): T | undefined {
    return deserialize<T>(text)?.value as T | undefined;
  }

  get(key: string): Promise<T | undefined> {
    return this.keyv.get(key) as Promise<T | undefined>;
  }

  /**
   * The rows of `keys` (undefined where there is none): a few queries for many keys. A failed
   * query throws (keyv's own getMany would answer "none" for every key).
   */
  async getMany(keys: string[]): Promise<Map<string, T | undefined>> {
    const prefix = `${this.name}:`;
    const out = new Map<string, T | undefined>(keys.map((k) => [k, undefined]));
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = (await this.sql(
        `SELECT key, value FROM ${this.name} WHERE key IN (${chunk.map(() => '?').join(', ')})`,
        chunk.map((k) => prefix + k),
      )) as { key: string; value: string }[];
      for (const r of rows) out.set(r.key.slice(prefix.length), this.parse(r.value));
    }
    return out;
  }

  /** Which of `keys` have a row. */
  async present(keys: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const [k, v] of await this.getMany(keys)) if (v !== undefined) out.add(k);
    return out;
  }

  /**
   * Rows whose keys lie in [from, to), newest (highest key) first, at most `limit`: a range of
   * a table whose keys sort in time order, read with one query.
   */
  async range(from: string, to: string, limit: number): Promise<[string, T][]> {
    const prefix = `${this.name}:`;
    const rows = (await this.sql(
      `SELECT key, value FROM ${this.name} WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?`,
      [prefix + from, prefix + to, limit],
    )) as { key: string; value: string }[];
    return rows.flatMap((r): [string, T][] => {
      const v = this.parse(r.value);
      return v === undefined ? [] : [[r.key.slice(prefix.length), v]];
    });
  }

  /**
   * As `range`, with, in place of each row's value, how many times it holds any of `marks`,
   * counted by the database: a caller that only counts reads numbers, not rows of text (the
   * trail's trim read up to 1,000 events' text every write of a busy address, all of it copied
   * into the JavaScript heap to be counted and dropped).
   */
  async rangeCounts(from: string, to: string, limit: number, marks: string[]): Promise<[string, number][]> {
    const prefix = `${this.name}:`;
    const count = marks.map((m) => `(length(value) - length(replace(value, ?, ''))) / ${m.length}`).join(' + ');
    const rows = (await this.sql(
      `SELECT key, ${count} AS n FROM ${this.name} WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?`,
      [...marks, prefix + from, prefix + to, limit],
    )) as { key: string; n: number | string }[];
    return rows.map((r) => [r.key.slice(prefix.length), Number(r.n)]);
  }

  /** Deletes the rows whose keys sort before `key`; returns how many went. Only inside `Database.write`. */
  async removeBefore(key: string): Promise<number> {
    const prefix = `${this.name}:`;
    const [row] = await this.sql(`SELECT count(*) AS n FROM ${this.name} WHERE key >= ? AND key < ?`, [
      prefix,
      prefix + key,
    ]);
    await this.sql(`DELETE FROM ${this.name} WHERE key >= ? AND key < ?`, [prefix, prefix + key]);
    return Number(row?.n ?? 0);
  }

  /**
   * Within keys [from, to): deletes those before `before`, and all but the newest `keep` of the
   * rest. Only inside `Database.write`. Returns how many went.
   */
  async trim(from: string, to: string, keep: number, before: string): Promise<number> {
    const prefix = `${this.name}:`;
    const [cut] = await this.sql(
      `SELECT key FROM ${this.name} WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT 1 OFFSET ${Math.floor(keep)}`,
      [prefix + from, prefix + to],
    );
    // Older than `before`, or at or below the (keep+1)-th newest: both ends inside [from, to).
    const where = `key >= ? AND key < ? AND (key < ? OR key <= ?)`;
    const params = [prefix + from, prefix + to, prefix + before, cut ? String(cut.key) : ''];
    const [row] = await this.sql(`SELECT count(*) AS n FROM ${this.name} WHERE ${where}`, params);
    const n = Number(row?.n ?? 0);
    if (n) await this.sql(`DELETE FROM ${this.name} WHERE ${where}`, params);
    return n;
  }

  /** The first key after `after` (unprefixed), or null: walks a table's key groups without reading them. */
  async keyAfter(after: string): Promise<string | null> {
    const prefix = `${this.name}:`;
    const [row] = await this.sql(`SELECT key FROM ${this.name} WHERE key > ? AND key < ? ORDER BY key LIMIT 1`, [
      prefix + after,
      `${this.name};`,
    ]);
    return row ? String(row.key).slice(prefix.length) : null;
  }

  async put(rows: Iterable<[string, T]>): Promise<void> {
    const entries = [...rows].map(([key, value]) => ({ key, value }));
    if (!entries.length) return;
    if (!(await this.keyv.setMany(entries)).every(Boolean)) throw new Error(`table ${this.name}: a write failed`);
    this.wrote(
      this.name,
      entries.map((e) => e.key),
    );
  }

  async remove(keys: Iterable<string>): Promise<void> {
    const all = [...keys];
    // The SQLite adapter matches rows to keys with a linear search: keep each call small.
    for (let i = 0; i < all.length; i += 200) await this.keyv.deleteMany(all.slice(i, i + 200));
    if (all.length) this.wrote(this.name, all);
  }
}
