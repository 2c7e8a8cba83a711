// Issue 30, target 1: what a start reads of the store (Table.all, Table.pages: every row, a
// page of 5,000 at a time, each key without its table's prefix as the database cut it) comes
// out exactly as it was written, on SQLite and on PostgreSQL: keys with quotes, commas and
// letters past ASCII, values keyv marks (a string starting with a colon, a Buffer), a huge
// value, an empty table, a table of exactly one page and one of a page and a row, and rows
// under another prefix in the same SQL table.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/store/database.js';
import { PostgresDatabase } from '../../src/store/postgres.js';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { Store } from '../../src/store/store.js';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';
import { cleanUp, tempDir } from '../helpers/process.js';

// No PostgreSQL is a failure, never a skip: the shared store must not ship untested.
const missing = ensurePostgres();
let pg: Postgres;
let dbs = 0;

beforeAll(async () => {
  if (missing) throw new Error(`the store-load tests need PostgreSQL: ${missing}`);
  pg = await startPostgres({ fsync: false });
}, 120_000);
afterAll(() => {
  cleanUp();
  pg?.stop();
});

interface Row {
  name: string;
  domain: string;
  note?: string;
  blob?: Buffer;
  n: number;
}

/** `count` rows `user000000@example.test`..., in key order. */
function rows(count: number): [string, Row][] {
  return Array.from({ length: count }, (_, i): [string, Row] => {
    const name = `user${String(i).padStart(6, '0')}`;
    return [`${name}@example.test`, { name, domain: 'example.test', n: i }];
  });
}

/** Byte order, as both databases compare keys (SQLite's BINARY, PostgreSQL's COLLATE "C"). */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

const backends: [string, () => Promise<Database>][] = [
  ['SQLite', () => SqliteDatabase.open(join(tempDir('vmail-load-'), 'vmail.sqlite'))],
  ['PostgreSQL', async () => PostgresDatabase.open(await pg.database(`load${++dbs}`), 'main', ['accounts'])],
];

describe.each(backends)('a start reads every row as written, on %s', (_name, open) => {
  /** Writes `written` into a new table, reads it back with all() and pages(). */
  async function roundTrip(written: [string, Row][], extra?: (db: Database) => Promise<void>) {
    const db = await open();
    try {
      const table = await db.table<Row>('accounts');
      for (let i = 0; i < written.length; i += 2000) await db.write(() => table.put(written.slice(i, i + 2000)));
      await extra?.(db);
      const all = await table.all();
      const paged: [string, string][] = [];
      for await (const page of table.pages()) paged.push(...page);
      return { all, paged };
    } finally {
      await db.close();
    }
  }

  it('an empty table reads as no rows', async () => {
    const { all, paged } = await roundTrip([]);
    expect(all.size).toBe(0);
    expect(paged).toEqual([]);
  });

  it.each([1, 5000, 5001, 10_000])(
    '%i rows: each key and value, in key order (pages of 5,000)',
    async (count) => {
      const written = rows(count);
      const { all, paged } = await roundTrip(written);
      expect([...all.keys()]).toEqual(written.map(([k]) => k));
      expect([...all.values()]).toEqual(written.map(([, v]) => v));
      expect(paged.map(([k]) => k)).toEqual(written.map(([k]) => k));
      expect(JSON.parse(paged[count - 1][1]).value).toEqual(written[count - 1][1]);
    },
    60_000,
  );

  it('keys with quotes, commas, brackets and non-ASCII letters; values keyv marks; a 5 MB value', async () => {
    const odd: [string, Row][] = [
      ['"a,b"@example.test', { name: '"a,b"', domain: 'example.test', n: 1 }],
      ["o'k],[x@example.test", { name: "o'k],[x", domain: 'example.test', n: 2 }],
      ['back\\slash@example.test', { name: 'back\\slash', domain: 'example.test', n: 3 }],
      ['jörg@exämple.test', { name: 'jörg', domain: 'exämple.test', n: 4 }],
      // keyv writes a string that starts with a colon as "::..." and a Buffer as ":base64:...".
      ['colon@example.test', { name: 'colon', domain: 'example.test', note: ':starts with a colon', n: 5 }],
      ['marker@example.test', { name: 'marker', domain: 'example.test', note: '"::" and ":base64:" inside', n: 6 }],
      ['buffer@example.test', { name: 'buffer', domain: 'example.test', blob: Buffer.from([0, 1, 255]), n: 7 }],
      ['huge@example.test', { name: 'huge', domain: 'example.test', note: 'x'.repeat(5 * 1024 * 1024), n: 8 }],
    ];
    const { all, paged } = await roundTrip([...rows(5001), ...odd]);
    expect(all.size).toBe(5001 + odd.length);
    for (const [k, v] of odd) expect(all.get(k), k).toEqual(v);
    expect(Buffer.isBuffer(all.get('buffer@example.test')!.blob)).toBe(true);
    expect(all.get('colon@example.test')!.note).toBe(':starts with a colon');
    const keys = [...all.keys()];
    expect(keys).toEqual([...keys].sort(byteOrder));
    expect(paged.map(([k]) => k)).toEqual(keys);
  }, 60_000);

  it('rows of the same SQL table under another prefix (one a hand-edit left) stay out', async () => {
    // Keys just outside [accounts:, accounts;) on both sides, and the bare prefix (an empty key).
    const strays = ['accounts', 'accounts:', 'accounts;', 'accounts;x', 'accountsx:a@example.test', 'account:a'];
    const { all } = await roundTrip(rows(3), async (db) => {
      const value = JSON.stringify({ value: { name: 'stray', domain: 'example.test', n: -1 } });
      if (db instanceof SqliteDatabase) {
        const insert =
          'import sqlite3, sys, json; c = sqlite3.connect(sys.argv[1]); c.executemany("INSERT INTO accounts (key, value) VALUES (?, ?)", [(k, sys.argv[3]) for k in json.loads(sys.argv[2])]); c.commit()';
        execFileSync('python3', ['-c', insert, db.file, JSON.stringify(strays), value]);
      } else {
        const name = (db as PostgresDatabase).url.split('/').pop()!;
        for (const k of strays) await pg.query(name, 'INSERT INTO accounts (key, value) VALUES ($1, $2)', [k, value]);
      }
    });
    expect([...all.keys()]).toEqual(rows(3).map(([k]) => k));
  });
});

it('a store of 5,001 accounts opens with each of them, counted by domain', async () => {
  const dataDir = tempDir('vmail-load-');
  const store = await Store.open(dataDir);
  const now = Date.now();
  const accounts = Array.from({ length: 5001 }, (_, i) => {
    const name = `user${String(i).padStart(6, '0')}`;
    const domain = i % 2 ? 'odd.test' : 'even.test';
    return { name, domain, passwordHash: `{X}${i}`, createdAt: now, updatedAt: now };
  });
  await store.database.write(async () => {
    const table = await store.database.table<(typeof accounts)[number]>('accounts');
    await table.put(accounts.map((a) => [`${a.name}@${a.domain}`, a]));
  });
  await store.close();
  const again = await Store.open(dataDir);
  try {
    expect(again.accounts.size).toBe(5001);
    expect(again.accounts.countIn('even.test')).toBe(2501);
    expect(again.accounts.countIn('odd.test')).toBe(2500);
    expect(again.accounts.get('user005000@even.test')?.passwordHash).toBe('{X}5000');
  } finally {
    await again.close();
  }
}, 60_000);
