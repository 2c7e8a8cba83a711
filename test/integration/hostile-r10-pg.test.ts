// Hostile round 10: PostgreSQL TableAdapter.setMany as multi-row VALUES (postgres.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';

// No PostgreSQL is a failure, never a skip.
const missing = ensurePostgres();

type Db = Awaited<ReturnType<typeof import('../../src/store/postgres.js').PostgresDatabase.open>>;

/** The message a write fails with, or null when it commits. */
function writeError(db: Db, fn: () => Promise<unknown>): Promise<string | null> {
  return db.write(fn).then(
    () => null,
    (e: Error) => e.message,
  );
}

describe('hostile r10: PostgreSQL setMany', () => {
  let pg: Postgres;
  let url: string;
  beforeAll(async () => {
    if (missing) throw new Error(`these tests need PostgreSQL: ${missing}`);
    pg = await startPostgres({ fsync: false });
    url = await pg.database('hostile_r10');
  }, 60_000);
  afterAll(() => pg?.stop());

  /** Runs `fn` on a database connection as daemon `node`, closed after. */
  async function withDb(node: string, fn: (db: Db) => Promise<void>): Promise<void> {
    const { PostgresDatabase } = await import('../../src/store/postgres.js');
    const db = await PostgresDatabase.open(url, node, []);
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  }

  const nasty = (i: number) => ({
    text: `q'uote "dq" back\\slash \u0000nul \u2028 é 😀 \ud800 $1 $$ ${i} ' OR 1=1; --`,
    list: [`'`, `\\`, `"`, `\u0000`],
    n: i,
  });

  it('2,500 rows with quotes, backslashes, NUL, unicode and "$1" in keys and values: all read back alike', async () => {
    await withDb('hostile', async (db) => {
      const t = await db.table<ReturnType<typeof nasty>>('hostile_rows');
      const rows: [string, ReturnType<typeof nasty>][] = [];
      for (let i = 0; i < 2500; i++) rows.push([`k'${i}"\\é😀$${i}`, nasty(i)]);
      await db.write(() => t.put(rows));
      const back = await t.all();
      expect(back.size).toBe(2500);
      for (const [k, v] of rows) expect(back.get(k)).toEqual(JSON.parse(JSON.stringify(v)));
      // Overwrite half (ON CONFLICT), more than one batch of 1,000.
      const again = rows.slice(0, 1250).map(([k, v]) => [k, { ...v, n: -v.n }] as [string, ReturnType<typeof nasty>]);
      await db.write(() => t.put(again));
      const back2 = await t.all();
      expect(back2.size).toBe(2500);
      expect(back2.get(rows[999][0])!.n).toBe(-999);
      expect(back2.get(rows[1000][0])!.n).toBe(-1000);
      expect(back2.get(rows[1250][0])!.n).toBe(1250);
    });
  }, 60_000);

  it('a write that fails in its second batch of 1,000 leaves nothing (one transaction)', async () => {
    await withDb('hostile2', async (db) => {
      const t = await db.table<{ n: number }>('hostile_tx');
      const rows: [string, { n: number }][] = [];
      for (let i = 0; i < 1500; i++) rows.push([`k${i}`, { n: i }]);
      rows.push(['bad\u0000key', { n: -1 }]); // PostgreSQL text holds no NUL: the statement fails
      const err = await writeError(db, () => t.put(rows));
      expect(err).not.toBeNull();
      expect((await t.all()).size).toBe(0);
    });
  }, 60_000);

  it('the same key twice in one put', async () => {
    await withDb('hostile3', async (db) => {
      const t = await db.table<{ n: number }>('hostile_dup');
      const err = await writeError(db, () =>
        t.put([
          ['same', { n: 1 }],
          ['same', { n: 2 }],
        ]),
      );
      // As the UNNEST upsert before it: "ON CONFLICT DO UPDATE command cannot affect row a second
      // time" (SQLite's multi-row upsert takes the last); nothing written. No caller puts a key twice.
      expect(err).not.toBeNull();
      expect((await t.all()).size).toBe(0);
    });
  }, 60_000);
});
