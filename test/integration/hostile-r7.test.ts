// Hostile tests of round 7's changes (issue 30, speed): the trail's batched writes, the store's
// load, the bulk apply's syncfs. Each one judged by effect: what the trail says, files on disk.
import { existsSync, readdirSync } from 'node:fs';
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
