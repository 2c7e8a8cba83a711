// Submission (issue 27 items 1, 3, 4, 5): a real daemon with a certificate, real clients
// (Python's smtplib, Debian's msmtp) on 587 with STARTTLS and on 465, the mail judged where it
// arrives (the test relay behind --relay, or a local Maildir), its DKIM signature verified by
// dkimpy against the published key; logins as POP3's (throttle, log lines, fail2ban's filter);
// the sender rules; --send-limit with 20 clients racing past it. 127.0.0.2 stands for a client
// that is not this host (only 127.0.0.1 and ::1 may log in without TLS).
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';
import { TestRelay } from '../helpers/relay.js';

const run = promisify(execFile);
const REMOTE = '127.0.0.2';

interface Submitted {
  ok: boolean;
  step: string;
  code?: number;
  error?: string;
  refused?: Record<string, [number, string]>;
}

function python<T>(script: string, args: string[], input: string | Buffer = ''): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [join(ROOT, 'test/helpers', script), ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(err || out))));
    p.stdin.end(input);
  });
}

const submit = (
  a: { port: number; mode: 'starttls' | 'ssl' | 'plain'; user?: string; password?: string; from: string; to: string[] },
  message: string,
  source = REMOTE,
) => python<Submitted>('submit.py', [JSON.stringify({ ...a, source })], message);

const dkimpy = (data: Buffer | string, name: string, value: string) =>
  python<{ ok: boolean; domain: string }>('dkim_verify.py', ['dkim', name, value], data);

const message = (from: string, subject: string, extra = '') =>
  `From: ${from}\r\nTo: someone@far.example\r\nSubject: ${subject}\r\n${extra}\r\nHello from ${subject}.\r\n`;

let cert: string;
let key: string;
let d: DaemonHandle;
let relay: TestRelay;
let sub: number;
let subs: number;
let dkimKey: { name: string; value: string };

const daemonArgs = () => [
  '--tls-cert',
  cert,
  '--tls-key',
  key,
  '--submissions',
  '127.0.0.1:0',
  '--relay',
  `smtp://127.0.0.1:${relay.port}`,
  '--send-limit',
  '3/1h',
  '--auth-failure-delay',
  '1ms',
  '--hostname',
  'mail.example.test',
];

beforeAll(async () => {
  ({ cert, key } = await selfSignedCert());
  relay = new TestRelay();
  await relay.listen();
  d = await startDaemon({ args: daemonArgs() });
  const accounts = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'racer', 'guess', 'mallory', 'many'];
  for (const a of accounts)
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `pw-${a}-1\n`)).code).toBe(0);
  expect((await d.cli(['forwards', 'add', 'sales', 'alice@example.test'])).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
  sub = status.submission.port;
  subs = status.submissions.port;
  dkimKey = JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--json'])).stdout);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await relay?.close();
});

const arrived = (subject: string) =>
  waitFor(() => relay.received.find((m) => m.data.toString('latin1').includes(`Subject: ${subject}\r\n`)), subject);

describe('real clients submit on 587 and 465; the relay gets it DKIM-signed', () => {
  it('the ready line and status --json name both ports', () => {
    expect(d.output()).toMatch(new RegExp(`ready: .*submission=${sub} submissions=${subs} `));
    expect(sub).toBeGreaterThan(0);
    expect(subs).toBeGreaterThan(0);
  });

  it('vmail domains settings names the outgoing server, 465 and 587, the full address and this password', async () => {
    const page = (await d.cli(['domains', 'settings', 'example.test'])).stdout;
    expect(page).toMatch(/^ {2}Outgoing \(SMTP\) {3}mail\.example\.test$/m);
    expect(page).toContain(`  Port ${subs}`);
    expect(page).toMatch(new RegExp(`^  Port ${subs} +SSL/TLS from the first byte`, 'm'));
    expect(page).toMatch(new RegExp(`^  Port ${sub} +STARTTLS, then the password`, 'm'));
    expect(page).toMatch(/your full address, NAME@example\.test/);
    expect(page).toMatch(/this password/);
    expect(page).not.toMatch(/Internet provider/);
    for (const l of page.split('\n')) expect(l.length, l).toBeLessThanOrEqual(78);
  });

  it('smtplib on 587 with STARTTLS and on 465: each arrives, signed for example.test, dkimpy verifies it; a changed body byte fails', async () => {
    const a = {
      user: 'alice@example.test',
      password: 'pw-alice-1',
      from: 'alice@example.test',
      to: ['someone@far.example'],
    };
    expect(await submit({ ...a, port: sub, mode: 'starttls' }, message('alice@example.test', 'py-587'))).toMatchObject({
      ok: true,
    });
    expect(
      await submit({ ...a, port: subs, mode: 'ssl' }, message('Alice <alice@example.test>', 'py-465')),
    ).toMatchObject({ ok: true });
    for (const subject of ['py-587', 'py-465']) {
      const got = await arrived(subject);
      expect(got.from).toBe('alice@example.test');
      expect(got.to).toEqual(['someone@far.example']);
      const text = got.data.toString('latin1');
      expect(text).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/m);
      // Message-ID and Date added; a Received: line with the client's address, no login name.
      expect(text).toMatch(/^Message-ID: <[^>]+@mail\.example\.test>\r$/m);
      expect(text).toMatch(/^Date: \w{3}, /m);
      expect(text).toMatch(
        /^Received: from client\.example \(\[127\.0\.0\.2\]\)\r\n\tby mail\.example\.test \(vmail\) with ESMTPSA id/m,
      );
      expect(text).not.toMatch(/Authenticated sender|alice@example\.test\)/);
      expect(await dkimpy(got.data, dkimKey.name, dkimKey.value)).toMatchObject({ ok: true, domain: 'example.test' });
      const changed = Buffer.from(text.replace(`Hello from ${subject}.`, `Hello from ${subject}!`), 'latin1');
      expect((await dkimpy(changed, dkimKey.name, dkimKey.value)).ok).toBe(false);
    }
  });

  it('msmtp (Debian) on 587 with STARTTLS and on 465, trusting the test certificate', async () => {
    const dir = tempDir();
    const rc = join(dir, 'msmtprc');
    const account = (name: string, port: number, starttls: boolean) =>
      [
        `account ${name}`,
        'host 127.0.0.1',
        `port ${port}`,
        'source_ip 127.0.0.2',
        'auth on',
        'user bob@example.test',
        'password pw-bob-1',
        'from bob@example.test',
        'tls on',
        `tls_starttls ${starttls ? 'on' : 'off'}`,
        `tls_trust_file ${cert}`,
        'tls_host_override localhost',
        '',
      ].join('\n');
    writeFileSync(rc, account('p587', sub, true) + account('p465', subs, false), { mode: 0o600 });
    for (const [name, subject] of [
      ['p587', 'msmtp-587'],
      ['p465', 'msmtp-465'],
    ]) {
      const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn('msmtp', ['-C', rc, '-a', name, 'someone@far.example']);
        let err = '';
        p.stderr.on('data', (c) => (err += c));
        p.on('close', (code) => resolve({ code, err }));
        p.stdin.end(message('bob@example.test', subject).replace(/\r\n/g, '\n'));
      });
      expect(r, r.err).toMatchObject({ code: 0 });
      const got = await arrived(subject);
      expect(got.from).toBe('bob@example.test');
      expect(await dkimpy(got.data, dkimKey.name, dkimKey.value)).toMatchObject({ ok: true });
    }
  });

  it('a submitted message to a hosted address is delivered to its Maildir; an alias (a forward to the account) may be the sender', async () => {
    const r = await submit(
      {
        port: sub,
        mode: 'starttls',
        user: 'alice@example.test',
        password: 'pw-alice-1',
        from: 'sales@example.test',
        to: ['carol@example.test'],
      },
      message('Sales <sales@example.test>', 'to-carol'),
    );
    expect(r).toMatchObject({ ok: true });
    const dir = join(d.dataDir, 'mail/example.test/carol/new');
    const file = await waitFor(() => readdirSync(dir)[0], 'the message in carol/new');
    const text = readFileSync(join(dir, file), 'latin1');
    expect(text).toMatch(/Subject: to-carol/);
    expect(text).toMatch(/DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/);
  });
});

describe('refusals', () => {
  const mal = { user: 'mallory@example.test', password: 'pw-mallory-1', to: ['someone@far.example'] };

  it('AUTH before TLS from another address: 530 5.7.0, the password not checked; from 127.0.0.1 it is allowed', async () => {
    const r = await submit(
      { ...mal, port: sub, mode: 'plain', from: 'mallory@example.test' },
      message('mallory@example.test', 'clear'),
    );
    expect(r).toMatchObject({ ok: false, step: 'auth', code: 530 });
    expect(r.error).toMatch(/^5\.7\.0 Must issue a STARTTLS command first/);
    expect(d.output()).toMatch(/submission login refused rip=127\.0\.0\.2 why="no TLS"/);
    expect(d.output()).not.toMatch(/submission login (failed )?user=mallory/);
    const local = await submit(
      { ...mal, port: sub, mode: 'plain', from: 'mallory@example.test' },
      message('mallory@example.test', 'clear-local'),
      '127.0.0.1',
    );
    expect(local).toMatchObject({ ok: true });
  });

  it('a wrong password: 535 5.7.8 and the POP3-style log line', async () => {
    const r = await submit(
      { ...mal, password: 'wrong', port: sub, mode: 'starttls', from: 'mallory@example.test' },
      message('x@example.test', 'wrong'),
    );
    expect(r).toMatchObject({ ok: false, step: 'auth', code: 535 });
    expect(d.output()).toMatch(
      /warning submission login failed user=mallory@example\.test rip=127\.0\.0\.2 failures=\d+\n/,
    );
  });

  it("another account's envelope sender: 553 5.7.1; another account's From: 553 5.7.1, nothing relayed", async () => {
    const env = await submit(
      { ...mal, port: sub, mode: 'starttls', from: 'alice@example.test' },
      message('mallory@example.test', 'env-forged'),
    );
    expect(env).toMatchObject({ ok: false, step: 'send', code: 553 });
    expect(env.error).toMatch(/^5\.7\.1 Sender address <alice@example\.test> is not yours/);
    const hdr = await submit(
      { ...mal, port: subs, mode: 'ssl', from: 'mallory@example.test' },
      message('Alice <alice@example.test>', 'from-forged'),
    );
    expect(hdr).toMatchObject({ ok: false, step: 'send', code: 553 });
    expect(hdr.error).toMatch(/^5\.7\.1 From: <alice@example\.test> is not yours/);
    // A second address in From:, a From: folded into two, and two From: headers are refused too.
    for (const [from, extra] of [
      ['mallory@example.test, alice@example.test', ''],
      ['mallory@example.test,\r\n alice@example.test', ''],
      ['mallory@example.test', 'From: alice@example.test\r\n'],
      ['Team: mallory@example.test;', ''],
    ]) {
      const r = await submit(
        { ...mal, port: sub, mode: 'starttls', from: 'mallory@example.test' },
        message(from, 'from-tricks', extra),
      );
      expect(r, from).toMatchObject({ ok: false, code: 553 });
    }
    // The only one of mallory's that went anywhere is the clear one from 127.0.0.1 above.
    expect(relay.received.filter((m) => /forged|from-tricks/.test(m.data.toString('latin1')))).toEqual([]);
  });

  it('RCPT without AUTH: 530; port 25 still refuses relaying', async () => {
    const r = await submit(
      { port: sub, mode: 'starttls', from: 'mallory@example.test', to: ['someone@far.example'] },
      message('mallory@example.test', 'noauth'),
    );
    expect(r).toMatchObject({ ok: false, code: 530 });
    const mx = await smtplib(
      d.smtpPort,
      'alice@example.test',
      ['someone@far.example'],
      message('alice@example.test', 'mx-relay'),
    );
    expect(mx.ok).toBe(false);
    expect(JSON.stringify(mx)).toMatch(/550.*Relaying denied/);
  });
});

describe('--send-limit 3/1h', () => {
  it('a 4th message is deferred with 451 4.7.1 naming the limit, logged, and the count survives a restart', async () => {
    const f = {
      port: sub,
      mode: 'starttls' as const,
      user: 'frank@example.test',
      password: 'pw-frank-1',
      from: 'frank@example.test',
      to: ['someone@far.example'],
    };
    for (let i = 1; i <= 3; i++)
      expect(await submit(f, message('frank@example.test', `frank-${i}`))).toMatchObject({ ok: true });
    const fourth = await submit(f, message('frank@example.test', 'frank-4'));
    expect(fourth).toMatchObject({ ok: false, code: 451 });
    expect(fourth.error).toMatch(
      /^4\.7\.1 Sending limit reached: <frank@example\.test> may send to 3 recipients in 1h/,
    );
    expect(d.output()).toMatch(/submission refused user=frank@example\.test .*code=451/);
    // A restart on the same data dir still counts the three.
    await d.stop();
    d = await startDaemon({ dataDir: d.dataDir, args: daemonArgs() });
    sub = JSON.parse((await d.cli(['status', '--json'])).stdout).submission.port;
    subs = JSON.parse((await d.cli(['status', '--json'])).stdout).submissions.port;
    expect(await submit({ ...f, port: sub }, message('frank@example.test', 'frank-5'))).toMatchObject({
      ok: false,
      code: 451,
    });
    // accounts list marks frank (and only frank); accounts limits says what he sent.
    const list = (await d.cli(['accounts', 'list'])).stdout;
    expect(list).toMatch(/frank@example\.test.*active, sending limit reached/);
    expect(list).not.toMatch(/dave@example\.test.*sending limit reached/);
    const limits = await d.cli(['accounts', 'limits', 'frank', '--json']);
    expect(JSON.parse(limits.stdout)).toMatchObject({
      address: 'frank@example.test',
      limit: 3,
      windowSeconds: 3600,
      sent: 3,
      reached: true,
    });
    expect((await d.cli(['accounts', 'limits', 'frank'])).stdout).toMatch(
      /^frank@example\.test: sent to 3 of 3 recipients in the last 1h: sending limit reached; /,
    );
    expect(
      await submit(
        { ...f, port: sub, user: 'dave@example.test', password: 'pw-dave-1', from: 'dave@example.test' },
        message('dave@example.test', 'dave-1'),
      ),
    ).toMatchObject({ ok: true });
  }, 60_000);

  it('each recipient counts: one message to 5 addresses reaches the first 3, the other 2 are deferred (451), and the next message is refused', async () => {
    const f = {
      port: sub,
      mode: 'starttls' as const,
      user: 'many@example.test',
      password: 'pw-many-1',
      from: 'many@example.test',
      to: ['r1@far.example', 'r2@far.example', 'r3@far.example', 'r4@far.example', 'r5@far.example'],
    };
    const first = await submit(f, message('many@example.test', 'many-1'));
    expect(first.ok).toBe(true);
    expect(Object.keys(first.refused ?? {}).sort()).toEqual(['r4@far.example', 'r5@far.example']);
    expect(Object.values(first.refused ?? {}).every(([code]) => code === 451)).toBe(true);
    await waitFor(
      () => relay.received.filter((m) => m.from === 'many@example.test').flatMap((m) => m.to).length === 3,
      'three copies relayed',
    );
    expect(
      relay.received
        .filter((m) => m.from === 'many@example.test')
        .flatMap((m) => m.to)
        .sort(),
    ).toEqual(['r1@far.example', 'r2@far.example', 'r3@far.example']);
    expect(await submit({ ...f, to: ['r6@far.example'] }, message('many@example.test', 'many-2'))).toMatchObject({
      ok: false,
      code: 451,
    });
    expect(JSON.parse((await d.cli(['accounts', 'limits', 'many', '--json'])).stdout)).toMatchObject({ sent: 3 });
  });

  it('20 clients racing past the limit on one account: exactly 3 accepted', async () => {
    const f = {
      port: sub,
      mode: 'starttls' as const,
      user: 'racer@example.test',
      password: 'pw-racer-1',
      from: 'racer@example.test',
      to: ['someone@far.example'],
    };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => submit(f, message('racer@example.test', `race-${i}`))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok).every((r) => r.code === 451)).toBe(true);
    await waitFor(
      () => relay.received.filter((m) => m.from === 'racer@example.test').length === 3,
      'three racers relayed',
    );
  });
});

describe('the attacker', () => {
  it('300 wrong AUTHs from one address are each logged and throttled; the right password then works', async () => {
    const guesses = await python<{ replies: [number, string][] }>(
      'submit_raw.py',
      [],
      JSON.stringify({
        port: sub,
        source: REMOTE,
        commands: Array.from(
          { length: 300 },
          (_, i) => `AUTH PLAIN ${Buffer.from(`\0guess@example.test\0nope-${i}`).toString('base64')}`,
        ),
      }),
    );
    expect(guesses.replies.map((r) => r[0])).toEqual(Array(300).fill(535));
    const lines =
      d.output().match(/submission login failed user=guess@example\.test rip=127\.0\.0\.2 failures=\d+/g) ?? [];
    expect(lines.length).toBeGreaterThanOrEqual(300);
    // The log lines are fail2ban's to read: the shipped filter matches each.
    const log = join(tempDir(), 'vmail.log');
    writeFileSync(log, `${lines.map((l) => `2026-11-28T22:56:04.491Z warning ${l}`).join('\n')}\n`);
    const f2b = await run('fail2ban-regex', [log, join(ROOT, 'contrib/fail2ban/filter.d/vmail.conf')]);
    expect(f2b.stdout).toMatch(
      new RegExp(`^Lines: ${lines.length} lines, 0 ignored, ${lines.length} matched, 0 missed`, 'm'),
    );
    const ok = await submit(
      {
        port: sub,
        mode: 'starttls',
        user: 'guess@example.test',
        password: 'pw-guess-1',
        from: 'guess@example.test',
        to: ['someone@far.example'],
      },
      message('guess@example.test', 'guess-right'),
    );
    expect(ok).toMatchObject({ ok: true });
  }, 120_000);

  it('AUTH with malformed base64 and a huge line are refused, and the daemon serves on', async () => {
    const r = await python<{ replies: [number, string][] }>(
      'submit_raw.py',
      [],
      JSON.stringify({
        port: sub,
        source: REMOTE,
        commands: ['AUTH PLAIN !!!not*base64!!!', 'AUTH PLAIN AAAA', `AUTH PLAIN ${'QUFB'.repeat(200_000)}`, 'NOOP'],
      }),
    );
    expect(r.replies).toEqual([
      [501, 'Error: invalid userdata'],
      [501, 'Error: invalid userdata'],
      // An 800 kB line is not read into memory: the session ends there.
      [421, 'Error: Command line too long'],
      [-1, 'disconnected'],
    ]);
    const ok = await submit(
      {
        port: subs,
        mode: 'ssl',
        user: 'erin@example.test',
        password: 'pw-erin-1',
        from: 'erin@example.test',
        to: ['someone@far.example'],
      },
      message('erin@example.test', 'after-garbage'),
    );
    expect(ok).toMatchObject({ ok: true });
  }, 60_000);
});

describe('the outgoing queue', () => {
  it('vmail queue list shows a submitted message the relay defers, with its next try and last answer', async () => {
    relay.mode = 451;
    try {
      const r = await submit(
        {
          port: sub,
          mode: 'starttls',
          user: 'carol@example.test',
          password: 'pw-carol-1',
          from: 'carol@example.test',
          to: ['later@far.example'],
        },
        message('carol@example.test', 'deferred'),
      );
      expect(r).toMatchObject({ ok: true });
      const entry = await waitFor(async () => {
        const list = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as {
          from: string;
          to: string;
          lastError: string | null;
          nextAttemptAt: string;
        }[];
        return list.find((e) => e.from === 'carol@example.test' && e.lastError);
      }, 'the deferred entry');
      expect(entry.to).toBe('later@far.example');
      expect(entry.lastError).toMatch(/451/);
      expect(Date.parse(entry.nextAttemptAt)).toBeGreaterThan(Date.now());
    } finally {
      relay.mode = 'accept';
    }
  });
});
