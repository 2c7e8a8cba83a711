// The trail's packed rows (src/store/trail.ts, issue 31's bench): one row per address per write
// holding that batch's events as an array, so a POP3 session that fetches and deletes hundreds
// of messages writes a few rows, not two per message. Judged by the rows in the store and by
// what query() reads back: newest first, the per-address cap counted in events, rows stored one
// event each by the schema-3 code read beside packed ones, and the attacker's batches (20,000
// events for one address, 20,000 distinct unknown addresses) kept small and bounded.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import {
  EVENT_MARKS,
  eventsIn,
  PACK,
  Trail,
  type TrailRecord,
  type TrailRow,
  UNKNOWN_CAP,
} from '../../src/store/trail.js';
import { tempDir } from '../helpers/daemon.js';

const BOX = 'box@example.test';

async function open() {
  const db = await SqliteDatabase.open(join(tempDir('trail-pack-'), 'store.sqlite'));
  const known = await db.table<TrailRow>('trail');
  const unknown = await db.table<TrailRecord>('trail_unknown');
  const trail = new Trail(db, known, unknown, 'node-a', (a) => a === BOX);
  return { db, known, unknown, trail };
}

/** Every row of a table as stored: [key, value parsed from keyv's text]. */
async function rows(t: { pages(): AsyncGenerator<[string, string][]> }): Promise<[string, TrailRow][]> {
  const out: [string, TrailRow][] = [];
  for await (const page of t.pages()) for (const [k, text] of page) out.push([k, JSON.parse(text).value]);
  return out;
}

const events = (v: TrailRow) => (Array.isArray(v) ? v.length : 1);

/** Notes a POP3 fetch of message `i` (retrieved, then deleted) for BOX. */
function fetchOne(trail: Trail, i: number, at?: number) {
  for (const event of ['retrieved', 'deleted'] as const)
    trail.note({ event, at, address: BOX, client: '127.0.0.1', detail: { uidl: `u${i}`, n: i } });
}

describe('the trail packs one row per address per write', () => {
  it('three events of one address in one batch: one row holding all three, read back newest first', async () => {
    const { db, known, trail } = await open();
    try {
      const at = 1_800_000_000_000;
      trail.note({ event: 'login', at, address: BOX, client: '::1', detail: { service: 'pop3' } });
      trail.note({ event: 'retrieved', at: at + 1, address: BOX, client: '::1', detail: { uidl: 'a' } });
      trail.note({ event: 'deleted', at: at + 2, address: BOX, client: '::1', detail: { uidl: 'a' } });
      await trail.flush();
      const stored = await rows(known);
      expect(stored).toHaveLength(1);
      expect(stored[0][0]).toBe(`${BOX} ${String(at).padStart(15, '0')}.000000.node-a`);
      expect(Array.isArray(stored[0][1]) && stored[0][1].map((r) => r.event)).toEqual([
        'login',
        'retrieved',
        'deleted',
      ]);
      expect((await trail.query(BOX)).map((r) => [r.event, r.client])).toEqual([
        ['deleted', '::1'],
        ['retrieved', '::1'],
        ['login', '::1'],
      ]);
    } finally {
      await db.close();
    }
  });

  it("events wait as their stored text: UTF-8 and strings that start with ':' read back as noted, known and unknown", async () => {
    const { db, known, unknown, trail } = await open();
    try {
      const odd = { reason: ':colon', from: 'Zoë <ü@example.org>', helo: '€uro', size: 12, tls: true, gone: undefined };
      const at = Date.now() - 1000;
      for (const address of [BOX, 'nobody@example.test'])
        trail.note({ event: 'refused', at, address, messageId: '<:€@x>', queueId: ':q', client: '::1', detail: odd });
      await trail.flush();
      const expected = {
        at,
        node: 'node-a',
        event: 'refused',
        messageId: '<:€@x>',
        queueId: ':q',
        client: '::1',
        detail: { reason: ':colon', from: 'Zoë <ü@example.org>', helo: '€uro', size: 12, tls: true },
      };
      expect(await trail.query(BOX)).toEqual([{ ...expected, address: BOX }]);
      expect(await trail.query('nobody@example.test')).toEqual([{ ...expected, address: 'nobody@example.test' }]);
      // As keyv writes them: a string that starts with ':' has one more in the text.
      const texts: string[] = [];
      for await (const page of known.pages()) for (const [, t] of page) texts.push(t);
      expect(texts).toHaveLength(1);
      const [text] = texts;
      expect(text).toContain('"client":":::1"');
      expect(text).toContain('"reason":"::colon"');
      expect((await rows(unknown)).length).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('a POP3 session of 300 fetches and deletes written in batches: a few rows, not 600', async () => {
    const { db, known, trail } = await open();
    try {
      // About 60 messages per 200 ms flush, as a fast POP3 client makes them.
      for (let i = 0; i < 300; i++) {
        fetchOne(trail, i);
        if (i % 60 === 59) await trail.flush();
      }
      await trail.flush();
      const stored = await rows(known);
      // Five writes of 120 events: each in rows of at most PACK (10 rows at PACK 100).
      expect(stored.length).toBeLessThanOrEqual(5 * Math.ceil(120 / PACK));
      expect(stored.reduce((n, [, v]) => n + events(v), 0)).toBe(600);
      const got = await trail.query(BOX);
      expect(got).toHaveLength(600);
      expect(got[0]).toMatchObject({ event: 'deleted', detail: { n: 299 } });
    } finally {
      await db.close();
    }
  });

  it('the cap counts events in packed rows: 2,500 events in batches read back as at most the cap, the newest kept', async () => {
    const { db, known, trail } = await open();
    try {
      const at = Date.now() - 60_000;
      for (let i = 0; i < 1250; i++) {
        fetchOne(trail, i, at + i);
        if (i % 40 === 39) await trail.flush();
      }
      await trail.flush();
      const got = await trail.query(BOX);
      expect(got.length).toBeLessThanOrEqual(trail.cap);
      expect(got.length).toBe(trail.cap);
      // The newest: the last 500 messages' two events, newest first.
      expect(got[0].detail.n).toBe(1249);
      expect(got[got.length - 1].detail.n).toBe(1250 - trail.cap / 2);
      // What the store keeps: whole rows holding the cap, and what came since the last trim (a tenth of it).
      const held = (await rows(known)).reduce((n, [, v]) => n + events(v), 0);
      expect(held).toBeGreaterThanOrEqual(trail.cap);
      expect(held).toBeLessThan(trail.cap * 1.1 + PACK);
      // The hourly prune trims to the cap counted in events; the oldest row kept may straddle it.
      await trail.prune();
      const after = await rows(known);
      const kept = after.reduce((n, [, v]) => n + events(v), 0);
      expect(kept).toBeGreaterThanOrEqual(trail.cap);
      expect(kept - events(after[0][1])).toBeLessThan(trail.cap);
    } finally {
      await db.close();
    }
  });

  it('a row stored as one event by the schema-3 code and packed rows read together, newest first', async () => {
    const { db, known, trail } = await open();
    try {
      const at = 1_800_000_000_000;
      const old: TrailRecord = {
        at,
        node: 'node-old',
        event: 'delivered',
        address: BOX,
        messageId: '<m@x>',
        queueId: null,
        client: '127.0.0.1',
        detail: { uidl: 'u1' },
      };
      // As the schema-3 code wrote it: keyv's text of one record, keyed by its own time.
      await db.write(() =>
        known.putText([[`${BOX} ${String(at).padStart(15, '0')}.000000.node-old`, JSON.stringify({ value: old })]]),
      );
      trail.note({ event: 'login', at: at + 10, address: BOX, client: '127.0.0.1', detail: { service: 'pop3' } });
      trail.note({ event: 'retrieved', at: at + 11, address: BOX, client: '127.0.0.1', detail: { uidl: 'u1' } });
      await trail.flush();
      trail.note({ event: 'deleted', at: at + 12, address: BOX, client: '127.0.0.1', detail: { uidl: 'u1' } });
      await trail.flush();
      expect((await rows(known)).map(([, v]) => Array.isArray(v))).toEqual([false, true, true]);
      const got = await trail.query(BOX);
      expect(got.map((r) => [r.event, r.node])).toEqual([
        ['deleted', 'node-a'],
        ['retrieved', 'node-a'],
        ['login', 'node-a'],
        ['delivered', 'node-old'],
      ]);
      // The old row's Message-ID reaches the packed events of its UIDL.
      expect(got[0].messageId).toBe('<m@x>');
      // --since from between the old row and the new ones.
      expect((await trail.query(BOX, { since: at + 5 })).map((r) => r.event)).toEqual([
        'deleted',
        'retrieved',
        'login',
      ]);
    } finally {
      await db.close();
    }
  });

  it('the attacker: 20,000 events for one address in one write stay in rows of at most PACK, trimmed to the cap', async () => {
    const { db, known, trail } = await open();
    try {
      for (let i = 0; i < 10_000; i++) fetchOne(trail, i);
      await trail.flush();
      const stored = await rows(known);
      for (const [, v] of stored) expect(events(v)).toBeLessThanOrEqual(PACK);
      const held = stored.reduce((n, [, v]) => n + events(v), 0);
      expect(held).toBeGreaterThanOrEqual(trail.cap);
      expect(held).toBeLessThan(trail.cap + PACK);
      const got = await trail.query(BOX);
      expect(got).toHaveLength(trail.cap);
      expect(got[0].detail.n).toBe(9999);
    } finally {
      await db.close();
    }
  });

  it('a row\'s events are counted from its text as parsing would: a detail keyed "at", strings that look like events', async () => {
    const ev = (i: number, detail: TrailRecord['detail']): TrailRecord => ({
      at: i,
      node: 'n',
      event: 'accepted',
      address: BOX,
      messageId: '{"at":1}',
      queueId: null,
      client: ',{"at":',
      detail,
    });
    const tricky = [
      ev(1, { at: 5, helo: '[{"at":2},{"at":3}]' }),
      ev(2, { from: '"},{"at":9}' }),
      ev(3, { ':at': ':{"at":' }),
    ];
    const text = (v: TrailRow) => JSON.stringify({ value: v });
    expect(eventsIn(text(tricky[0]))).toBe(1);
    expect(eventsIn(text(tricky))).toBe(3);
    expect(eventsIn(text([tricky[1]]))).toBe(1);
    expect(eventsIn(text(Array.from({ length: PACK }, (_, i) => ev(i, { at: i }))))).toBe(PACK);
    // And from what the trail itself stored, against the rows parsed.
    const { db, known, trail } = await open();
    try {
      for (const r of tricky) trail.note({ ...r, messageId: r.messageId ?? undefined, client: r.client ?? undefined });
      await trail.flush();
      for await (const page of known.pages())
        for (const [, t] of page) expect(eventsIn(t)).toBe(events(JSON.parse(t).value));
      // The trim's count, made by the store (Table.rangeCounts), is eventsIn's: the tricky rows
      // and a full row written as they are, then counted both ways.
      const rows: [string, string][] = [
        tricky[0],
        tricky,
        [tricky[1]],
        Array.from({ length: PACK }, (_, i) => ev(i, { at: i })),
      ].map((v, i) => [`count ${i}`, text(v)]);
      await db.write(() => known.putText(rows));
      const counted = new Map(await known.rangeCounts('count ', 'count!', 10, EVENT_MARKS));
      for (const [k, t] of rows) expect(Math.max(1, counted.get(k) ?? -1)).toBe(eventsIn(t));
    } finally {
      await db.close();
    }
  });

  it('the attacker: 20,000 distinct unknown addresses in one write stay within UNKNOWN_CAP', async () => {
    const { db, unknown, trail } = await open();
    try {
      for (let i = 0; i < 20_000; i++)
        trail.note({ event: 'refused', address: `guess${i}@example.test`, client: '192.0.2.1', detail: { code: 550 } });
      await trail.flush();
      expect(await unknown.count()).toBeLessThanOrEqual(UNKNOWN_CAP);
      // The newest guesses are the ones kept.
      expect((await trail.query('guess19999@example.test')).map((r) => r.event)).toEqual(['refused']);
      expect(await trail.query('guess0@example.test')).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
