// Issue 30, targets 1 and 3, by effect on a daemon with 20,000 accounts: ready means ready (a
// login, a delivery and the whole list right after the ready line, also after the store was
// changed behind the stopped daemon's back), and a whole list written a piece at a time as the
// client reads: the same rows as the pages, to clients that stop reading, in a batch, and with
// lines that come meanwhile (a notification, another answer) following it whole. Its memory is
// measured by `npm run bench -- startup` (at 100,000 accounts).
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtplib } from '../helpers/effects.js';

const COUNT = 20_000;
const DOMAIN = 'example.test';
const PASSWORD = 'startup-pass-1';
const nameOf = (i: number) => `user${String(i).padStart(6, '0')}`;

/** The accounts whose Maildirs the tests use (the others have none yet: made at their first delivery). */
const USED = [1, 2, 12_345, 12_346, COUNT - 1];

/** COUNT applied accounts (one hash for all) written into a stopped daemon's store. */
async function seed(dataDir: string): Promise<void> {
  const { Store } = await import('../../src/store/store.js');
  const { hashPassword } = await import('../../src/store/passwords.js');
  const store = await Store.open(dataDir);
  await store.addDomain(DOMAIN, Date.now());
  const hash = await hashPassword(PASSWORD);
  const now = Date.now();
  const set = [];
  for (let i = 0; i < COUNT; i++)
    set.push({ name: nameOf(i), domain: DOMAIN, passwordHash: hash, createdAt: now, updatedAt: now });
  await store.commitApplied([], { set, remove: [] }, { set: [], remove: [] }, [], now);
  await store.close();
  for (const i of USED)
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dataDir, 'mail', DOMAIN, nameOf(i), f), { recursive: true });
}

describe('a daemon with 20,000 accounts', () => {
  let dataDir: string;
  let d: DaemonHandle;

  beforeAll(async () => {
    dataDir = tempDir('vmail-startup-');
    await seed(dataDir);
    // The first start lists every Maildir; the tests' starts read the sizes it saved.
    d = await startDaemon({ dataDir, readyTimeoutMs: 180_000 });
    await d.stop();
    d = await startDaemon({ dataDir, readyTimeoutMs: 60_000 });
  }, 300_000);
  afterAll(async () => {
    await d?.stop();
  }, 60_000);

  it('serves logins, deliveries and the whole list right after its ready line', async () => {
    // Nothing waited for: the ready line was the last thing seen.
    const [ok, wrong, gone] = await Promise.all([
      pop3Login(d.pop3Port, `${nameOf(12_345)}@${DOMAIN}`, PASSWORD),
      pop3Login(d.pop3Port, `${nameOf(12_346)}@${DOMAIN}`, 'not-the-password'),
      pop3Login(d.pop3Port, `nobody@${DOMAIN}`, PASSWORD),
    ]);
    expect(ok.ok).toBe(true);
    expect(wrong.ok).toBe(false);
    expect(gone.ok).toBe(false);
    const sent = await smtplib(
      d.smtpPort,
      'a@sender.test',
      [`${nameOf(COUNT - 1)}@${DOMAIN}`],
      'Subject: x\n\nstartup-1\n',
    );
    expect(sent.ok).toBe(true);
    expect(maildirWith(join(dataDir, 'mail', DOMAIN, nameOf(COUNT - 1)), 'startup-1')).toHaveLength(1);
    const c = await ControlClient.connect(d.socket);
    try {
      const list = await c.call('accounts.list');
      expect(list.map((a) => a.name)).toEqual(Array.from({ length: COUNT }, (_, i) => nameOf(i)));
      // Its pieces are the pages: the same rows as offset and limit give.
      const page = await c.call('accounts.list', { offset: 4_990, limit: 20 });
      expect(page).toEqual(list.slice(4_990, 5_010));
      expect(list.find((a) => a.name === nameOf(COUNT - 1))?.messages).toBe(1);
    } finally {
      c.close();
    }
  }, 60_000);

  it('answers whole lists to clients that stop reading and, in a batch, whole in one line', async () => {
    const c = await ControlClient.connect(d.socket);
    try {
      // Eight clients ask for the whole list and read none of it; the daemon serves on.
      const idle = await Promise.all(
        [0, 1, 2, 3, 4, 5, 6, 7].map(
          () =>
            new Promise<ReturnType<typeof createConnection>>((resolve) => {
              const s = createConnection(d.socket, () => {
                s.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'accounts.list' })}\n`);
                s.pause();
                resolve(s);
              });
            }),
        ),
      );
      expect(await c.call('accounts.list', { offset: COUNT - 1 })).toHaveLength(1);
      for (const s of idle) s.destroy();
      expect(await c.call('accounts.list')).toHaveLength(COUNT);
    } finally {
      c.close();
    }
    // A batch's answers go as one line: the list in it is whole.
    const s = createConnection(d.socket);
    let text = '';
    s.on('data', (chunk) => (text += chunk.toString('utf8')));
    s.write(
      `${JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'accounts.list' },
        { jsonrpc: '2.0', id: 2, method: 'status' },
      ])}\n`,
    );
    await waitFor(() => text.endsWith('\n'), 'the batch answer', 60_000);
    s.destroy();
    const batch = JSON.parse(text) as { id: number; result: unknown[] }[];
    expect(batch.find((a) => a.id === 1)?.result).toHaveLength(COUNT);
  }, 120_000);

  it('sends what comes during a whole list after it, each line whole', async () => {
    const lines: string[] = [];
    const s = createConnection(d.socket);
    let buf = '';
    s.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    await new Promise((r) => s.once('connect', r));
    const send = (msg: object) => s.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`);
    send({ id: 1, method: 'subscribe' });
    await waitFor(() => lines.length >= 1, 'the subscription');
    // Two whole lists and a small answer asked at once; a change from another client meanwhile.
    send({ id: 2, method: 'accounts.list' });
    send({ id: 3, method: 'accounts.list', params: { domain: DOMAIN } });
    send({ id: 4, method: 'status' });
    const other = await ControlClient.connect(d.socket);
    await other.call('accounts.quota', { name: nameOf(7), quota: '5M' });
    other.close();
    await waitFor(
      () =>
        lines.some((l) => l.includes('"rows.changed"')) &&
        lines.filter((l) => l.startsWith('{"jsonrpc":"2.0","id"')).length >= 4,
      'every answer and the notification',
      60_000,
    );
    s.destroy();
    const msgs = lines.map((l) => JSON.parse(l) as { id?: number; result?: unknown; method?: string });
    const answers = msgs.filter((m) => m.id !== undefined);
    expect(answers.map((m) => m.id).sort()).toEqual([1, 2, 3, 4]);
    for (const id of [2, 3]) expect((answers.find((m) => m.id === id)!.result as unknown[]).length).toBe(COUNT);
    expect(msgs.some((m) => m.method === 'rows.changed')).toBe(true);
  }, 120_000);

  it('starts with what the store holds after another tool changed it while it was stopped', async () => {
    await d.stop();
    const { Store } = await import('../../src/store/store.js');
    const { hashPassword } = await import('../../src/store/passwords.js');
    const store = await Store.open(dataDir);
    const now = Date.now();
    const changed = {
      ...store.accounts.get(`${nameOf(2)}@${DOMAIN}`)!,
      passwordHash: await hashPassword('changed-pass-2'),
    };
    const newcomer = {
      name: 'newcomer',
      domain: DOMAIN,
      passwordHash: changed.passwordHash,
      createdAt: now,
      updatedAt: now,
    };
    await store.commitApplied(
      [],
      { set: [changed, newcomer], remove: [`${nameOf(1)}@${DOMAIN}`] },
      { set: [], remove: [] },
      [],
      now,
    );
    await store.close();
    mkdirSync(join(dataDir, 'mail', DOMAIN, 'newcomer', 'new'), { recursive: true });
    d = await startDaemon({ dataDir, readyTimeoutMs: 60_000 });
    const [removed, oldPass, newPass, added] = await Promise.all([
      pop3Login(d.pop3Port, `${nameOf(1)}@${DOMAIN}`, PASSWORD),
      pop3Login(d.pop3Port, `${nameOf(2)}@${DOMAIN}`, PASSWORD),
      pop3Login(d.pop3Port, `${nameOf(2)}@${DOMAIN}`, 'changed-pass-2'),
      pop3Login(d.pop3Port, `newcomer@${DOMAIN}`, 'changed-pass-2'),
    ]);
    expect([removed.ok, oldPass.ok, newPass.ok, added.ok]).toEqual([false, false, true, true]);
    const c = await ControlClient.connect(d.socket);
    try {
      const names = new Set((await c.call('accounts.list')).map((a) => a.name));
      expect(names.size).toBe(COUNT);
      expect(names.has('newcomer')).toBe(true);
      expect(names.has(nameOf(1))).toBe(false);
    } finally {
      c.close();
    }
  }, 120_000);
});
