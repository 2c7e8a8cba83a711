// The trail (issue 31 items 1 and 2): a message's life from SMTP to the POP3 client that
// deleted it, a forward's relay answer, refused recipients under the address they were meant
// for (also one that does not exist), logins that failed, --since, --from, --message-id, and
// the trail after a restart. Judged by what `vmail trace --json` says happened, driven by
// Python's smtplib and poplib against the real daemon.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceItemView } from '../../src/control/protocol.js';
import type { TrailRecord, TrailRow } from '../../src/store/trail.js';
import { type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { setup, smtplib } from '../helpers/effects.js';
import { ensurePostgres, startPostgres } from '../helpers/postgres.js';
import { TestRelay } from '../helpers/relay.js';

const run = promisify(execFile);
type Item = TraceItemView;

let d: DaemonHandle;
let relay: TestRelay;

async function trace(address: string, ...more: string[]): Promise<Item[]> {
  const r = await d.cli(['trace', address, '--json', ...more]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Item[];
}

async function fetchAndDelete(user: string, password: string, keep = false): Promise<{ auth: string }> {
  const script = join(ROOT, 'test/helpers/pop3_fetch_delete.py');
  const r = await run('python3', [script, String(d.pop3Port), user, password, keep ? 'keep' : 'delete']);
  return JSON.parse(r.stdout) as { auth: string };
}

const mail = (id: string, subject = 'hello') =>
  `From: x@sender.example\r\nTo: alice@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${id}>\r\n\r\nbody\r\n`;

beforeAll(async () => {
  relay = new TestRelay();
  await relay.listen();
  d = await startDaemon({
    args: ['--auth-failure-delay', '1ms', '--relay', `smtp://127.0.0.1:${relay.port}`],
  });
  await setup(d, ['alice', 'bob'], [['fwd', ['someone@elsewhere.example']]]);
}, 60_000);
afterAll(async () => {
  await d?.stop();
  await relay?.close();
});

describe('vmail trace', () => {
  it('a message sent, fetched and deleted: accepted, delivered, login, retrieved, deleted, in order, with the client and Message-ID', async () => {
    const r = await smtplib(d.smtpPort, 'x@sender.example', ['alice@example.test'], mail('m1@sender.example'));
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect((await fetchAndDelete('alice@example.test', 'password-1')).auth).toMatch(/^\+OK/);
    const items = await waitFor(async () => {
      const t = await trace('alice@example.test');
      return t.some((i) => i.event === 'deleted') ? t : null;
    }, 'the deletion in the trail');
    const oldestFirst = [...items].reverse();
    expect(oldestFirst.map((i) => i.event)).toEqual(['accepted', 'delivered', 'login', 'retrieved', 'deleted']);
    for (const i of oldestFirst) {
      expect(i.client).toBe('127.0.0.1');
      expect(i.address).toBe('alice@example.test');
      expect(i.node).toBeTruthy();
    }
    for (const i of oldestFirst.filter((x) => x.event !== 'login')) expect(i.messageId).toBe('<m1@sender.example>');
    expect(oldestFirst[0].detail).toMatchObject({ from: 'x@sender.example', helo: expect.any(String) });
    expect(oldestFirst[2].detail).toMatchObject({ service: 'pop3', mechanism: 'USER', tls: false });
    // The human form: one line for the message's life.
    const human = await d.cli(['trace', 'alice@example.test']);
    expect(human.stdout).toMatch(
      /<m1@sender\.example>: .*accepted from <x@sender\.example>.* -> .*deleted by 127\.0\.0\.1/,
    );
  });

  it('a forwarded message shows the relay answer', async () => {
    const r = await smtplib(d.smtpPort, 'y@sender.example', ['fwd@example.test'], mail('f1@sender.example'));
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await waitFor(() => relay.received.length >= 1, 'the relayed copy');
    const items = await waitFor(async () => {
      const t = await trace('fwd@example.test');
      return t.some((i) => i.event === 'relayed') ? t : null;
    }, 'the relay answer in the trail');
    const relayed = items.find((i) => i.event === 'relayed')!;
    expect(relayed.detail.to).toBe('someone@elsewhere.example');
    expect(String(relayed.detail.response)).toMatch(/^250/);
    expect(relayed.messageId).toBe('<f1@sender.example>');
    expect(items.map((i) => i.event).reverse()).toEqual(['accepted', 'forwarded', 'relayed']);
  });

  it('a refused recipient shows under its address with the code, also when the address does not exist', async () => {
    const r = await smtplib(d.smtpPort, 'z@sender.example', ['nobody@example.test', 'bob@example.test'], mail('r1@x'));
    expect(r.refused?.['nobody@example.test']?.[0]).toBe(550);
    const items = await trace('nobody@example.test');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ event: 'refused', address: 'nobody@example.test', client: '127.0.0.1' });
    expect(items[0].detail).toMatchObject({ code: 550, step: 'RCPT', from: 'z@sender.example' });
    // Mail for a domain not hosted here is no one's trail (relay attempts do not fill it).
    await smtplib(d.smtpPort, 'z@sender.example', ['victim@gmail.example'], mail('r2@x'));
    expect(await trace('victim@gmail.example')).toEqual([]);
  });

  it('a wrong password shows as login-failed', async () => {
    expect((await fetchAndDelete('bob@example.test', 'wrong-password')).auth).toMatch(/ERR/);
    const items = await waitFor(async () => {
      const t = await trace('bob@example.test');
      return t.some((i) => i.event === 'login-failed') ? t : null;
    }, 'the failed login');
    expect(items.find((i) => i.event === 'login-failed')).toMatchObject({
      client: '127.0.0.1',
      detail: { mechanism: 'USER' },
    });
  });

  it('--since, --from and --message-id filter', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    const r = await smtplib(d.smtpPort, 'late@sender.example', ['alice@example.test'], mail('m2@sender.example'));
    expect(r.ok).toBe(true);
    const all = await trace('alice@example.test');
    const recent = await trace('alice@example.test', '--since', new Date(Date.now() - 1000).toISOString());
    expect(all.length).toBeGreaterThan(recent.length);
    expect(recent.map((i) => i.messageId)).toEqual(['<m2@sender.example>', '<m2@sender.example>']);
    expect(
      (await trace('alice@example.test', '--since', before)).some((i) => i.messageId === '<m1@sender.example>'),
    ).toBe(false);
    const byFrom = await trace('alice@example.test', '--from', 'x@sender.example');
    expect(new Set(byFrom.map((i) => i.messageId))).toEqual(new Set(['<m1@sender.example>']));
    const byId = await trace('alice@example.test', '--message-id', 'm2@sender.example');
    expect(byId.map((i) => i.event).sort()).toEqual(['accepted', 'delivered']);
    const bad = await d.cli(['trace', 'alice@example.test', '--since', 'yesterday-ish']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--since/);
    const badAddress = await d.cli(['trace', 'not an address']);
    expect(badAddress.code).not.toBe(0);
  });

  it('RCPTs to random names of a hosted domain are each refused and recorded under that name', async () => {
    const names = Array.from(
      { length: 60 },
      (_, i) => `rnd${i}x${Math.random().toString(36).slice(2, 8)}@example.test`,
    );
    for (let i = 0; i < names.length; i += 10)
      await smtplib(d.smtpPort, 'a@sender.example', names.slice(i, i + 10), mail(`a${i}@x`));
    const last = await trace(names[59]);
    expect(last[0]).toMatchObject({ event: 'refused', detail: { code: 550 } });
  }, 60_000);

  it('the trail survives a restart', async () => {
    const dataDir = d.dataDir;
    expect(await d.stop()).toBe(0);
    d = await startDaemon({
      dataDir,
      args: ['--auth-failure-delay', '1ms', '--relay', `smtp://127.0.0.1:${relay.port}`],
    });
    const items = await trace('alice@example.test');
    expect(items.some((i) => i.event === 'deleted' && i.messageId === '<m1@sender.example>')).toBe(true);
    expect((await trace('nobody@example.test'))[0]?.event).toBe('refused');
  }, 60_000);
});

describe('the trail stays bounded (attacker: 20,000 RCPTs to random names, one busy mailbox)', () => {
  it('unknown addresses are capped as a whole, a hosted address by its cap', async () => {
    const { Store } = await import('../../src/store/store.js');
    const { UNKNOWN_CAP, PACK, eventsIn } = await import('../../src/store/trail.js');
    const { tempDir } = await import('../helpers/daemon.js');
    const store = await Store.open(tempDir('vmail-trail-'));
    try {
      const trail = store.trail;
      for (let i = 0; i < 20_000; i++)
        trail.note({
          event: 'refused',
          address: `r${i}-${Math.random().toString(36).slice(2)}@example.test`,
          detail: { code: 550 },
        });
      await trail.flush();
      const unknown = await store.database.table('trail_unknown');
      expect(await unknown.count()).toBeLessThanOrEqual(UNKNOWN_CAP + UNKNOWN_CAP / 20);
      // One busy address that is not hosted either way stays under the same global cap; a hosted
      // one (seen as hosted by the recorder) keeps at most its cap.
      (trail as unknown as { hosted: (a: string) => boolean }).hosted = (a) => a === 'busy@example.test';
      for (let i = 0; i < 3000; i++)
        trail.note({ event: 'login-failed', address: 'busy@example.test', client: '192.0.2.1' });
      await trail.flush();
      // Its events are packed, up to PACK a row: the cap counts events, and the trim takes whole
      // rows, so the oldest row kept may straddle the cap.
      const known = await store.database.table('trail');
      const held = async () => {
        const sizes: number[] = [];
        for await (const page of known.pages()) for (const [, text] of page) sizes.push(eventsIn(text));
        return { events: sizes.reduce((a, b) => a + b, 0), oldest: sizes[0] ?? 0 };
      };
      expect((await held()).events).toBeLessThanOrEqual(trail.cap + trail.cap / 10 + PACK);
      await trail.prune();
      const kept = await held();
      expect(kept.events).toBeGreaterThanOrEqual(trail.cap);
      expect(kept.events - kept.oldest).toBeLessThan(trail.cap);
      expect(await unknown.count()).toBe(UNKNOWN_CAP);
      expect((await trail.query('busy@example.test')).length).toBe(trail.cap);
    } finally {
      await store.close();
    }
  }, 120_000);
});

describe('the trail under steady mail', () => {
  it('events arriving one by one are written in a commit every FLUSH_MS, not a commit behind each commit; a flush writes what came during the write before', async () => {
    const { Store } = await import('../../src/store/store.js');
    const { FLUSH_MS, eventsIn } = await import('../../src/store/trail.js');
    const store = await Store.open(tempDir('vmail-trail-'));
    try {
      const trail = store.trail;
      (trail as unknown as { hosted: (a: string) => boolean }).hosted = () => true;
      // One event every 2 ms for 1.5 s, as one sender's steady mail into one mailbox.
      const t0 = Date.now();
      let sent = 0;
      while (Date.now() - t0 < 1500) {
        trail.note({ event: 'delivered', address: 'steady@example.test', messageId: `m${sent++}` });
        await new Promise((r) => setTimeout(r, 2));
      }
      // A flush while a write is under way still writes the event noted after it began.
      const first = trail.flush();
      trail.note({ event: 'delivered', address: 'steady@example.test', messageId: 'last' });
      sent++;
      await first;
      await trail.flush();
      const elapsed = Date.now() - t0;
      const known = await store.database.table('trail');
      const rows: number[] = [];
      for await (const page of known.pages()) for (const [, text] of page) rows.push(eventsIn(text));
      expect(rows.reduce((a, b) => a + b, 0)).toBe(sent);
      // One row per address per commit: commits are at most one per FLUSH_MS, and the two flushes.
      expect(rows.length).toBeLessThanOrEqual(Math.ceil(elapsed / FLUSH_MS) + 3);
      expect((await trail.query('steady@example.test')).some((e) => e.messageId === 'last')).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('the trail of a service: every daemon on one PostgreSQL store', () => {
  it("PostgreSQL counts a row's events for the trim as eventsIn does, and trims a busy address to the cap", async () => {
    const missing = ensurePostgres();
    if (missing) throw new Error(`the service test needs PostgreSQL: ${missing}`);
    const { EVENT_MARKS, eventsIn, Trail } = await import('../../src/store/trail.js');
    const { PostgresDatabase } = await import('../../src/store/postgres.js');
    const pg = await startPostgres({ fsync: false });
    try {
      const db = await PostgresDatabase.open(await pg.database('trailcount'), 'main', []);
      try {
        const known = await db.table<TrailRow>('trail');
        const unknown = await db.table<TrailRecord>('trail_unknown');
        const ev = (at: number, detail: TrailRecord['detail']) =>
          ({
            at,
            node: 'n',
            event: 'accepted',
            address: 'x@example.test',
            messageId: '{"at":1}',
            queueId: null,
            client: ',{"at":',
            detail,
          }) as TrailRecord;
        const rows: [string, string][] = [
          [ev(1, { helo: '[{"at":2},{"at":3}]' })],
          [ev(1, { at: 5 }), ev(2, { from: '"},{"at":9}' }), ev(3, { ':at': ':{"at":' })],
          Array.from({ length: 100 }, (_, i) => ev(i, { at: i, é: 'ü€' })),
        ].map((v, i) => [`count ${i}`, JSON.stringify({ value: v })]);
        await db.write(() => known.putText(rows));
        const counted = new Map(await known.rangeCounts('count ', 'count!', 10, EVENT_MARKS));
        for (const [k, t] of rows) expect(Math.max(1, counted.get(k) ?? -1)).toBe(eventsIn(t));
        // A busy address through the trail itself: 3,000 events in writes of 500 keep the cap.
        const trail = new Trail(db, known, unknown, 'main', () => true);
        for (let i = 0; i < 3000; i++) {
          trail.note({ event: 'retrieved', address: 'busy@example.test', detail: { n: i } });
          if (i % 500 === 499) await trail.flush();
        }
        await trail.flush();
        const got = await trail.query('busy@example.test');
        expect(got).toHaveLength(trail.cap);
        expect(got[0].detail.n).toBe(2999);
        let held = 0;
        for await (const page of known.pages())
          for (const [k, t] of page) if (k.startsWith('busy@')) held += eventsIn(t);
        expect(held).toBeGreaterThanOrEqual(trail.cap);
        expect(held).toBeLessThanOrEqual(trail.cap + trail.cap / 10 + 100);
      } finally {
        await db.close();
      }
    } finally {
      pg.stop();
    }
  }, 120_000);

  it('a message taken in by A and fetched through B has one trail, the same from A and from B', async () => {
    const missing = ensurePostgres();
    if (missing) throw new Error(`the service test needs PostgreSQL: ${missing}`);
    const pg = await startPostgres({ fsync: false });
    try {
      const url = await pg.database('trail');
      const root = tempDir();
      const sockets = tempDir();
      const start = (name: string) =>
        startDaemon({
          dataDir: root,
          socket: join(sockets, `${name}.sock`),
          args: ['--store', url, '--node', name, '--auth-failure-delay', '1ms'],
        });
      const a = await start('a');
      const b = await start('b');
      try {
        await setup(a, ['carol']);
        const sent = await smtplib(a.smtpPort, 'x@sender.example', ['carol@example.test'], mail('svc@sender.example'));
        expect(sent.ok, JSON.stringify(sent)).toBe(true);
        const script = join(ROOT, 'test/helpers/pop3_fetch_delete.py');
        const got = await run('python3', [script, String(b.pop3Port), 'carol@example.test', 'password-1', 'delete']);
        expect(JSON.parse(got.stdout).auth).toMatch(/^\+OK/);
        const at = async (h: DaemonHandle) =>
          JSON.parse((await h.cli(['trace', 'carol@example.test', '--json'])).stdout) as Item[];
        const fromA = await waitFor(
          async () => {
            const t = await at(a);
            return t.some((i) => i.event === 'deleted') ? t : null;
          },
          "B's deletion in the trail A reads",
          20_000,
        );
        expect([...fromA].reverse().map((i) => `${i.event}@${i.node}`)).toEqual([
          'accepted@a',
          'delivered@a',
          'login@b',
          'retrieved@b',
          'deleted@b',
        ]);
        expect(await at(b)).toEqual(fromA);
      } finally {
        await b.stop();
        await a.stop();
      }
    } finally {
      pg.stop();
    }
  }, 120_000);
});
