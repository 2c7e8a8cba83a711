// The SMTP front door against what a hostile probe does, with the real daemon and real clients
// (Python's smtplib, raw sockets bound to their own loopback addresses, a test relay as the next
// hop): SRS forgery, quoted senders forwarded, one address holding every connection, and the
// name the server gives itself.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Srs } from '../../src/smtp/srs.js';
import { type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { mailbox, setup } from '../helpers/effects.js';
import { TestRelay } from '../helpers/relay.js';
import { RawSmtp } from '../helpers/smtp-raw.js';

interface Probe {
  greeting: [number, string];
  ehlo?: [number, string];
  ok?: boolean;
  code?: number;
  error?: string;
  refused?: Record<string, [number, string]>;
}

/** smtplib from a given loopback address: the greeting, EHLO and what became of the message. */
function probe(port: number, source: string, from: string, to: string[], data: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const p = execFile(
      'python3',
      [join(ROOT, 'test/helpers/smtp_probe.py'), String(port), source, from, to.join(',')],
      (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(JSON.parse(stdout))),
    );
    p.stdin!.end(data.replace(/\r?\n/g, '\r\n'));
  });
}

/** One message over a raw connection, the sender's bytes exactly as given: where it stopped and the last reply. */
async function rawSend(port: number, source: string, from: string, to: string, subject: string) {
  const c = await RawSmtp.open(port, source);
  try {
    const steps: [string, string, number][] = [
      ['greeting', '', 220],
      ['ehlo', 'EHLO probe.example', 250],
      ['mail', `MAIL FROM:<${from}>`, 250],
      ['rcpt', `RCPT TO:<${to}>`, 250],
      ['data', 'DATA', 354],
      ['end', `Subject: ${subject}\r\n\r\nx\r\n.`, 250],
    ];
    for (const [stage, line, want] of steps) {
      const r = stage === 'greeting' ? await c.reply() : await c.cmd(line);
      if (r?.code !== want) return { ok: false, stage, code: r?.code ?? 0, text: r?.text ?? '' };
    }
    return { ok: true, stage: 'end', code: 250, text: '' };
  } finally {
    c.close();
  }
}

const queueEmpty = async (d: DaemonHandle) =>
  JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout).length === 0;

/** The envelope sender the daemon logged for its last relayed copy to `to`. */
function loggedSender(output: string, to: string): string | null {
  const lines = output.split('\n').filter((l) => / queue relayed /.test(l) && l.includes(`to=<${to}>`));
  const line = lines[lines.length - 1];
  if (!line) return null;
  const field = (name: string) => {
    const m = new RegExp(` ${name}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`).exec(line);
    return m ? (m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : m[1]) : null;
  };
  const v = field('sender') ?? field('from');
  return v === null ? null : v.replace(/^<(.*)>$/, '$1');
}

/** An RFC 5321 Mailbox in its plain form: a Dot-string local part at a domain name or an address literal. */
const PLAIN_MAILBOX =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[(\d{1,3}(\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\])$/;

describe('SRS forgery', () => {
  let d: DaemonHandle;
  let relay: TestRelay;
  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, ['bob']);
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await relay.close();
  });

  it('a valid SRS address with its hash case-flipped is refused, and nothing goes to its target', async () => {
    const secret = Buffer.from(readFileSync(join(d.dataDir, 'srs-secret'), 'utf8').trim(), 'hex');
    const srs = new Srs(secret, 21);
    // A sender whose hash has a letter to flip (bounded: nearly every one has).
    let flipped = '';
    let target = '';
    for (let i = 0; i < 100 && !flipped; i++) {
      target = `victim${i}@far.example`;
      const valid = srs.forward(target, 'example.test');
      const m = /^SRS0=([^=]+)=/.exec(valid)!;
      const j = m[1].search(/[A-Za-z]/);
      if (j < 0) continue;
      const c = m[1][j];
      const hash = m[1].slice(0, j) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + m[1].slice(j + 1);
      flipped = valid.replace(m[1], hash);
    }
    expect(flipped).not.toBe('');
    const r = await probe(d.smtpPort, '127.0.0.5', '', [flipped], 'Subject: relay me\n\nspam\n');
    expect(r.ok, JSON.stringify(r)).toBe(false);
    expect(r.refused?.[flipped]?.[0]).toBe(550);
    // Nothing was queued for the target, and the relay never saw it.
    expect(await queueEmpty(d)).toBe(true);
    expect(relay.received.filter((m) => m.to.includes(target))).toEqual([]);
    expect(d.output()).toMatch(/smtp refused .*SRS address hash does not match/);
  });

  it('10,000 forged SRS recipients on one connection: cut off with 421 after the error limit, nothing relayed, and that address then waits for its greeting', async () => {
    const c = await RawSmtp.open(d.smtpPort, '127.0.0.6');
    expect((await c.reply())?.code).toBe(220);
    expect((await c.cmd('EHLO probe.example'))?.code).toBe(250);
    expect((await c.cmd('MAIL FROM:<>'))?.code).toBe(250);
    const codes: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const hash = Math.random().toString(36).slice(2, 10);
      const r = await c.cmd(`RCPT TO:<SRS0=${hash}=AA=far.example=victim@example.test>`);
      if (!r) break;
      codes.push(r.code);
      if (r.code === 421) break;
    }
    expect(codes[codes.length - 1]).toBe(421);
    expect(codes.length).toBeLessThanOrEqual(21);
    expect(codes.slice(0, -1).every((x) => x === 550)).toBe(true);
    expect(await c.waitClosed()).toBe(true);
    expect(d.output()).toMatch(/smtp cut off .*client=127\.0\.0\.6/);
    // The same address connecting again is held before its greeting (a lower bound only: a
    // slow machine makes it longer, never shorter).
    const again = await RawSmtp.open(d.smtpPort, '127.0.0.6');
    const greeting = await again.reply();
    expect(greeting?.code).toBe(220);
    expect(greeting!.at - again.connectedAt).toBeGreaterThanOrEqual(900);
    again.close();
    // Another address is served as before.
    const other = await probe(d.smtpPort, '127.0.0.7', 'a@example.org', ['bob@example.test'], 'Subject: hi\n\nhi\n');
    expect(other.ok, JSON.stringify(other)).toBe(true);
    expect(await queueEmpty(d)).toBe(true);
    expect(relay.received).toEqual([]);
  }, 120_000);
});

describe('the session error limit', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    // No quota warnings: carol's one-message quota is full after one, and a warning would be a second.
    d = await startDaemon({ args: ['--quota-warn', 'none'] });
    await setup(d, ['bob', 'carol']);
    expect((await d.cli(['accounts', 'quota', 'carol', '1M', '--messages', '1'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
  }, 30_000);
  afterAll(async () => {
    await d.stop();
  });

  it('a list server sending 25 messages on one connection, each to a good and an unknown recipient, gets all 25 through to the good one', async () => {
    // smtplib's sendmail: one MAIL, two RCPTs (one refused 550), DATA, 25 times on one connection.
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'python3',
        [join(ROOT, 'test/helpers/smtp_list.py'), String(d.smtpPort), '25', 'bob@example.test', 'nobody@example.test'],
        (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)),
      ),
    );
    const results = JSON.parse(out) as unknown[];
    expect(results.length, out).toBe(25);
    expect(results, out).toEqual(results.map((_, i) => [`nobody${i}@example.test`]));
    await waitFor(
      () => mailbox(d, 'bob').filter((m) => /^Subject: list post \d+$/m.test(m)).length === 25,
      'bob has the 25 posts',
      30_000,
    );
    expect(d.output()).not.toMatch(/smtp cut off/);
  }, 120_000);

  it('a full mailbox (452 4.2.2) named 25 times is no error of the client: not cut off, and the session still delivers', async () => {
    // carol's quota is one message: the first fills it.
    const first = await probe(d.smtpPort, '127.0.0.8', 'a@example.org', ['carol@example.test'], 'Subject: one\n\nx\n');
    expect(first.ok, JSON.stringify(first)).toBe(true);
    await waitFor(() => mailbox(d, 'carol').length === 1, 'carol has one message', 30_000);
    const c = await RawSmtp.open(d.smtpPort, '127.0.0.8');
    try {
      expect((await c.reply())?.code).toBe(220);
      expect((await c.cmd('EHLO mx.example.org'))?.code).toBe(250);
      expect((await c.cmd('MAIL FROM:<a@example.org>'))?.code).toBe(250);
      const codes: number[] = [];
      for (let i = 0; i < 25; i++) codes.push((await c.cmd('RCPT TO:<carol@example.test>'))?.code ?? 0);
      expect(
        codes.every((x) => x === 452),
        JSON.stringify(codes),
      ).toBe(true);
      expect((await c.cmd('RCPT TO:<bob@example.test>'))?.code).toBe(250);
      expect((await c.cmd('DATA'))?.code).toBe(354);
      expect((await c.cmd('Subject: after the full one\r\n\r\nx\r\n.'))?.code).toBe(250);
    } finally {
      c.close();
    }
    await waitFor(
      () => mailbox(d, 'bob').some((m) => /^Subject: after the full one$/m.test(m)),
      'the message after',
      30_000,
    );
    expect(mailbox(d, 'carol').length).toBe(1);
    expect(d.output()).not.toMatch(/smtp cut off .*client=127\.0\.0\.8/);
  }, 120_000);
});

/** An SRS0 local part as libsrs2's defaults make it (4 hash characters), for a day `daysAgo`. */
function legacySrs(secret: Buffer, sender: string, domain: string, daysAgo: number): string {
  const [local, host] = sender.split('@');
  const day = (Math.floor(Date.now() / 86_400_000) - daysAgo) % 1024;
  const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const stamp = b32[day >> 5] + b32[day & 31];
  const hash = createHmac('sha1', secret).update(`${stamp}${host}${local}`.toLowerCase()).digest('base64').slice(0, 4);
  return `SRS0=${hash}=${stamp}=${host}=${local}@${domain}`;
}

describe('SRS addresses made before the longer hash', () => {
  it('are honoured until they expire in a data dir that made them, never in a new one', async () => {
    const dataDir = tempDir();
    const secret = Buffer.alloc(32, 7);
    writeFileSync(join(dataDir, 'srs-secret'), `${secret.toString('hex')}\n`);
    const relay = new TestRelay();
    await relay.listen();
    const d = await startDaemon({ dataDir, args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    const fresh = await startDaemon();
    const freshSecret = Buffer.from(readFileSync(join(fresh.dataDir, 'srs-secret'), 'utf8').trim(), 'hex');
    try {
      const old = legacySrs(secret, 'alice@example.org', 'example.test', 2);
      const sent = await rawSend(d.smtpPort, '127.0.0.11', '', old, 'bounce');
      expect(sent, old).toMatchObject({ ok: true });
      await waitFor(() => relay.received.find((m) => m.to[0] === 'alice@example.org'), 'the bounce passed on');
      const c = old.charAt(5);
      const flipped = old.replace(/^SRS0=./, `SRS0=${c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()}`);
      if (flipped !== old)
        expect(await rawSend(d.smtpPort, '127.0.0.11', '', flipped, 'bounce'), flipped).toMatchObject({
          ok: false,
          stage: 'rcpt',
          code: 550,
        });
      const expired = legacySrs(secret, 'alice@example.org', 'example.test', 30);
      const r = await rawSend(d.smtpPort, '127.0.0.11', '', expired, 'bounce');
      expect(r).toMatchObject({ ok: false, stage: 'rcpt', code: 550 });
      expect(r.text).toMatch(/expired/);
      // A data dir that never made them honours none, however right the 4 characters are.
      const never = legacySrs(freshSecret, 'alice@example.org', 'example.test', 2);
      const n = await rawSend(fresh.smtpPort, '127.0.0.11', '', never, 'bounce');
      expect(n).toMatchObject({ ok: false, stage: 'rcpt', code: 550 });
      expect(n.text).toMatch(/hash does not match/);
    } finally {
      await d.stop();
      await fresh.stop();
      await relay.close();
    }
  });
});

describe('quoted senders forwarded', () => {
  let d: DaemonHandle;
  let relay: TestRelay;
  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, ['alice'], [['fw', ['far@far.example']]]);
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await relay.close();
  });

  it('the envelope sender that leaves is the one logged, and a plain address, on our domain only as SRS0 for a foreign sender', async () => {
    const senders = [
      '"alice"@attacker.test',
      '"a.b"@attacker.test',
      "o'neil+x{y}@attacker.test",
      '"alice"@example.test',
      'bob@[192.0.2.1]',
    ];
    for (const from of senders) {
      const before = relay.received.length;
      const r = await rawSend(d.smtpPort, '127.0.0.8', from, 'fw@example.test', from);
      if (!r.ok) {
        // Refused at intake: with a clear 5xx, and nothing left for the relay.
        expect(r.code, from).toBeGreaterThanOrEqual(500);
        continue;
      }
      const got = await waitFor(() => relay.received[before], `the copy from ${from}`);
      await waitFor(() => loggedSender(d.output(), 'far@far.example') !== null, 'the log line');
      await waitFor(async () => queueEmpty(d), 'the queue to empty');
      const logged = loggedSender(d.output(), 'far@far.example');
      expect(got.from, from).toBe(logged);
      // Empty (the null sender) or a plain mailbox; on a hosted domain only as an SRS0 address.
      if (got.from !== '') {
        expect(got.from, from).toMatch(PLAIN_MAILBOX);
        // (A sender of our own domain keeps its address: this server is in its SPF record.)
        if (got.from.endsWith('@example.test') && !from.endsWith('@example.test'))
          expect(got.from, from).toMatch(/^SRS0=/);
      }
    }
    // The quoted form of a plain local part is that local part (RFC 5322 3.4.1).
    const first = relay.received[0];
    expect(first.from).toMatch(/^SRS0=[^=]+=[A-Z2-7]{2}=attacker\.test=alice@example\.test$/);
  });

  it('quoted local parts that have no plain form are refused at intake with a clear code', async () => {
    for (const from of ['"a b"@attacker.test', '"a@b"@attacker.test', '"a(b)"@attacker.test', '"a\\"b"@x.test']) {
      const r = await rawSend(d.smtpPort, '127.0.0.9', from, 'fw@example.test', 'q');
      expect(r.ok, from).toBe(false);
      expect(r.stage, from).toBe('mail');
      expect(r.code, from).toBeGreaterThanOrEqual(500);
      expect(r.text, from).toMatch(/sender|address|local part/i);
    }
    expect(await queueEmpty(d)).toBe(true);
  });
});

describe('connections per address', () => {
  it('1,000 idle connections from 127.0.0.1 cannot lock out 127.0.0.2; past the per-address cap they get 421', async () => {
    const d = await startDaemon();
    await setup(d, ['carol']);
    const idle: RawSmtp[] = [];
    try {
      for (let i = 0; i < 1000; i += 100)
        idle.push(...(await Promise.all(Array.from({ length: 100 }, () => RawSmtp.open(d.smtpPort, '127.0.0.1')))));
      const first = await Promise.all(idle.map((c) => c.reply()));
      const greeted = first.filter((r) => r?.code === 220).length;
      const turnedAway = first.filter((r) => r?.code === 421);
      expect(greeted).toBe(20);
      expect(turnedAway.length).toBe(980);
      expect(turnedAway[0]?.text).toMatch(/^4\.7\.0 .*your address/);
      const r = await probe(
        d.smtpPort,
        '127.0.0.2',
        'a@example.org',
        ['carol@example.test'],
        'Subject: let in\n\nhi\n',
      );
      expect(r.greeting[0], JSON.stringify(r)).toBe(220);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(mailbox(d, 'carol').some((m) => m.includes('Subject: let in'))).toBe(true);
    } finally {
      for (const c of idle) c.close();
    }
    await d.stop();
  }, 120_000);
});

describe('the name the server gives itself', () => {
  it('greeting, EHLO, Received: and status carry the hostname from the settings file, not the machine name', async () => {
    const dir = tempDir();
    const conf = join(dir, 'vmail.conf');
    writeFileSync(conf, 'hostname = "mx1.example.net"\n');
    const d = await startDaemon({ args: ['--config', conf] });
    await setup(d, ['dave']);
    const r = await probe(d.smtpPort, '127.0.0.10', 'a@example.org', ['dave@example.test'], 'Subject: name\n\nhi\n');
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.greeting[1]).toMatch(/^mx1\.example\.net ESMTP/);
    expect(r.ehlo?.[1]).toMatch(/^mx1\.example\.net /);
    const [msg] = mailbox(d, 'dave');
    expect(msg).toMatch(/\r\nReceived: from \S+ \(\[127\.0\.0\.10\]\)\r\n\tby mx1\.example\.net \(vmail\)/);
    const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
    expect(status.hostname).toBe('mx1.example.net');
    await d.stop();
  });
});
