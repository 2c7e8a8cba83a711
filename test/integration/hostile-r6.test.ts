// The hostile tester's round 6 (the performance wave: issues 26, 27, 30, 31, 32): the caches,
// deferred writes, lazy loading and pieces it added, each pushed where correctness or security
// could give way. Real dnsmasq, the real daemon, real clients.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { OutboundDns } from '../../src/smtp/dns.js';
import { MtaSts } from '../../src/smtp/mta-sts.js';
import type { Logger } from '../../src/support/log.js';
import { type DaemonHandle, ROOT, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { dns, startDns } from '../helpers/dns-server.js';
import { smtplib } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { TestRelay } from '../helpers/relay.js';
import { RawSmtp } from '../helpers/smtp-raw.js';

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

describe('MTA-STS: domains remembered without a policy file (src/smtp/mta-sts.ts)', () => {
  it('a policy another daemon of the shared data dir stored is used when this one cannot fetch it (no downgrade to plain text)', async () => {
    const server = await startDns([dns.a('mx1.far.test', '127.0.0.41')]);
    let now = 1_000_000;
    const dir = join(tempDir('vmail-hostile6-sts-'), 'mta-sts');
    const quiet = { info() {}, warning() {}, error() {}, notice() {}, debug() {} } as unknown as Logger;
    const here = new MtaSts(dir, new OutboundDns(server.address, 2000, () => now), quiet, () => now);
    try {
      // far.test has no policy yet: this daemon remembers it has no file.
      expect(await here.policy('far.test')).toBeNull();
      // It publishes one; the other daemon fetches it and stores it in the shared folder.
      mkdirSync(dir, { recursive: true });
      const enforce = { mode: 'enforce', mx: ['mx1.far.test'], maxAgeS: 86_400 };
      writeFileSync(
        join(dir, 'far.test.json'),
        JSON.stringify({ id: '1', policy: enforce, expiresAt: now + 86_400_000 }),
      );
      // An attacker on this daemon's path blocks the policy's HTTPS (nothing answers at its address).
      await server.restart([
        dns.a('mx1.far.test', '127.0.0.41'),
        dns.txt('_mta-sts.far.test', 'v=STSv1; id=1'),
        dns.a('mta-sts.far.test', '127.0.0.9'),
      ]);
      now += 31_000;
      expect(await here.policy('far.test')).toEqual(enforce);
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
  // An apply makes an account's Maildir; these accounts skipped it: the one the tests use gets one.
  for (const f of ['tmp', 'new', 'cur'])
    mkdirSync(join(dataDir, 'mail', 'example.test', 'user00007', f), { recursive: true });
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

  it('POP3: listed messages swapped for a link to /etc/shadow, a FIFO and a link to /dev/zero before RETR are refused; the others are sent, the session and daemon go on', async () => {
    const to = 'user00007@example.test';
    for (let i = 1; i <= 4; i++) {
      const sent = await smtplib(d.smtpPort, 'a@sender.test', [to], `Subject: swap-${i}\n\nswap body ${i}\n`);
      expect(sent.ok, JSON.stringify(sent)).toBe(true);
    }
    const box = join(d.dataDir, 'mail', 'example.test', 'user00007');
    const c = await RawPop3.open(d.pop3Port);
    await c.login(to, 'hostile-pass-1');
    expect(await c.ok('STAT')).toMatch(/^\+OK 4 /);
    // Listed; now three of the four files are swapped under their listed names.
    const files = ['new', 'cur'].flatMap((f) => readdirSync(join(box, f)).map((n) => join(box, f, n)));
    expect(files).toHaveLength(4);
    for (const f of files.slice(0, 3)) unlinkSync(f);
    symlinkSync('/etc/shadow', files[0]);
    execFileSync('mkfifo', [files[1]]);
    symlinkSync('/dev/zero', files[2]);
    const replies = [];
    for (let n = 1; n <= 4; n++) for (const cmd of [`RETR ${n}`, `TOP ${n} 5`]) replies.push(await c.multi(cmd));
    const text = replies.map((r) => `${r.first}\n${r.body.toString('latin1')}`).join('\n');
    expect(text).not.toMatch(/^root:/m);
    expect(text).not.toContain('\0');
    expect(replies.filter((r) => r.first.startsWith('+OK'))).toHaveLength(2);
    expect(replies.filter((r) => r.first.startsWith('+OK')).every((r) => /swap body \d/.test(r.body.toString()))).toBe(
      true,
    );
    expect(await c.ok('NOOP')).toMatch(/^\+OK/);
    await c.quit();
  }, 60_000);

  it('the trail: a HELO and Message-IDs that look like keyv text (:base64:, {"value":) with control bytes come back from `vmail trace --json` as sent, and escaped in its lines', async () => {
    const to = 'user00007@example.test';
    const helo = '{"value":":base64:QUJD"}';
    const ids = ['<:base64:QUJD@x.test>', '<{"value":"\x1b]0;owned\x07","expires":1}@x.test>'];
    const s = await RawSmtp.open(d.smtpPort);
    expect((await s.reply())?.code).toBe(220);
    // Control bytes in a HELO are refused outright; keyv's marks in one are taken.
    expect((await s.cmd(`EHLO ${helo}\x1b[2J`))?.code).toBe(501);
    const ehlo = await s.cmd(`EHLO ${helo}`);
    expect(ehlo?.code, ehlo?.text).toBe(250);
    for (const id of ids) {
      expect((await s.cmd(`MAIL FROM:<a@sender.test>`))?.code).toBe(250);
      expect((await s.cmd(`RCPT TO:<${to}>`))?.code).toBe(250);
      expect((await s.cmd('DATA'))?.code).toBe(354);
      expect((await s.cmd(`Subject: trail\r\nMessage-ID: ${id}\r\n\r\nbody\r\n.`))?.code).toBe(250);
    }
    await s.cmd('QUIT');
    s.close();
    type Item = { event: string; messageId: string | null; detail: Record<string, unknown> };
    const accepted = await waitFor(async () => {
      const items = JSON.parse((await d.cli(['trace', to, '--json'])).stdout) as Item[];
      const got = items.filter((i) => i.event === 'accepted' && ids.includes(i.messageId ?? ''));
      return got.length === 2 ? got : null;
    }, 'both messages in the trail');
    // The HELO comes back as the server took it (smtp-server lower-cases it).
    for (const a of accepted) expect(a.detail.helo).toBe(helo.toLowerCase());
    const human = (await d.cli(['trace', to])).stdout;
    expect(human).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(human).toContain(':base64:QUJD@x.test');
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

/**
 * A node --import file whose resolve hook fails the first `fails` imports of nodemailer as a
 * full file table would (EMFILE: a flood of connections right at ready), then lets them through.
 */
function failingNodemailer(fails: number): string {
  const file = join(tempDir('vmail-hostile6-hook-'), 'hook.mjs');
  const hook = `
let left = ${fails};
export async function resolve(specifier, context, next) {
  if (specifier === 'nodemailer' && left > 0) {
    left--;
    const e = new Error('EMFILE: too many open files, open nodemailer');
    e.code = 'EMFILE';
    throw e;
  }
  return next(specifier, context);
}`;
  writeFileSync(
    file,
    `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));\n`,
  );
  return file;
}

describe('nodemailer loaded after ready (src/smtp/lazy-libs.ts, relay-client.ts)', () => {
  it('a load that failed at ready and at the first forward (EMFILE) is tried again: the retried forward reaches the relay', async () => {
    const relay = new TestRelay();
    await relay.listen();
    const d = await startDaemon({
      nodeArgs: ['--import', failingNodemailer(2)],
      args: ['--relay', `smtp://127.0.0.1:${relay.port}`],
    });
    try {
      expect((await d.cli(['forwards', 'add', 'fwd', 'someone@far.example'])).code).toBe(0);
      expect((await d.cli(['pending', 'apply'])).code).toBe(0);
      await waitFor(() => /nodemailer not loaded/.test(d.output()), 'the failed preload logged');
      expect((await smtplib(d.smtpPort, 'a@sender.test', ['fwd@example.test'], 'Subject: lazy-1\n\nlazy\n')).ok).toBe(
        true,
      );
      type Queued = { id: string; attempts: number };
      const queued = async () => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as Queued[];
      // The first attempt failed on the load; the load works now, so the next attempt must send.
      const [q] = await waitFor(async () => {
        const list = await queued();
        return list.length === 1 && list[0].attempts >= 1 ? list : null;
      }, 'the first attempt failed');
      expect((await d.cli(['queue', 'retry', q.id])).code).toBe(0);
      await waitFor(
        () => relay.received.find((m) => m.data.toString('latin1').includes('Subject: lazy-1')),
        `the retried forward at the relay: ${d
          .output()
          .split('\n')
          .filter((l) => /forward|queue|nodemailer/.test(l))
          .join(' / ')
          .slice(-1500)}`,
        20_000,
      );
    } finally {
      await d.stop();
      await relay.close();
    }
  }, 60_000);
});

/** Python's smtplib submitting one message (test/helpers/submit.py): its JSON verdict. */
function submit(a: Record<string, unknown>, message: string): Promise<{ ok: boolean; code?: number; error?: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [join(ROOT, 'test/helpers/submit.py'), JSON.stringify(a)]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err || out))));
    p.stdin.end(message);
  });
}

describe('--send-limit 3/1h, the count written after the 250 (src/smtp/send-limit.ts)', () => {
  it('three messages at once, then kill -9 at the last 250: after the restart the fourth is still refused', async () => {
    const { cert, key } = await selfSignedCert();
    const relay = new TestRelay();
    await relay.listen();
    const args = ['--tls-cert', cert, '--tls-key', key, '--relay', `smtp://127.0.0.1:${relay.port}`];
    args.push('--send-limit', '3/1h', '--auth-failure-delay', '1ms');
    let d = await startDaemon({ args });
    try {
      expect((await d.cli(['accounts', 'add', 'k9', '--password-stdin'], 'pw-k9-123456\n')).code).toBe(0);
      expect((await d.cli(['pending', 'apply'])).code).toBe(0);
      const f = (port: number) => ({
        port,
        mode: 'starttls',
        user: 'k9@example.test',
        password: 'pw-k9-123456',
        from: 'k9@example.test',
        to: ['someone@far.example'],
        source: '127.0.0.2',
      });
      const mail = (n: number) =>
        `From: k9@example.test\r\nTo: someone@far.example\r\nSubject: k9-${n}\r\n\r\nk9 ${n}\r\n`;
      const sent = await Promise.all([1, 2, 3].map((n) => submit(f(d.submissionPort), mail(n))));
      await d.kill9();
      expect(sent.map((r) => r.ok)).toEqual([true, true, true]);
      d = await startDaemon({ dataDir: d.dataDir, args });
      const fourth = await submit(f(d.submissionPort), mail(4));
      expect(fourth, 'the three counted before the kill').toMatchObject({ ok: false, code: 451 });
    } finally {
      await d.stop();
      await relay.close();
    }
  }, 90_000);
});
