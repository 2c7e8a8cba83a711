// The one-sender path of the port-25 intake (issue 30, target 4), by effect: the replies to a
// client's pipelined MAIL, RCPT and DATA come in one read (RFC 2920), a STARTTLS pipelined with
// a command after it still gets its 220 in clear and a clean TLS session (the command injected
// before the handshake is not run inside it), a message's "smtp accepted" log line is still
// written (after its 250), and messages written on the main thread (up to 256 KiB) or through
// the thread pool (past it) arrive byte for byte, each one the client was told 250 for.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, selfSignedCert, startDaemon, waitFor } from '../helpers/daemon.js';

const run = promisify(execFile);

/** A raw client: every 'data' event it got (each one read), and a wait for text to appear. */
class Raw {
  reads: string[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('data', (d) => this.reads.push(d.toString('latin1')));
  }
  static async open(port: number): Promise<Raw> {
    const s = await new Promise<Socket>((ok, bad) => {
      const c = connect(port, '127.0.0.1', () => ok(c));
      c.once('error', bad);
    });
    const r = new Raw(s);
    await r.until(/^220 /m);
    return r;
  }
  get text(): string {
    return this.reads.join('');
  }
  async until(re: RegExp, from = 0): Promise<void> {
    const end = Date.now() + 20_000;
    while (!re.test(this.reads.slice(from).join(''))) {
      if (Date.now() > end) throw new Error(`no ${re} in ${JSON.stringify(this.text.slice(-400))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

const inbox = (d: DaemonHandle, box: string) => join(d.dataDir, 'mail/example.test', box, 'new');

describe('the port-25 intake, one sender', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    const { cert, key } = await selfSignedCert();
    d = await startDaemon({ args: ['--tls-cert', cert, '--tls-key', key, '--max-message-size', '4M'] });
    for (const a of ['one', 'two', 'big'])
      expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
    await d.cli(['pending', 'apply']);
  }, 60_000);
  afterAll(() => d?.stop());

  it('answers 50 pipelined MAIL, RCPT, RCPT, DATA groups each in one read; every message arrives', async () => {
    const c = await Raw.open(d.smtpPort);
    c.socket.write('EHLO client.example\r\n');
    await c.until(/^250 /m);
    const body = 'Subject: pipelined\r\n\r\nhello\r\n.\r\n';
    for (let i = 0; i < 50; i++) {
      const from = c.reads.length;
      c.socket.write(
        'MAIL FROM:<a@far.example>\r\nRCPT TO:<one@example.test>\r\nRCPT TO:<two@example.test>\r\nDATA\r\n',
      );
      await c.until(/^354 /m, from);
      // The four replies (250, 250, 250, 354) came together: one read.
      expect(c.reads.slice(from)).toHaveLength(1);
      expect(c.reads[from]).toMatch(/^250 .*\r\n250 .*\r\n250 .*\r\n354 .*\r\n$/);
      const before = c.reads.length;
      c.socket.write(body);
      await c.until(/^250 2\.0\.0 OK: queued as [0-9a-f]+/m, before);
    }
    c.socket.end('QUIT\r\n');
    await waitFor(
      () => readdirSync(inbox(d, 'one')).length >= 50 && readdirSync(inbox(d, 'two')).length >= 50,
      'the 100 copies',
    );
    expect(readdirSync(inbox(d, 'one'))).toHaveLength(50);
    expect(readdirSync(inbox(d, 'two'))).toHaveLength(50);
    // Each accepted message is logged, after its 250.
    await waitFor(
      () => (d.output().match(/smtp accepted .*to=<one@example\.test>,<two@example\.test>/g) ?? []).length >= 50,
      'the 50 log lines',
    );
  }, 120_000);

  it('a STARTTLS pipelined with a MAIL after it: the 220 comes in clear, the MAIL is not run inside TLS', async () => {
    const c = await Raw.open(d.smtpPort);
    c.socket.write('EHLO client.example\r\n');
    await c.until(/^250 /m);
    const from = c.reads.length;
    // An attacker's injection: a command after STARTTLS in the same write, meant to run as if sent inside TLS.
    c.socket.write('STARTTLS\r\nMAIL FROM:<injected@far.example>\r\n');
    await c.until(/^220 /m, from);
    expect(c.reads.slice(from).join('')).toMatch(/^220 .*\r\n$/);
    c.socket.removeAllListeners('data');
    const secure = tlsConnect({ socket: c.socket, rejectUnauthorized: false });
    await new Promise<void>((ok, bad) => {
      secure.once('secureConnect', () => ok());
      secure.once('error', bad);
    });
    let got = '';
    secure.on('data', (b) => (got += b.toString('latin1')));
    const reply = async (re: RegExp) => {
      const end = Date.now() + 20_000;
      while (!re.test(got)) {
        if (Date.now() > end) throw new Error(`no ${re} in ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    secure.write('EHLO client.example\r\n');
    await reply(/^250 /m);
    got = '';
    // Had the injected MAIL run, this RCPT would be taken; without a MAIL it is refused.
    secure.write('RCPT TO:<one@example.test>\r\n');
    await reply(/^503 /m);
    got = '';
    secure.write('MAIL FROM:<a@far.example>\r\nRCPT TO:<one@example.test>\r\nDATA\r\n');
    await reply(/^354 /m);
    const before = readdirSync(inbox(d, 'one')).length;
    secure.write('Subject: over TLS\r\n\r\nsecret\r\n.\r\n');
    await reply(/^250 2\.0\.0 OK/m);
    secure.end('QUIT\r\n');
    await waitFor(() => readdirSync(inbox(d, 'one')).length === before + 1, 'the message sent over TLS');
  }, 60_000);

  it('messages just under, at and past 256 KiB and of 3 MB arrive byte for byte (smtplib)', async () => {
    const sizes = [256 * 1024 - 300, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024];
    const script = [
      'import sys, smtplib',
      'port = int(sys.argv[1])',
      'for n in map(int, sys.argv[2:]):',
      '    head = b"Subject: size %d\\r\\n\\r\\n" % n',
      '    line = (b"%07d" % n) + b"-abcdefghijklmnopqrstuvwxyz0123456789\\r\\n"',
      '    body = (line * (n // len(line) + 1))[: n - len(head) - 2] + b"\\r\\n"',
      '    s = smtplib.SMTP("127.0.0.1", port, timeout=60)',
      '    s.sendmail("a@far.example", ["big@example.test"], head + body)',
      '    s.quit()',
    ].join('\n');
    await run('python3', ['-c', script, String(d.smtpPort), ...sizes.map(String)]);
    await waitFor(() => readdirSync(inbox(d, 'big')).length === sizes.length, 'the four messages');
    const files = readdirSync(inbox(d, 'big')).map((f) => readFileSync(join(inbox(d, 'big'), f)));
    for (const n of sizes) {
      const file = files.find((f) => f.includes(`Subject: size ${n}\r\n`));
      expect(file, `the ${n}-byte message`).toBeDefined();
      const text = file!.toString('latin1');
      const sent = text.slice(text.indexOf(`Subject: size ${n}\r\n`));
      expect(sent.length).toBe(n);
      expect(sent.endsWith('\r\n')).toBe(true);
      // Every line whole: no part lost or doubled at a write's edge.
      const lines = sent.split('\r\n').slice(2, -2);
      expect(lines.every((l) => l === `${String(n).padStart(7, '0')}-abcdefghijklmnopqrstuvwxyz0123456789`)).toBe(true);
    }
  }, 120_000);
});
