// The trail's rows as the store holds them (src/store/trail.ts): it writes its events as text
// of its own making (Table.putText) rather than through keyv's serialiser, for speed (issue 31's
// bench), a hosted address's events of one write packed as an array in one row. What it writes
// must be the very text keyv would have written, strings that start with a colon included (an
// IPv6 client "::1", keyv's escape), and read back as it was noted.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { Trail, type TrailRecord } from '../../src/store/trail.js';
import { tempDir } from '../helpers/daemon.js';

async function open() {
  const db = await SqliteDatabase.open(join(tempDir('trail-store-'), 'store.sqlite'));
  const known = await db.table<TrailRecord>('trail');
  const unknown = await db.table<TrailRecord>('trail_unknown');
  const trail = new Trail(db, known, unknown, 'node-a', (a) => a === 'box@example.test');
  return { db, known, unknown, trail };
}

const rows = async (t: { pages(): AsyncGenerator<[string, string][]> }) => {
  const out: [string, string][] = [];
  for await (const page of t.pages()) out.push(...page);
  return out;
};

describe('the trail in the store', () => {
  it('writes each event as the text keyv writes, and reads it back as noted (colons, nulls, flags)', async () => {
    const { db, known, unknown, trail } = await open();
    try {
      const at = 1_700_000_000_000;
      trail.note({
        event: 'login',
        at,
        address: 'Box@Example.test',
        client: '::1',
        detail: { service: 'pop3', mechanism: 'USER', tls: false, note: ':colon first', gone: undefined },
      });
      trail.note({
        event: 'retrieved',
        at: at + 1,
        address: 'box@example.test',
        client: '::ffff:127.0.0.1',
        messageId: '<a:b@x>',
        detail: { uidl: ':odd', size: 1234 },
      });
      // The attacker's HELO: keyv's mark for a Buffer. It must come back as the same string.
      trail.note({
        event: 'accepted',
        at: at + 3,
        address: 'box@example.test',
        client: '127.0.0.8',
        detail: { helo: ':base64:QUFBQQ==', from: '::@x' },
      });
      trail.note({
        event: 'refused',
        at: at + 2,
        address: 'nobody@example.test',
        client: '127.0.0.9',
        detail: { code: 550 },
      });
      await trail.flush();

      const got = await trail.query('box@example.test');
      expect(got.map((r) => [r.event, r.client, r.detail])).toEqual([
        ['accepted', '127.0.0.8', { helo: ':base64:QUFBQQ==', from: '::@x' }],
        ['retrieved', '::ffff:127.0.0.1', { uidl: ':odd', size: 1234 }],
        ['login', '::1', { service: 'pop3', mechanism: 'USER', tls: false, note: ':colon first' }],
      ]);
      expect(got[1]).toMatchObject({
        address: 'box@example.test',
        node: 'node-a',
        messageId: '<a:b@x>',
        queueId: null,
      });
      expect((await trail.query('nobody@example.test')).map((r) => [r.event, r.detail])).toEqual([
        ['refused', { code: 550 }],
      ]);

      // The same records written by keyv itself (Table.put): byte for byte the same text.
      const mine = await rows(known);
      const stray = await rows(unknown);
      // The hosted address's three events: one packed row (an array), the refused one a row of its own.
      expect(mine).toHaveLength(1);
      expect(stray).toHaveLength(1);
      const viaKeyv = await db.table<TrailRecord | TrailRecord[]>('trail_keyv');
      await db.write(() =>
        viaKeyv.put(
          [...mine, ...stray].map(([k, text]) => [
            k,
            JSON.parse(text, (_k, v) => (typeof v === 'string' && v.startsWith(':') ? v.slice(1) : v)).value as
              | TrailRecord
              | TrailRecord[],
          ]),
        ),
      );
      expect(await rows(viaKeyv)).toEqual([...mine, ...stray].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    } finally {
      await db.close();
    }
  });
});
