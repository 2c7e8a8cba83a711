// Hostile tests of wave r5 (issues 27-31): what an attacker can do with submission, direct
// delivery, the HTTP front, backups, quota warnings and the trail. One daemon with a certificate,
// submission on 587 (STARTTLS) and the test relay behind --relay; real clients (Python's smtplib),
// and what a recipient's mail reader sees judged by Python's own email parser.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
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
let http: number;
const PER_ADDRESS = 4;
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
      '--http',
      '127.0.0.1:0',
      '--max-connections-per-address',
      String(PER_ADDRESS),
    ],
  });
  for (const a of ['mallory', 'boss'])
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `pw-${a}-1\n`)).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
  sub = status.submission.port;
  http = status.http.port;
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

/**
 * Opens `n` connections from `source` at once, all held open; sends `request` on each once all
 * are connected; resolves with each one's first line (or "closed"), then closes them all.
 */
async function holdMany(port: number, n: number, source: string, request = ''): Promise<string[]> {
  const sockets: Socket[] = [];
  const first: Promise<string>[] = [];
  for (let i = 0; i < n; i++) {
    const s = createConnection({ port, host: '127.0.0.1', localAddress: source });
    sockets.push(s);
    let buf = '';
    first.push(
      new Promise((resolve) => {
        s.on('data', (c: Buffer) => {
          buf += c.toString('latin1');
          const nl = buf.indexOf('\n');
          if (nl >= 0) resolve(buf.slice(0, nl).trim());
        });
        s.on('close', () => resolve(buf ? buf.trim() : 'closed'));
        s.on('error', () => resolve('closed'));
      }),
    );
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve());
      s.once('error', () => resolve());
    });
  }
  if (request) for (const s of sockets) if (!s.destroyed) s.write(request);
  try {
    return await Promise.all(first);
  } finally {
    for (const s of sockets) s.destroy();
  }
}

describe('one client address cannot hold every connection (--max-connections-per-address)', () => {
  const N = 3 * PER_ADDRESS;

  it(`submission: of ${N} connections from one address at most ${PER_ADDRESS} are greeted; the rest hear 421`, async () => {
    const lines = await holdMany(sub, N, REMOTE);
    const greeted = lines.filter((l) => l.startsWith('220'));
    expect(greeted.length, lines.join(' | ')).toBeLessThanOrEqual(PER_ADDRESS);
    expect(lines.filter((l) => l.startsWith('421')).length, lines.join(' | ')).toBeGreaterThanOrEqual(N - PER_ADDRESS);
    // Another client is still greeted while they are held.
    expect((await holdMany(sub, 1, '127.0.0.3'))[0]).toMatch(/^220 /);
  }, 60_000);

  it(`--http: of ${N} connections from one address at most ${PER_ADDRESS} are answered; the rest are closed`, async () => {
    const lines = await holdMany(http, N, REMOTE, 'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n');
    const answered = lines.filter((l) => l.startsWith('HTTP/1.1'));
    expect(answered.length, lines.join(' | ')).toBeLessThanOrEqual(PER_ADDRESS);
    expect(answered.length).toBeGreaterThan(0);
    expect((await holdMany(http, 1, '127.0.0.3', 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n'))[0]).toMatch(/^HTTP\/1\.1 404/);
  }, 60_000);
});

describe('a STARTTLS session gives its place back when it ends', () => {
  /** `n` sessions one after another from `source`: EHLO, STARTTLS, EHLO, QUIT; each one's greeting code. */
  const sessions = (port: number, n: number, source: string) =>
    python<number[]>([
      '-c',
      'import sys, json, smtplib, ssl\n' +
        'port, n, src = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n' +
        'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n' +
        'out = []\n' +
        'for i in range(n):\n' +
        '    try:\n' +
        '        s = smtplib.SMTP(timeout=30, source_address=(src, 0))\n' +
        '        s._host = "127.0.0.1"; code, _ = s.connect("127.0.0.1", port)\n' +
        '        out.append(code)\n' +
        '        s.ehlo("client.example"); s.starttls(context=ctx); s.ehlo("client.example"); s.quit()\n' +
        '    except (smtplib.SMTPException, OSError) as e:\n' +
        '        out.append(getattr(e, "smtp_code", -1)) if len(out) == i else None\n' +
        'print(json.dumps(out))',
      String(port),
      String(n),
      source,
    ]);

  it(`port 25: ${PER_ADDRESS * 2} STARTTLS sessions one after another from one address are each greeted with 220`, async () => {
    const smtp = JSON.parse((await d.cli(['status', '--json'])).stdout).smtp.port as number;
    expect(await sessions(smtp, PER_ADDRESS * 2, '127.0.0.4')).toEqual(Array(PER_ADDRESS * 2).fill(220));
  }, 60_000);

  it(`submission: ${PER_ADDRESS * 2} STARTTLS sessions one after another from one address are each greeted with 220`, async () => {
    expect(await sessions(sub, PER_ADDRESS * 2, '127.0.0.5')).toEqual(Array(PER_ADDRESS * 2).fill(220));
  }, 60_000);
});

describe('vmail trace shows no terminal control bytes an outsider sent', () => {
  it('a Message-ID with ESC and BEL (a HELO or MAIL FROM with them is refused already) reaches the trail but not the terminal as such', async () => {
    const smtp = JSON.parse((await d.cli(['status', '--json'])).stdout).smtp.port as number;
    const sent = await python<{ ok: boolean; error?: string }>([
      '-c',
      'import sys, json, smtplib\n' +
        's = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30, source_address=("127.0.0.6", 0))\n' +
        's.ehlo("client.example")\n' +
        'msg = b"From: x@far.example\\r\\nTo: boss@example.test\\r\\nSubject: esc\\r\\n' +
        'Message-ID: <\\x1b[2J\\x1b]0;owned\\x07@far.example>\\r\\n\\r\\nhi\\r\\n"\n' +
        'try:\n' +
        '    s.sendmail("x@far.example", ["boss@example.test"], msg); print(json.dumps({"ok": True}))\n' +
        'except smtplib.SMTPException as e:\n' +
        '    print(json.dumps({"ok": False, "error": str(e)}))\n',
      String(smtp),
    ]);
    expect(sent, JSON.stringify(sent)).toMatchObject({ ok: true });
    const trace = await waitFor(async () => {
      const r = await d.cli(['trace', 'boss@example.test']);
      return r.stdout.includes('accepted') ? r.stdout : null;
    }, 'the trace names the message');
    // Shown, but with its control bytes made visible: nothing a terminal acts on.
    expect(trace).toMatch(/owned/);
    expect(JSON.stringify(trace)).not.toMatch(/\\u001b|\\u0007/);
  }, 60_000);
});

describe('bash completion runs nothing a name holds', () => {
  // compgen -W expands $(...) and backquotes in the words __complete gives; names are safe only
  // because they are restricted to a-z, 0-9, ".", "-" and "_". This holds that line.
  it('a forward named with backquotes and IFS (valid atext) is refused; completion runs nothing', async () => {
    const marker = join(d.dataDir, 'completion-ran');
    const name = `x\`touch\${IFS}${marker}\``;
    const added = await d.cli(['forwards', 'add', `${name}@example.test`, 'boss@example.test']);
    expect(added.code).not.toBe(0);
    expect(added.stderr).toMatch(/invalid name/);
    const words = await new Promise<string>((resolve, reject) => {
      const p = spawn(
        '/bin/bash',
        [
          '-c',
          `source "${ROOT}/contrib/completion/vmail.bash"; COMP_WORDS=("${ROOT}/bin/vmail.js" accounts remove m); COMP_CWORD=3; _vmail; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { env: { ...process.env, VMAIL_SOCKET: d.socket } },
      );
      let out = '';
      p.stdout.on('data', (c) => (out += c));
      p.on('error', reject);
      p.on('close', () => resolve(out));
    });
    expect(existsSync(marker)).toBe(false);
    expect(words.split('\n')).toContain('mallory@example.test');
  }, 60_000);
});

describe('backup: what it writes others cannot read', () => {
  it('the backup folder is 0700 and no file in it (store, DKIM keys, settings) is readable by others', async () => {
    const out = join(tempDir(), 'backup');
    const r = await d.cli(['backup', out, '--data-dir', d.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(out).mode & 0o777).toBe(0o700);
    const open: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/dkim|sqlite|\.key|\.pem|settings|manifest/i.test(p) && lstatSync(p).mode & 0o077)
          open.push(`${p} ${(lstatSync(p).mode & 0o777).toString(8)}`);
      }
    };
    walk(out);
    const live = (lstatSync(join(d.dataDir, 'vmail.sqlite')).mode & 0o777).toString(8);
    expect(open, `the live store is ${live}`).toEqual([]);
  }, 60_000);
});
