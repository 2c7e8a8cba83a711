// Big messages in bounded memory: DATA past a small size goes to a spool file as it comes, and
// each copy is written from there. What arrives is byte for byte what a message kept in memory
// gave (the lines vmail adds, dot-unstuffing, line ends), 30 concurrent 10 MB messages do not
// cost the daemon 30 x 10 MB, and no spool file outlives its transaction.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, waitFor } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';
import { asSent } from '../helpers/pop3.js';

const run = promisify(execFile);
const MB = 1024 * 1024;

async function poplib(port: number, user: string): Promise<{ stat: number[]; list: string[]; messages: Buffer[] }> {
  const { stdout } = await run(
    'python3',
    [join(ROOT, 'test/helpers/fetch_pop3.py'), String(port), user, 'password-1'],
    { maxBuffer: 200 * MB },
  );
  const r = JSON.parse(stdout);
  return {
    stat: r.stat,
    list: r.list,
    messages: r.messages.map((m: { data: string }) => Buffer.from(m.data, 'base64')),
  };
}

/** Peak resident memory of a process so far (kB), from /proc. */
function peakKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]);
}

const spoolFiles = (d: DaemonHandle) => readdirSync(join(d.dataDir, 'spool')).filter((f) => f.endsWith('.spool'));

/** Starts a big message to `name` and stops half way, once the daemon has spooled part of it. */
async function halfSent(d: DaemonHandle, name: string) {
  const sock = connect(d.smtpPort, '127.0.0.1');
  // The test cuts this connection, or kills the daemon under it: a reset is what it expects.
  sock.on('error', () => {});
  let text = '';
  sock.on('data', (b) => (text += b.toString('latin1')));
  const reply = (code: string) => waitFor(() => text.split('\r\n').some((l) => l.startsWith(`${code} `)), code);
  await reply('220');
  text = '';
  sock.write(`EHLO cut.example\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<${name}@example.test>\r\nDATA\r\n`);
  await reply('354');
  sock.write('From: alice@example.org\r\nSubject: cut\r\n\r\n');
  const line = `${'c'.repeat(98)}\r\n`;
  for (let i = 0; i < 20; i++) sock.write(line.repeat(10_000));
  // Streaming: the message is in a spool file before it has ended.
  await waitFor(() => spoolFiles(d).length > 0, 'a spool file for the message under way');
  return sock;
}

describe('big messages', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    // 30 senders from one address: more than the per-address cap's default of 20.
    d = await startDaemon({ args: ['--max-message-size', '25M', '--max-connections-per-address', '40'] });
    for (const a of ['big', 'many', 'cut', 'kept', 'forged'])
      expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'fwd', 'kept@example.test'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('a 10 MB message arrives byte for byte as sent, with the lines vmail adds, and POP3 STAT says its size', async () => {
    // Lines a spool must not change: dot-stuffed ones, bare LF, CR LF, long ones, 8-bit bytes,
    // some at the 256 KiB edge, and no final line end.
    const pieces: Buffer[] = [Buffer.from('From: alice@example.org\r\nTo: big@example.test\r\nSubject: big\r\n\r\n')];
    let n = pieces[0].length;
    for (let i = 0; n < 10 * MB; i++) {
      const kinds = [
        `.dot line ${i}\r\n`,
        `bare lf ${i}\n`,
        `${'x'.repeat(i % 1000)}\r\n`,
        `..two dots ${i}\r\n`,
        `8bit \u00e9\u00e8 ${i}\r\n`,
        '\r\n',
      ];
      const p = Buffer.from(kinds[i % kinds.length], 'latin1');
      pieces.push(p);
      n += p.length;
    }
    pieces.push(Buffer.from('last line without an end'));
    const sent = Buffer.concat(pieces);
    const r = await smtplib(d.smtpPort, 'alice@example.org', ['big@example.test'], sent);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const got = await poplib(d.pop3Port, 'big');
    expect(got.stat[0]).toBe(1);
    const delivered = got.messages[0];
    // smtplib adds the final CRLF; POP3 serves every line with CRLF.
    const original = asSent(Buffer.concat([sent, Buffer.from('\r\n')]));
    expect(delivered.subarray(delivered.length - original.length).equals(original)).toBe(true);
    const head = delivered.subarray(0, delivered.length - original.length).toString('latin1');
    expect(head).toMatch(
      /^Return-Path: <alice@example\.org>\r\nDelivered-To: big@example\.test\r\nReceived: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby \S+ \(vmail\) with ESMTP id [0-9a-f]+\r\n\tfor <big@example\.test>;\r\n\t\w{3}, \d+ \w{3} \d{4} [\d:]{8} \+0000\r\n$/,
    );
    expect(got.stat[1]).toBe(delivered.length);
    expect(spoolFiles(d)).toEqual([]);
  }, 120_000);

  it('POP3 says the size of what it serves when the intake took forged verdict fields out, spooled or not', async () => {
    // The size a message is stored under is counted as it arrives; the fields taken out after
    // (a sender's own X-Spam and X-Rspamd-*) must come off that count too.
    const forged = 'X-Spam: Yes\r\nX-Spam-Status: No, score=-100\r\nX-Rspamd-Score: -100\n';
    const head = `From: alice@example.org\r\n${forged}To: forged@example.test\r\nSubject: forged\r\n\r\n`;
    const line = `${'f'.repeat(70)}\r\n`;
    // In memory (4 KB) and spooled (1 MB, past the intake's 256 KiB).
    for (const size of [4096, MB]) {
      const sent = Buffer.from(head + line.repeat(Math.ceil(size / line.length)));
      const r = await smtplib(d.smtpPort, 'alice@example.org', ['forged@example.test'], sent);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    const got = await poplib(d.pop3Port, 'forged');
    expect(got.stat[0]).toBe(2);
    for (const [i, m] of got.messages.entries()) {
      const text = m.toString('latin1');
      expect(text).not.toMatch(/^X-Spam|^X-Rspamd/im);
      expect(text).toContain('\r\nTo: forged@example.test\r\n');
      // LIST's size for each message is the octets RETR gave.
      expect(got.list[i]).toBe(`${i + 1} ${m.length}`);
    }
    expect(got.stat[1]).toBe(got.messages.reduce((n, m) => n + m.length, 0));
  }, 60_000);

  it('a big message for a forward goes through the forward queue whole, to the same bytes', async () => {
    const body = Array.from({ length: 30_000 }, (_, i) => (i % 7 ? `line ${i}\n` : `.dotted ${i}\r\n`)).join('');
    const sent = Buffer.from(`From: alice@example.org\r\nSubject: via fwd\r\n\r\n${body}end\r\n`, 'latin1');
    expect(sent.length).toBeGreaterThan(300 * 1024);
    const r = await smtplib(d.smtpPort, 'alice@example.org', ['fwd@example.test'], sent);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const got = await waitFor(async () => {
      const x = await poplib(d.pop3Port, 'kept');
      return x.stat[0] === 1 ? x : null;
    }, 'the forwarded copy in kept');
    const delivered = got.messages[0];
    const original = asSent(sent);
    expect(delivered.subarray(delivered.length - original.length).equals(original)).toBe(true);
    const head = delivered.subarray(0, delivered.length - original.length).toString('latin1');
    expect(head).toMatch(
      /^Return-Path: <alice@example\.org>\r\nDelivered-To: kept@example\.test\r\nDelivered-To: fwd@example\.test\r\nReceived: /,
    );
    expect(got.stat[1]).toBe(delivered.length);
    expect(spoolFiles(d)).toEqual([]);
  }, 120_000);

  it('30 concurrent 10 MB messages keep the daemon peak memory growth bounded', async () => {
    const before = peakKb(d.proc.pid!);
    const { stdout } = await run(
      'python3',
      [
        join(ROOT, 'test/helpers/smtp_big.py'),
        String(d.smtpPort),
        'alice@example.org',
        'many@example.test',
        '30',
        '10',
        'many',
      ],
      { maxBuffer: MB },
    );
    expect(JSON.parse(stdout)).toEqual(Array(30).fill(250));
    const growthMb = (peakKb(d.proc.pid!) - before) / 1024;
    console.log(`big messages: 30 x 10 MB peak RSS growth ${growthMb.toFixed(0)} MB (target 150 MB)`);
    // Kept whole in memory they cost 300 MB and more; spooled, a fraction of it.
    expect(growthMb).toBeLessThan(300);
    const files = readdirSync(join(d.dataDir, 'mail/example.test/many/new'));
    expect(files).toHaveLength(30);
    expect(spoolFiles(d)).toEqual([]);
  }, 300_000);

  it('a client that goes away in the middle of a big DATA leaves no spool file and no message', async () => {
    const sock = await halfSent(d, 'cut');
    sock.destroy();
    await waitFor(() => spoolFiles(d).length === 0, 'the spool file removed after the disconnect');
    expect(readdirSync(join(d.dataDir, 'mail/example.test/cut/new'))).toEqual([]);
  }, 60_000);

  it('a spool file left by a daemon killed in the middle of DATA is removed at the next start', async () => {
    const k = await startDaemon();
    try {
      expect((await k.cli(['accounts', 'add', 'cut', '--password-stdin'], 'password-1\n')).code).toBe(0);
      await k.cli(['pending', 'apply']);
      const sock = await halfSent(k, 'cut');
      await k.kill9();
      sock.destroy();
      expect(spoolFiles(k).length).toBeGreaterThan(0);
      const again = await startDaemon({ dataDir: k.dataDir });
      try {
        expect(spoolFiles(again)).toEqual([]);
        expect(readdirSync(join(k.dataDir, 'mail/example.test/cut/new'))).toEqual([]);
      } finally {
        await again.stop();
      }
    } finally {
      if (k.proc.exitCode === null && k.proc.signalCode === null) await k.kill9();
    }
  }, 60_000);
});
