// Hostile tests of round 7's changes (issue 30, speed): the trail's batched writes, the store's
// load, the bulk apply's syncfs. Each one judged by effect: what the trail says, files on disk.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextApplyAt } from '../../src/model/schedule.js';
import { hashPassword } from '../../src/store/passwords.js';
import { Store } from '../../src/store/store.js';
import { startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { answers, checkMail, json, messageIds, smtpLoop } from '../helpers/mail-count.js';

const DOMAIN = 'example.test';

/** Queues account adds (password `password-1`) in the store at `dataDir`, no daemon running. */
async function queueAdds(dataDir: string, names: string[], firstId: number): Promise<void> {
  const store = await Store.open(dataDir);
  const now = Date.now();
  await store.addDomain(DOMAIN, now);
  const hash = await hashPassword('password-1');
  await store.queueMany(
    names.map((name, i) => ({
      id: String(firstId + i),
      seq: firstId + i,
      domain: DOMAIN,
      kind: 'account' as const,
      action: 'add' as const,
      name,
      requestedAt: now,
      appliesAt: nextApplyAt(now, 3_600_000),
      passwordHash: hash,
    })),
  );
  await store.close();
}

/** Resolves with `p`'s value, or rejects after `ms` (a bound on a wait, never a speed target). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

describe('the trail under mail that never pauses', () => {
  it('a query (vmail trace) answers while events keep coming, with the events noted before it', async () => {
    const { Store } = await import('../../src/store/store.js');
    const store = await Store.open(tempDir('vmail-h7-trail-'));
    let going = true;
    try {
      const trail = store.trail;
      (trail as unknown as { hosted: (a: string) => boolean }).hosted = () => true;
      trail.note({ event: 'delivered', address: 'busy@example.test', messageId: '<before@x>' });
      // Steady mail: an event on every turn of the event loop, so there is always one buffered
      // when a write ends.
      let n = 0;
      const pump = () => {
        if (!going) return;
        trail.note({ event: 'delivered', address: 'busy@example.test', messageId: `<m${n++}@x>` });
        setImmediate(pump);
      };
      pump();
      const events = await bounded(trail.query('busy@example.test'), 30_000, 'trail.query under steady mail');
      expect(events.some((e) => e.messageId === '<before@x>')).toBe(true);
    } finally {
      going = false;
      await store.close();
    }
  }, 60_000);
});

describe('a daemon stopped (SIGTERM) while mail flows, and applies racing under mail', () => {
  it('every message delivered before the stop has its trail; two applies of 4,000 adds at once under mail lose nothing and misdeliver nothing', async () => {
    const dataDir = tempDir('vmail-h7-');
    await queueAdds(dataDir, ['old1', 'old2'], 1);
    let d = await startDaemon({ dataDir });
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const rcpts = ['old1@example.test', 'old2@example.test'];
    let loop = smtpLoop(d.smtpPort, 'before', rcpts, 100_000);
    await answers(loop, 60);
    // SIGTERM while the loop sends: the trail written at stop holds every delivery.
    expect(await d.stop()).toBe(0);
    const first = await loop.stop();
    const newNames = Array.from({ length: 4000 }, (_, i) => `new${String(i).padStart(5, '0')}`);
    await queueAdds(dataDir, newNames, 10);
    d = await startDaemon({ dataDir });
    try {
      const delivered = new Set<string>();
      for (const a of rcpts)
        for (const e of json(await d.cli(['trace', a, '--json'])) as { event: string; messageId: string | null }[])
          if (e.event === 'delivered' && e.messageId) delivered.add(e.messageId);
      const inBoxes = [...messageIds(dataDir).keys()];
      expect(inBoxes.length).toBeGreaterThanOrEqual(first.filter((m) => m.code === 250).length);
      expect(inBoxes.filter((id) => !delivered.has(id))).toEqual([]);

      // Mail to the old accounts and to a few of the new ones while two applies race.
      loop = smtpLoop(d.smtpPort, 'during', [...rcpts, 'new00000@example.test', 'new03999@example.test'], 100_000);
      await answers(loop, 10);
      const [a, b] = await Promise.all([d.cli(['pending', 'apply']), d.cli(['pending', 'apply'])]);
      expect([a.code, b.code], `${a.stderr}\n${b.stderr}`).toEqual([0, 0]);
      await waitFor(
        async () => (json(await d.cli(['accounts', 'list', '--json'])) as unknown[]).length === 4002,
        'every account added',
        120_000,
      );
      await answers(loop, 20);
      const during = await loop.stop();
      // Each message answered 250 is in its own recipient's Maildir, once.
      const accepted = await checkMail(d, [...first, ...during], (to) => [to]);
      expect(accepted).toBeGreaterThan(0);
      // Each new account's Maildir is made, and holds only its own mail.
      const found = messageIds(dataDir);
      for (const n of newNames) expect(existsSync(join(dataDir, 'mail', DOMAIN, n, 'new')), n).toBe(true);
      const strays = [...found].filter(
        ([id, at]) => at.some((x) => x.startsWith('new')) && !during.some((m) => m.id === id && at.includes(m.to)),
      );
      expect(strays).toEqual([]);
      expect(readdirSync(join(dataDir, 'mail', DOMAIN)).length).toBe(4002);
      expect(json(await d.cli(['pending', 'list', '--json']))).toEqual([]);
    } finally {
      await d.stop();
    }
  }, 300_000);
});

describe('the trail when the store refuses or stalls its writes', () => {
  /** A real store whose Database.write the test controls; the trail's own table counted after. */
  async function rigged() {
    const store = await Store.open(tempDir('vmail-h7-trail-'));
    const trail = store.trail;
    (trail as unknown as { hosted: (a: string) => boolean }).hosted = () => true;
    // No trim: every event written stays, to be counted.
    trail.cap = 1_000_000;
    const db = store.database as unknown as { write: <R>(fn: () => Promise<R>) => Promise<R> };
    const real = db.write.bind(db);
    const events = async () => {
      const { eventsIn } = await import('../../src/store/trail.js');
      let n = 0;
      for await (const page of (await store.database.table('trail')).pages())
        for (const [, text] of page) n += eventsIn(text);
      return n;
    };
    return { store, trail, db, real, events };
  }
  const note = (trail: Store['trail'], i: number) =>
    trail.note({ event: 'delivered', address: `a${i % 7}@example.test`, messageId: `<m${i}@x>` });

  it('a store that refuses: 20,000 events in a burst make a bounded number of tries (each told to onError, which the daemon says once a minute), and none after', async () => {
    const { store, trail, db, real } = await rigged();
    let tries = 0;
    const errors: string[] = [];
    trail.onError = (e) => errors.push(e.message);
    db.write = () => {
      tries++;
      return Promise.reject(new Error('SQLITE_READONLY: attempt to write a readonly database'));
    };
    try {
      for (let i = 0; i < 20_000; i++) note(trail, i);
      await trail.flush();
      // One try per FLUSH_AT (500) at most, and the rest in one: no loop that spins on a failure.
      expect(tries).toBeGreaterThan(0);
      expect(tries).toBeLessThanOrEqual(20_000 / 500 + 2);
      const after = tries;
      // Nothing buffered: no timer and no write come after (waited well past FLUSH_MS).
      await new Promise((r) => setTimeout(r, 1000));
      expect(tries).toBe(after);
      expect(errors.length).toBe(tries);
    } finally {
      db.write = real;
      await store.close();
    }
  }, 60_000);

  it('a store that stalls: the buffer stops at MAX_BUFFER (the rest counted as dropped, and told once the store answers), and all it held is written', async () => {
    const { store, trail, db, real, events } = await rigged();
    const told: number[] = [];
    trail.onDropped = (n) => told.push(n);
    let release: () => void = () => {};
    const stalled = new Promise<void>((r) => {
      release = r;
    });
    db.write = async (fn) => {
      await stalled;
      return real(fn);
    };
    try {
      for (let i = 0; i < 60_000; i++) note(trail, i);
      const buffered = (trail as unknown as { waiting: { length: number } }).waiting.length;
      expect(buffered).toBeLessThanOrEqual(50_000);
      expect(trail.dropped).toBeGreaterThan(0);
      release();
      await bounded(trail.flush(), 60_000, 'flush after the store answers');
      expect((await events()) + trail.dropped).toBe(60_000);
      // Told when the store answered (hostile round 7: only a later failing write said it), once.
      expect(told).toEqual([trail.dropped]);
      note(trail, 0);
      await bounded(trail.flush(), 60_000, 'a write with nothing dropped');
      expect(told).toEqual([trail.dropped]);
    } finally {
      db.write = real;
      await store.close();
    }
  }, 120_000);
});

describe('a bulk apply meets a file or a dangling symlink where a Maildir should be', () => {
  it('600 adds (two chunks): those two stay pending with a one-line error each, the file and the link untouched; the other 598 are made', async () => {
    const dataDir = tempDir('vmail-h7-odd-');
    const names = Array.from({ length: 600 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    await queueAdds(dataDir, names, 1);
    const dom = join(dataDir, 'mail', DOMAIN);
    mkdirSync(dom, { recursive: true });
    const outside = tempDir('vmail-h7-outside-');
    writeFileSync(join(dom, 'n0002'), 'a file');
    symlinkSync(join(outside, 'nothing'), join(dom, 'n0003'));
    const d = await startDaemon({ dataDir });
    try {
      const r = await d.cli(['pending', 'apply']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/Applied 598 change/);
      const errors = r.stderr.trim().split('\n');
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/^vmail: change 3 of n0002@example\.test not applied: /);
      expect(errors[1]).toMatch(/^vmail: change 4 of n0003@example\.test not applied: /);
      const listed = json(await d.cli(['accounts', 'list', '--json'])) as { name: string; active: boolean }[];
      expect(listed.filter((a) => a.active).length).toBe(598);
      expect(listed.filter((a) => !a.active).map((a) => a.name)).toEqual(['n0002', 'n0003']);
      expect(readFileSync(join(dom, 'n0002'), 'utf8')).toBe('a file');
      expect(lstatSync(join(dom, 'n0003')).isSymbolicLink()).toBe(true);
      expect(readdirSync(outside)).toEqual([]);
      for (const n of names.filter((x) => x !== 'n0002' && x !== 'n0003'))
        expect(readFileSync(join(dom, n, 'vmail-change'), 'utf8'), n).toMatch(/^\d+\n$/);
    } finally {
      await d.stop();
    }
  }, 120_000);
});

describe("the store's load (keys cut by the database) with a NUL in keys, on SQLite", () => {
  it('keys holding a NUL come back whole from all() and pages(), and 5,001 of them under one cut page on to the end', async () => {
    const { SqliteDatabase } = await import('../../src/store/sqlite.js');
    const db = await SqliteDatabase.open(join(tempDir('vmail-h7-nul-'), 'vmail.sqlite'));
    try {
      const table = await db.table<{ n: number }>('accounts');
      const keys = [
        'a\u0000b@example.test',
        'a@example.test',
        'jörg@exämple.test',
        '😀@example.test',
        ...Array.from({ length: 5001 }, (_, i) => `nul\u0000${String(i).padStart(5, '0')}@example.test`),
      ];
      await db.write(() => table.put(keys.map((k, n): [string, { n: number }] => [k, { n }])));
      const all = await bounded(table.all(), 60_000, 'all() over keys holding a NUL');
      expect(all.size).toBe(keys.length);
      for (const [n, k] of keys.entries()) expect(all.get(k), JSON.stringify(k)).toEqual({ n });
      const paged: string[] = [];
      await bounded(
        (async () => {
          for await (const page of table.pages()) {
            paged.push(...page.map(([k]) => k));
            if (paged.length > keys.length) break;
          }
        })(),
        60_000,
        'pages() over keys holding a NUL',
      );
      expect(paged.sort()).toEqual([...keys].sort());
    } finally {
      await db.close();
    }
  }, 180_000);
});

describe("a domain's DNS answer holding escape sequences", () => {
  it('vmail domains check shows what was found as text, its ESC made visible', async () => {
    const { startDns } = await import('../helpers/dns-server.js');
    const server = await startDns([
      'txt-record=example.test,"v=spf1 \\e[31mRED\\e]0;DNSTITLE"',
      'host-record=mx.h7.test,127.0.0.9',
    ]);
    const d = await startDaemon({ args: ['--hostname', 'mx.h7.test', '--resolver', server.address] });
    try {
      const r = await d.cli(['domains', 'check', 'example.test']);
      expect(r.stdout).toContain('found: v=spf1 \\x1b[31mRED\\x1b]0;DNSTITLE');
      expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    } finally {
      await d.stop();
      await server.stop();
    }
  }, 60_000);
});

describe("a relay's answer holding escape sequences", () => {
  it('vmail queue list and the log show the deferred answer as text, its ESC and C1 made visible', async () => {
    const { createServer } = await import('node:net');
    const { setup, smtplib } = await import('../helpers/effects.js');
    // A relay that defers every message with an answer full of escapes.
    const relay = createServer((s) => {
      let inData = false;
      let buf = '';
      s.write('220 evil.example ESMTP\r\n');
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (inData) {
            if (line === '.') {
              inData = false;
              // Written as latin1: \u00c2\u009b are UTF-8's two bytes for U+009B, the C1 CSI.
              s.write('451 4.3.2 \u001b[31mRED\u001b]0;RELAYTITLE\u0007 \u00c2\u009b2J try later\r\n', 'latin1');
            }
          } else if (/^EHLO/i.test(line)) s.write('250-evil.example\r\n250 8BITMIME\r\n');
          else if (/^DATA/i.test(line)) {
            inData = true;
            s.write('354 go on\r\n');
          } else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
          else s.write('250 ok\r\n');
        }
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const port = (relay.address() as { port: number }).port;
    const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${port}`] });
    try {
      await setup(d, [], [['fwd', ['someone@elsewhere.example']]]);
      const r = await smtplib(d.smtpPort, 'x@sender.example', ['fwd@example.test'], 'Subject: hi\n\nbody\n');
      expect(r.ok, JSON.stringify(r)).toBe(true);
      const out = await waitFor(
        async () => {
          const q = await d.cli(['queue', 'list']);
          return /RED/.test(q.stdout) ? q.stdout : null;
        },
        'the deferral in the queue',
        30_000,
      );
      expect(out).toContain('\\x1b[31mRED\\x1b]0;RELAYTITLE\\x07');
      expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      // The daemon's log line of the deferral holds no control byte of theirs either (C1 too).
      const logged = d
        .output()
        .split('\n')
        .filter((l) => /RELAYTITLE/.test(l));
      expect(logged.length).toBeGreaterThan(0);
      for (const l of logged) expect(l).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    } finally {
      await d.stop();
      relay.close();
    }
  }, 90_000);
});
