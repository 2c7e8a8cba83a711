// Hostile tests of wave r5 (issues 27-31): what an attacker can do with submission, direct
// delivery, the HTTP front, backups, quota warnings and the trail. One daemon with a certificate,
// submission on 587 (STARTTLS) and the test relay behind --relay; real clients (Python's smtplib),
// and what a recipient's mail reader sees judged by Python's own email parser.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, selfSignedCert, startDaemon, waitFor } from '../helpers/daemon.js';
import { TestRelay } from '../helpers/relay.js';

const REMOTE = '127.0.0.2';

interface Submitted {
  ok: boolean;
  step: string;
  code?: number;
  error?: string;
}

function python<T>(args: string[], input: string | Buffer = ''): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', args);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(err || out))));
    p.stdin.end(input);
  });
}

/** The From: addresses a recipient's reader finds (Python's email package, its modern policy). */
const readerFrom = (data: Buffer) =>
  python<string[]>(
    [
      '-c',
      'import sys, json, email, email.policy\n' +
        'm = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n' +
        'print(json.dumps([a.addr_spec.lower() for h in (m.get_all("From") or []) for a in h.addresses]))',
    ],
    data,
  );

let d: DaemonHandle;
let relay: TestRelay;
let sub: number;
const mal = { user: 'mallory@example.test', password: 'pw-mallory-1', to: ['someone@far.example'] };

const submit = (from: string, fromHeader: string, subject: string, extra = '') =>
  python<Submitted>(
    [
      join(ROOT, 'test/helpers/submit.py'),
      JSON.stringify({ ...mal, port: sub, mode: 'starttls', from, source: REMOTE }),
    ],
    `From: ${fromHeader}\r\nTo: someone@far.example\r\nSubject: ${subject}\r\n${extra}\r\nHello from ${subject}.\r\n`,
  );

const relayed = (subject: string) =>
  relay.received.find((m) => m.data.toString('latin1').includes(`Subject: ${subject}\r\n`));

beforeAll(async () => {
  const { cert, key } = await selfSignedCert();
  relay = new TestRelay();
  await relay.listen();
  d = await startDaemon({
    args: [
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--relay',
      `smtp://127.0.0.1:${relay.port}`,
      '--auth-failure-delay',
      '1ms',
      '--hostname',
      'mail.example.test',
    ],
  });
  for (const a of ['mallory', 'boss'])
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `pw-${a}-1\n`)).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  sub = JSON.parse((await d.cli(['status', '--json'])).stdout).submission.port;
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await relay?.close();
});

describe('submission: an account cannot pass another address off as its From:', () => {
  // Each of these: vmail's check (nodemailer's addressparser) finds mallory's own address, a
  // reader finds boss's, and the copy goes out signed by example.test (DMARC-aligned for boss).
  const forged: [string, string][] = [
    ['unclosed-angle', 'boss@example.test<mallory@example.test'],
    ['spaced-addr-as-name', 'boss @ example.test <mallory@example.test>'],
    ['second-from-space-colon', 'mallory@example.test\r\nFrom : boss@example.test'],
    ['second-from-tab-colon', 'mallory@example.test\r\nFROM\t: boss@example.test'],
  ];
  for (const [subject, header] of forged)
    it(`From: ${JSON.stringify(header)} is refused with 553 5.7.1 and nothing is relayed`, async () => {
      const r = await submit('mallory@example.test', header, `forged-${subject}`);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: false, code: 553 });
      expect(relayed(`forged-${subject}`)).toBeUndefined();
    });

  it("the reader's view: what it shows as From: is what vmail checked (a control message and each forgery's header)", async () => {
    const ok = [
      ['plain', 'mallory@example.test'],
      ['named', 'Mallory <mallory@example.test>'],
      ['quoted-name', '"Mallory, M. <boss@example.test>" <mallory@example.test>'],
      ['encoded-name', '=?utf-8?q?M=C3=A4llory?= <mallory@example.test>'],
      ['comment', 'mallory@example.test (Mallory)'],
    ];
    for (const [subject, header] of ok) {
      const r = await submit('mallory@example.test', header, `fine-${subject}`);
      expect(r, `${header}: ${JSON.stringify(r)}`).toMatchObject({ ok: true });
      const got = await waitFor(() => relayed(`fine-${subject}`), subject);
      expect(await readerFrom(got.data)).toEqual(['mallory@example.test']);
    }
    // The two forms a reader takes for boss's (a second From : is another reader's and DKIM's matter).
    for (const [, header] of forged.slice(0, 2))
      expect(await readerFrom(Buffer.from(`From: ${header}\r\n\r\nx\r\n`))).toContain('boss@example.test');
  }, 60_000);
});
