// Sending, end to end (issue 27's first "Done when", and items 2 and 3 of its DKIM): real mail
// clients (Python's smtplib, Debian's msmtp) submit on 587 with STARTTLS and on 465; no --relay:
// the daemon finds the recipient domain's MX through a real DNS server (dnsmasq, --resolver) and
// delivers into a real Postfix on 127.0.0.21:25 (a loopback address of its own: CI runs direct-delivery.test, on .2, beside it), whose stored copy carries DKIM signatures that
// dkimpy verifies against the published records (and that fail once a body byte changes). An
// MX answering 451 keeps the message queued with its answer; a 550 brings a signed bounce back
// to the sender's own mailbox. ed25519-sha256 (RFC 8463) as a second signature once the domain
// has such a key. 127.0.0.2 is also the clients' source address: not this host, so logins
// need TLS.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, ROOT, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { type DnsServer, dns, startDns } from '../helpers/dns-server.js';
import { mailbox } from '../helpers/effects.js';
import { type RunningPostfix, startPostfix } from '../helpers/postfix.js';

afterAll(cleanUp);

const MX = '127.0.0.21'; // Postfix taking far.test's mail (not .2: direct-delivery.test's, run beside this file)
const DEFER = '127.0.0.22'; // Postfix answering 451 for deferring.test
const CLIENT = '127.0.0.2';

interface Verified {
  ok: boolean;
  domain: string;
  signatures: { selector: string; algorithm: string; ok: boolean }[];
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

/** dkimpy's verdict on every signature of `data`, the DNS answering with `records`. */
const dkimpy = (data: string | Buffer, records: { name: string; value: string }[]) =>
  python<Verified>(
    'dkim_verify.py',
    ['dkim', ...records.flatMap((r) => [r.name, r.value])],
    // Postfix's Maildir copy has bare LFs: the message as it was on the wire has CRLFs.
    Buffer.from((typeof data === 'string' ? data : data.toString('latin1')).replace(/\r?\n/g, '\r\n'), 'latin1'),
  );

const submit = (port: number, mode: 'starttls' | 'ssl', to: string[], message: string, user = 'alice') =>
  python<{ ok: boolean; code?: number; error?: string }>(
    'submit.py',
    [
      JSON.stringify({
        port,
        mode,
        user: `${user}@example.test`,
        password: `pw-${user}-sends`,
        from: `${user}@example.test`,
        to,
        source: CLIENT,
      }),
    ],
    message,
  );

const message = (subject: string, to = 'someone@far.test', from = 'Alice <alice@example.test>') =>
  `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nHello from ${subject}.\r\nA second line.\r\n`;

let cert: string;
let key: string;
let dnsServer: DnsServer;
let pf: RunningPostfix;
let pfDefer: RunningPostfix;
let d: DaemonHandle;
let sub: number;
let subs: number;
let rsa: { name: string; value: string; selector: string };

/** The messages in Postfix's Maildir for `box`, as text. */
function stored(p: RunningPostfix, box: string): string[] {
  const dir = join(p.maildir(box), 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1')) : [];
}

const arrived = (subject: string, box = 'someone@far.test') =>
  waitFor(
    () => stored(pf, box).find((m) => m.includes(`Subject: ${subject}\n`)),
    `${subject} at the MX\n${pf.logTail()}\n${d.output().slice(-1500)}`,
    30_000,
  );

beforeAll(async () => {
  ({ cert, key } = await selfSignedCert());
  dnsServer = await startDns([
    dns.mx('far.test', 'mx1.far.test'),
    dns.a('mx1.far.test', MX),
    dns.mx('deferring.test', 'mx.deferring.test'),
    dns.a('mx.deferring.test', DEFER),
  ]);
  pf = startPostfix({ address: MX, boxes: ['someone@far.test'], hostname: 'mx1.far.test' });
  pfDefer = startPostfix({ address: DEFER, boxes: ['user@deferring.test'], mode: 'defer', hostname: 'mx.b.test' });
  d = await startDaemon({
    args: [
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--submissions',
      '127.0.0.1:0',
      '--resolver',
      dnsServer.address,
      '--hostname',
      'mail.example.test',
      '--relay-timeout',
      '10s',
    ],
  });
  for (const a of ['alice', 'bob'])
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `pw-${a}-sends\n`)).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
  sub = status.submission.port;
  subs = status.submissions.port;
  rsa = JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--json'])).stdout);
  expect(rsa.value).toMatch(/^v=DKIM1; k=rsa; p=/);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  pf?.stop();
  pfDefer?.stop();
  await dnsServer?.stop();
});

/** Changes one byte of the body: a signature over it must fail. */
const tampered = (text: string, subject: string) => text.replace(`Hello from ${subject}.`, `Hello from ${subject}!`);

describe('a real client sends; the MX found through DNS stores it, DKIM-signed', () => {
  it('smtplib on 587 (STARTTLS) and 465: Postfix stores each, dkimpy verifies the RSA signature, a changed body byte fails', async () => {
    expect(await submit(sub, 'starttls', ['someone@far.test'], message('py-587'))).toMatchObject({ ok: true });
    expect(await submit(subs, 'ssl', ['someone@far.test'], message('py-465'))).toMatchObject({ ok: true });
    for (const subject of ['py-587', 'py-465']) {
      const copy = await arrived(subject);
      expect(copy).toMatch(/^Return-Path: <alice@example\.test>/);
      // From us, by name, straight to the MX (no relay).
      expect(copy).toMatch(
        /Received: from mail\.example\.test \([^)]*127\.0\.0\.1\]\)\r?\n\s+by mx1\.far\.test \(Postfix\)/,
      );
      expect(copy.match(/^DKIM-Signature:/gm)).toHaveLength(1);
      expect(copy).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/m);
      const good = await dkimpy(copy, [rsa]);
      expect(good).toMatchObject({ ok: true, domain: 'example.test' });
      expect((await dkimpy(tampered(copy, subject), [rsa])).ok).toBe(false);
    }
  });

  it('msmtp (Debian) on 587 and on 465, trusting the test certificate: delivered and verified', async () => {
    const rc = join(tempDir(), 'msmtprc');
    const account = (name: string, port: number, starttls: boolean) =>
      [
        `account ${name}`,
        'host 127.0.0.1',
        `port ${port}`,
        `source_ip ${CLIENT}`,
        'auth on',
        'user bob@example.test',
        'password pw-bob-sends',
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
        const p = spawn('msmtp', ['-C', rc, '-a', name, 'someone@far.test']);
        let err = '';
        p.stderr.on('data', (c) => (err += c));
        p.on('close', (code) => resolve({ code, err }));
        p.stdin.end(message(subject, 'someone@far.test', 'bob@example.test').replace(/\r\n/g, '\n'));
      });
      expect(r, r.err).toMatchObject({ code: 0 });
      const copy = await arrived(subject);
      expect(copy).toMatch(/^Return-Path: <bob@example\.test>/);
      expect(await dkimpy(copy, [rsa])).toMatchObject({ ok: true });
      expect((await dkimpy(tampered(copy, subject), [rsa])).ok).toBe(false);
    }
  });

  it('an MX answering 451: the submitted message stays in queue list with the answer', async () => {
    expect(
      await submit(sub, 'starttls', ['user@deferring.test'], message('deferred', 'user@deferring.test')),
    ).toMatchObject({ ok: true });
    const entry = await waitFor(
      async () => {
        const list = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as {
          to: string;
          from: string;
          lastError: string | null;
        }[];
        return list.find((e) => e.to === 'user@deferring.test' && e.lastError) ?? null;
      },
      'the deferral in queue list',
      30_000,
    );
    expect(entry.from).toBe('alice@example.test');
    expect(entry.lastError).toMatch(/mx\.deferring\.test\[127\.0\.0\.22\] said: 451 4\.\d\.\d <user@deferring\.test>/);
    expect((await d.cli(['queue', 'list'])).stdout).toMatch(/<user@deferring\.test>.*said: 451/);
    expect(stored(pfDefer, 'user@deferring.test')).toEqual([]);
  });

  it("an MX answering 550: the bounce comes back to the sender's own mailbox, DKIM-signed for example.test", async () => {
    expect(
      await submit(sub, 'starttls', ['nobody@far.test'], message('refused there', 'nobody@far.test')),
    ).toMatchObject({
      ok: true,
    });
    const bounce = await waitFor(
      () => mailbox(d, 'alice').find((m) => m.includes('refused there')),
      `the bounce\n${d.output().slice(-1500)}`,
      30_000,
    );
    expect(bounce).toMatch(/Status: 5\.1\.1/);
    expect(bounce).toMatch(/mx1\.far\.test\[127\.0\.0\.21\] said: 550 5\.1\.1/);
    expect(bounce).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@example\.test>\r?$/m);
    expect(bounce).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/m);
    // The Maildir copy starts with our own Return-Path and Delivered-To lines: signed below them.
    const signedPart = bounce.slice(bounce.search(/^DKIM-Signature:/m));
    expect(await dkimpy(signedPart, [rsa])).toMatchObject({ ok: true, domain: 'example.test' });
  });
});

describe('ed25519-sha256 as a second signature (RFC 8463)', () => {
  let ed: { name: string; value: string; selector: string; algorithm: string; created: boolean };

  it('domains dkim --algorithm ed25519 makes a key beside the RSA one; domains dns lists both records', async () => {
    const r = await d.cli(['domains', 'dkim', 'example.test', '--algorithm', 'ed25519', '--json']);
    expect(r.code, r.stderr).toBe(0);
    ed = JSON.parse(r.stdout);
    expect(ed).toMatchObject({ algorithm: 'ed25519', created: true });
    expect(ed.selector).toMatch(/^vmail\d{6}e$/);
    // RFC 8463: the bare 32-octet public key, base64.
    expect(ed.value).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    // Asked again: the same key, not a new one; --ed25519 is the same request.
    const again = JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--ed25519', '--json'])).stdout);
    expect(again).toMatchObject({ selector: ed.selector, value: ed.value, created: false });
    const records = JSON.parse((await d.cli(['domains', 'dns', 'example.test', '--json'])).stdout) as {
      type: string;
      name: string;
      value: string;
    }[];
    const dkimRecords = records.filter((x) => x.name.includes('._domainkey.'));
    expect(dkimRecords.map((x) => [x.name, x.value])).toEqual([
      [rsa.name, rsa.value],
      [ed.name, ed.value],
    ]);
    const text = (await d.cli(['domains', 'dns', 'example.test'])).stdout;
    expect(text).toContain(`${ed.name}.\t3600\tIN\tTXT\t"${ed.value}"`);
  });

  it('submitted mail now carries both signatures; dkimpy verifies each, and each fails on a changed body byte', async () => {
    expect(await submit(sub, 'starttls', ['someone@far.test'], message('two signatures'))).toMatchObject({ ok: true });
    const copy = await arrived('two signatures');
    expect(copy).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/m);
    expect(copy).toMatch(/^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example\.test;/m);
    const v = await dkimpy(copy, [rsa, ed]);
    expect(v.ok).toBe(true);
    expect(v.signatures.map((s) => [s.algorithm, s.selector, s.ok])).toEqual([
      ['rsa-sha256', rsa.selector, true],
      ['ed25519-sha256', ed.selector, true],
    ]);
    const bad = await dkimpy(tampered(copy, 'two signatures'), [rsa, ed]);
    expect(bad.signatures.map((s) => s.ok)).toEqual([false, false]);
    // The ed25519 signature stands on its own record: without the RSA one, only it verifies.
    expect((await dkimpy(copy, [ed])).signatures.map((s) => s.ok)).toEqual([false, true]);
  });
});

describe('DKIM keys: the attacker', () => {
  it('an unknown algorithm, or a selector that is a path: a one-line error, and no key file made', async () => {
    const dir = join(d.dataDir, 'dkim', 'example.test');
    const before = readdirSync(dir).sort();
    const bad = await d.cli(['domains', 'dkim', 'example.test', '--algorithm', 'dsa']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^[^\n]*algorithm "dsa": use rsa or ed25519$/);
    for (const selector of ['../../x', 'a/b', 'x'.repeat(64)]) {
      const r = await d.cli(['domains', 'dkim', 'example.test', '--ed25519', '--selector', selector]);
      expect(r.code, selector).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    // A selector in use by the RSA key is not taken over by an ed25519 one.
    const taken = await d.cli(['domains', 'dkim', 'example.test', '--ed25519', '--selector', rsa.selector]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/already has a key with selector/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(d.dataDir, 'x.pem'))).toBe(false);
  });

  it('a file in the key folder that is no usable key (garbage, an EC key) signs nothing and stops nothing', async () => {
    const dir = join(d.dataDir, 'dkim', 'example.test');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'garbage.pem'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'ec.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(await submit(sub, 'starttls', ['someone@far.test'], message('odd files'))).toMatchObject({ ok: true });
    const copy = await arrived('odd files');
    expect(copy.match(/^DKIM-Signature:/gm)).toHaveLength(2);
    expect(copy).not.toMatch(/s=(garbage|ec);/);
  });
});
