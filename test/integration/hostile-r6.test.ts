// The hostile tester's round 6 (the performance wave: issues 26, 27, 30, 31, 32): the caches,
// deferred writes, lazy loading and pieces it added, each pushed where correctness or security
// could give way. Real dnsmasq, the real daemon, real clients.
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { OutboundDns } from '../../src/smtp/dns.js';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { dns, startDns } from '../helpers/dns-server.js';

describe('DNS answers kept (src/smtp/dns.ts)', () => {
  it('an address with a TTL of 2^31-1 s is not kept for 68 years: a changed record is seen within a day', async () => {
    const server = await startDns(['local-ttl=2147483647', dns.a('mx1.far.test', '127.0.0.41')]);
    let now = 1_000_000;
    const resolver = new OutboundDns(server.address, 2000, () => now);
    try {
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      // The host moved: its old address may be another's now.
      await server.restart(['local-ttl=2147483647', dns.a('mx1.far.test', '127.0.0.42')]);
      now += 24 * 3600_000 + 1000;
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.42']);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

/** `count` applied accounts under example.test (one hash for all), written into a stopped daemon's store. */
async function seedApplied(dataDir: string, count: number): Promise<void> {
  const { Store } = await import('../../src/store/store.js');
  const { hashPassword } = await import('../../src/store/passwords.js');
  const store = await Store.open(dataDir);
  await store.addDomain('example.test', Date.now());
  const hash = await hashPassword('hostile-pass-1');
  const now = Date.now();
  const set = Array.from({ length: count }, (_, i) => ({
    name: `user${String(i).padStart(5, '0')}`,
    domain: 'example.test',
    passwordHash: hash,
    createdAt: now,
    updatedAt: now,
  }));
  await store.commitApplied([], { set, remove: [] }, { set: [], remove: [] }, [], now);
  await store.close();
}

describe('whole lists on the control socket (a daemon with 2,000 accounts, its heap held to 512 MB)', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    const dataDir = tempDir('vmail-hostile6-');
    await seedApplied(dataDir, 2000);
    d = await startDaemon({ dataDir, nodeArgs: ['--max-old-space-size=512'], readyTimeoutMs: 60_000 });
  }, 120_000);
  afterAll(async () => {
    await d?.stop();
  }, 60_000);

  it('one batch line of 1,000 whole lists (2,000,000 rows in one answer) gets its lists up to 100,000 rows and an error for the rest; the daemon lives', async () => {
    const s = createConnection(d.socket);
    let text = '';
    let closed = false;
    s.on('data', (chunk) => (text += chunk.toString('utf8')));
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    s.write(
      `${JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'accounts.list' })))}\n`,
    );
    const dead = () => d.proc.exitCode !== null || d.proc.signalCode !== null;
    await waitFor(() => text.endsWith('\n') || closed || dead(), 'the batch answer', 90_000);
    s.destroy();
    expect(dead(), d.output().slice(-2000)).toBe(false);
    // One line: the lists that fit whole (100,000 rows in all), a clear error for each of the
    // others, rather than two million rows built at once.
    expect(text.indexOf('\n')).toBe(text.length - 1);
    const answers = JSON.parse(text) as { id: number; result?: unknown[]; error?: { message: string } }[];
    expect(answers).toHaveLength(1000);
    const whole = answers.filter((a) => a.result);
    expect(whole.length * 2000).toBeLessThanOrEqual(100_000);
    expect(whole.every((a) => a.result?.length === 2000)).toBe(true);
    const refused = answers.filter((a) => a.error);
    expect(refused.length).toBe(1000 - whole.length);
    expect(refused[0].error?.message).toMatch(/^invalid request: the whole lists of a batch hold at most 100000 rows/);
    const c = await ControlClient.connect(d.socket);
    try {
      expect(await c.call('accounts.list', { offset: 1999 })).toHaveLength(1);
    } finally {
      c.close();
    }
  }, 120_000);
});
