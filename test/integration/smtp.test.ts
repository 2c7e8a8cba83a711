// Receiving mail: the real daemon's SMTP intake, fed by Python's smtplib and nodemailer, read
// back with Python's poplib; forwarding through a test relay; and the bad input list.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';
import { asSent, RawPop3 } from '../helpers/pop3.js';
import { RawLines } from '../helpers/raw-socket.js';
import { brokenRelay, closedPort, TestRelay } from '../helpers/relay.js';

const run = promisify(execFile);
const fixture = (name: string) => readFileSync(join(ROOT, 'fixtures/messages', name));

async function poplib(port: number, user: string): Promise<{ stat: number[]; messages: Buffer[] }> {
  const { stdout } = await run('python3', [join(ROOT, 'test/helpers/fetch_pop3.py'), String(port), user, 'password-1']);
  const r = JSON.parse(stdout);
  return { stat: r.stat, messages: r.messages.map((m: any) => Buffer.from(m.data, 'base64')) };
}

/** What smtplib puts on the wire: the message, with CRLF added unless it ends with one. */
function viaSmtplib(data: Buffer): Buffer {
  return data.subarray(-2).equals(Buffer.from('\r\n')) ? data : Buffer.concat([data, Buffer.from('\r\n')]);
}

/** Splits a delivered message into the headers vmail added and the message as sent. */
function added(delivered: Buffer, sent: Buffer): string {
  const text = delivered.toString('latin1');
  const original = asSent(viaSmtplib(sent)).toString('latin1');
  expect(text.endsWith(original), JSON.stringify([text.slice(-120), original.slice(-120)])).toBe(true);
  return text.slice(0, text.length - original.length);
}

async function setup(d: DaemonHandle, accounts: string[], forwards: [string, string[]][] = []): Promise<void> {
  for (const a of accounts)
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
  for (const [f, dests] of forwards) expect((await d.cli(['forwards', 'add', f, ...dests])).code).toBe(0);
  await d.cli(['pending', 'apply']);
}

const maildirFiles = (d: DaemonHandle, name: string, sub = 'new') =>
  readdirSync(join(d.dataDir, 'mail/example.test', name, sub));

describe('delivery', () => {
  let d: DaemonHandle;
  let relay: TestRelay;
  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`, '--max-message-size', '2M'] });
    await setup(
      d,
      ['sales', 'bob', 'carol', 'disk', 'many'],
      [
        ['info', ['carol@example.test', 'someone@far.example']],
        ['team', ['bob@example.test']],
      ],
    );
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await relay.close();
  });

  it('smtplib sends, poplib fetches the same bytes with Return-Path, Delivered-To and Received added', async () => {
    const msgs = ['dot-lines.eml', 'bare-lf.eml', 'no-final-newline.eml', 'utf8-headers.eml'];
    for (const m of msgs) {
      const r = await smtplib(d.smtpPort, 'alice@example.org', ['sales@example.test'], fixture(m));
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    const got = await poplib(d.pop3Port, 'sales');
    expect(got.stat[0]).toBe(msgs.length);
    // The size the daemon keeps as mail arrives is what POP3 STAT says, without a rescan.
    const row = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout).find((a: any) => a.name === 'sales');
    expect([row.messages, row.bytes]).toEqual(got.stat);
    msgs.forEach((m, i) => {
      const head = added(got.messages[i], fixture(m));
      expect(head).toMatch(
        /^Return-Path: <alice@example\.org>\r\nDelivered-To: sales@example\.test\r\nReceived: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby \S+ \(vmail\) with ESMTP id [0-9a-f]+\r\n\tfor <sales@example\.test>;\r\n\t\w{3}, \d+ \w{3} \d{4} [\d:]{8} \+0000\r\n$/,
      );
    });
  });

  it('advertises PIPELINING, 8BITMIME, SMTPUTF8 and SIZE, and needs no AUTH', async () => {
    const r = await smtplib(d.smtpPort, 'a@example.org', ['bob@example.test'], Buffer.from('Subject: x\r\n\r\nx\r\n'));
    expect(r.ehlo).toEqual(expect.arrayContaining(['PIPELINING', '8BITMIME', 'SMTPUTF8', `SIZE ${2 * 1024 * 1024}`]));
    expect(r.ehlo.join(' ')).not.toMatch(/AUTH/);
  });

  it('nodemailer sends a UTF-8 message with an attachment, and it arrives intact', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
    const info = await t.sendMail({
      from: 'Jürgen <juergen@example.de>',
      to: 'carol@example.test',
      subject: 'Grüße ✓',
      text: 'Schöne Grüße\n.line with a dot\n',
      attachments: [{ filename: 'a.txt', content: 'x'.repeat(5000) }],
    });
    expect(info.accepted).toEqual(['carol@example.test']);
    const got = await poplib(d.pop3Port, 'carol');
    const last = got.messages[got.messages.length - 1].toString('utf8');
    expect(last).toMatch(/Subject: =\?UTF-8\?/);
    expect(last).toContain(info.messageId);
    expect(last).toContain(Buffer.from('x'.repeat(57)).toString('base64'));
    t.close();
  });

  it('forwards through the relay, and to a local account without it', async () => {
    const before = relay.received.length;
    const r = await smtplib(d.smtpPort, 'alice@example.org', ['info@example.test'], fixture('dot-lines.eml'));
    expect(r.ok).toBe(true);
    await waitFor(() => relay.received.length > before, 'the relay to receive the forwarded copy');
    const got = relay.received[relay.received.length - 1];
    // SRS: the copy leaves with a sender on the forwarding domain (see mail-auth.test.ts).
    expect(got.from).toMatch(/^SRS0=[^=]{8}=[A-Z2-7]{2}=example\.org=alice@example\.test$/);
    expect(got.to).toEqual(['someone@far.example']);
    expect(got.data.toString()).toMatch(/^Delivered-To: info@example\.test\r\nReceived: /);
    expect(got.data.toString().endsWith(asSent(fixture('dot-lines.eml')).toString())).toBe(true);
    // carol got her copy locally, with both Delivered-To lines.
    const carol = await waitFor(async () => {
      const files = maildirFiles(d, 'carol').map((f) =>
        readFileSync(join(d.dataDir, 'mail/example.test/carol/new', f), 'utf8'),
      );
      return files.find((t) => t.includes('Delivered-To: info@example.test'));
    }, 'the local copy');
    expect(carol).toMatch(
      /^Return-Path: <alice@example.org>\r\nDelivered-To: carol@example.test\r\nDelivered-To: info@example.test\r\n/,
    );
    await waitFor(
      async () => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout).length === 0,
      'the queue to empty',
    );
  });

  it('accepts RCPT TO:<postmaster> without a domain (RFC 5321 4.5.1) for the postmaster account', async () => {
    await setup(d, ['postmaster']);
    const message = Buffer.from('Subject: to the postmaster\r\n\r\nhello\r\n');
    const bare = await smtplib(d.smtpPort, 'a@example.org', ['postmaster'], message);
    expect(bare.ok).toBe(true);
    expect(bare.refused).toEqual({});
    expect(maildirFiles(d, 'postmaster')).toHaveLength(1);
    // Both spellings are the same mailbox: one copy.
    const r = await smtplib(d.smtpPort, 'a@example.org', ['postmaster', 'Postmaster@example.test'], message);
    expect(r.ok).toBe(true);
    expect(r.refused).toEqual({});
    const files = maildirFiles(d, 'postmaster');
    expect(files).toHaveLength(2);
    expect(readFileSync(join(d.dataDir, 'mail/example.test/postmaster/new', files[0]), 'utf8')).toMatch(
      /^Return-Path: <a@example\.org>\r\nDelivered-To: postmaster@example\.test\r\n/,
    );
  });

  it('keeps an SMTPUTF8 sender as it was sent in Return-Path', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
    await t.sendMail({
      envelope: { from: 'üser@exämple.org', to: ['bob@example.test'] },
      raw: 'Subject: utf8 sender\r\n\r\nhi\r\n',
    });
    t.close();
    const text = maildirFiles(d, 'bob')
      .map((f) => readFileSync(join(d.dataDir, 'mail/example.test/bob/new', f), 'utf8'))
      .find((x) => x.includes('utf8 sender'));
    expect(text).toMatch(/^Return-Path: <üser@exämple\.org>\r\n/);
  });

  it('refuses unknown users (5.1.1), other domains (5.7.1), and pending adds', async () => {
    await d.cli(['accounts', 'add', 'later', '--password-stdin'], 'password-1\n');
    const r = await smtplib(
      d.smtpPort,
      'a@example.org',
      ['nobody@example.test', 'x@gmail.com', 'later@example.test'],
      Buffer.from('x\r\n'),
    );
    expect(r.ok).toBe(false);
    expect(r.refused?.['nobody@example.test']).toEqual([550, '5.1.1 <nobody@example.test>: no such user here']);
    expect(r.refused?.['x@gmail.com']?.[0]).toBe(550);
    expect(r.refused?.['x@gmail.com']?.[1]).toMatch(/^5\.7\.1 Relaying denied/);
    expect(r.refused?.['later@example.test']?.[0]).toBe(550);
  });

  it('refuses a message over the size limit with 552, declared or not', async () => {
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(3 * 1024 * 1024, 'a\r\n')]);
    const r = await smtplib(d.smtpPort, 'a@example.org', ['bob@example.test'], big);
    expect(r.ok).toBe(false);
    expect(r.code).toBe(552);
    const before = maildirFiles(d, 'bob').length;
    // Undeclared (no SIZE= on MAIL FROM): enforced during transfer.
    const raw = await smtpDialog(
      d.smtpPort,
      ['EHLO t', 'MAIL FROM:<a@example.org>', 'RCPT TO:<bob@example.test>', 'DATA'],
      big,
    );
    expect(raw[raw.length - 1]).toMatch(/^552 /);
    expect(maildirFiles(d, 'bob').length).toBe(before);
  });

  it('takes 1,000 recipients: 100 accepted, the rest 452; one copy per mailbox', async () => {
    const before = maildirFiles(d, 'many').length;
    const r = await smtplib(
      d.smtpPort,
      'a@example.org',
      Array(1000).fill('many@example.test'),
      Buffer.from('Subject: many\r\n\r\nx\r\n'),
    );
    expect(r.ok).toBe(true);
    expect(Object.keys(r.refused ?? {})).toHaveLength(0);
    expect(maildirFiles(d, 'many').length).toBe(before + 1);
    // 120 forwards, then 880 more names: only the first 100 recipients are taken.
    const c = await RawLines.connect(d.socket);
    for (let i = 0; i < 120; i++)
      c.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'forwards.add', params: { name: `list${i}`, destinations: ['many@example.test'] } })}\n`,
      );
    for (let i = 0; i < 120; i++) expect((await c.next()).error).toBeUndefined();
    c.close();
    await d.cli(['pending', 'apply']);
    const rcpts = Array.from({ length: 1000 }, (_, i) => `list${i}@example.test`);
    const lines = await smtpDialog(d.smtpPort, [
      'EHLO t',
      'MAIL FROM:<a@example.org>',
      ...rcpts.map((a) => `RCPT TO:<${a}>`),
      'RSET',
    ]);
    expect(lines.filter((l) => l.startsWith('250')).length).toBe(2 + 100 + 1);
    expect(lines.filter((l) => l.startsWith('452 4.5.3')).length).toBe(900);
  });

  it('stores bare LF messages and serves them with CRLF', async () => {
    const msg = Buffer.from('Subject: lf\n\nline one\n.dot line\nlast');
    const r = await smtplib(d.smtpPort, 'a@example.org', ['disk@example.test'], msg);
    expect(r.ok).toBe(true);
    const got = await poplib(d.pop3Port, 'disk');
    expect(got.messages[got.messages.length - 1].toString()).toMatch(
      /Subject: lf\r\n\r\nline one\r\n\.dot line\r\nlast\r\n$/,
    );
  });

  it('refuses a 10 MB header block with 552, and loops with 5.4.6', async () => {
    const t = await startDaemon({ args: ['--max-message-size', '25M'] });
    await setup(t, ['bob'], [['loop', ['elsewhere@far.example']]]);
    const header = Buffer.concat([
      Buffer.from('Subject: huge\r\n'),
      Buffer.alloc(10 * 1024 * 1024, 'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'),
      Buffer.from('\r\nbody\r\n'),
    ]);
    const big = await smtplib(t.smtpPort, 'a@example.org', ['bob@example.test'], header);
    expect(big.code).toBe(552);
    expect(big.error).toMatch(/5\.3\.4 Message header too large/);
    // It came back from a host it was forwarded to.
    const looped = await smtplib(
      t.smtpPort,
      'a@example.org',
      ['loop@example.test'],
      Buffer.from('Delivered-To: loop@example.test\r\nSubject: loop\r\n\r\nx\r\n'),
    );
    expect(looped.code).toBe(554);
    expect(looped.error).toMatch(/^5\.4\.6 mail forwarding loop/);
    const hops = Buffer.from(
      `${'Received: from x by y; Thu, 26 Nov 2026 10:00:00 +0000\r\n'.repeat(51)}Subject: hops\r\n\r\nx\r\n`,
    );
    const tooMany = await smtplib(t.smtpPort, 'a@example.org', ['bob@example.test'], hops);
    expect(tooMany.code).toBe(554);
    expect(tooMany.error).toMatch(/too many hops/);
    expect(maildirFiles(t, 'bob')).toEqual([]);
    expect(JSON.parse((await t.cli(['queue', 'list', '--json'])).stdout)).toEqual([]);
    await t.stop();
  }, 60_000);

  it('keeps nothing of a message whose client vanishes mid-DATA', async () => {
    const before = maildirFiles(d, 'bob').length;
    await new Promise<void>((resolve) => {
      const s = connect(d.smtpPort, '127.0.0.1');
      s.on('data', () => {});
      s.write('EHLO t\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n');
      setTimeout(() => {
        s.write('Subject: half\r\n\r\nhalf a mess');
        s.destroy();
        resolve();
      }, 200);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(maildirFiles(d, 'bob').length).toBe(before);
    expect(maildirFiles(d, 'bob', 'tmp')).toEqual([]);
  });

  it('rejects invalid addresses in MAIL and RCPT and keeps serving', async () => {
    const lines = await smtpDialog(d.smtpPort, [
      'EHLO t',
      'MAIL FROM:<not an address>',
      'MAIL FROM:<a@example.org>',
      'RCPT TO:<@@>',
      'RCPT TO:bob',
      'RCPT TO:<bob@example.test>',
      'QUIT',
    ]);
    expect(lines[0]).toMatch(/^250 /);
    expect(lines[1]).toMatch(/^5\d\d /);
    expect(lines[2]).toMatch(/^250 /);
    expect(lines[3]).toMatch(/^5\d\d /);
    expect(lines[4]).toMatch(/^5\d\d /);
    expect(lines[5]).toMatch(/^250 /);
  });

  it('answers 451 and keeps no copy when a disk write fails', async () => {
    const tmp = join(d.dataDir, 'mail/example.test/disk/tmp');
    rmSync(tmp, { recursive: true });
    writeFileSync(tmp, 'not a directory');
    const bobBefore = maildirFiles(d, 'bob').length;
    const r = await smtplib(
      d.smtpPort,
      'a@example.org',
      ['bob@example.test', 'disk@example.test'],
      Buffer.from('Subject: fail\r\n\r\nx\r\n'),
    );
    expect(r.code).toBe(451);
    expect(r.error).toMatch(/^4\.3\.0/);
    // bob's copy was written and taken back: the sender will retry and bob gets one copy then.
    expect(maildirFiles(d, 'bob').length).toBe(bobBefore);
    rmSync(tmp);
    mkdirSync(tmp);
    const again = await smtplib(
      d.smtpPort,
      'a@example.org',
      ['bob@example.test', 'disk@example.test'],
      Buffer.from('Subject: fail\r\n\r\nx\r\n'),
    );
    expect(again.ok).toBe(true);
    expect(maildirFiles(d, 'bob').length).toBe(bobBefore + 1);
  });
});

/** Speaks SMTP line by line (one command, one reply), then optionally sends a body after DATA. */
function smtpDialog(port: number, commands: string[], body?: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const replies: string[] = [];
    let buf = '';
    let i = -1;
    let greeted = false;
    const next = () => {
      i++;
      if (i < commands.length) s.write(`${commands[i]}\r\n`);
      else if (body && i === commands.length) s.write(Buffer.concat([body, Buffer.from('\r\n.\r\n')]));
      else {
        s.end('QUIT\r\n');
        resolve(replies);
      }
    };
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (/^\d{3}-/.test(line)) continue;
        if (greeted) replies.push(line);
        greeted = true;
        next();
      }
    });
    s.on('error', reject);
    s.setTimeout(30_000, () => reject(new Error('smtp dialog timed out')));
  });
}

describe('activity', () => {
  it('keeps the last delivery time across a restart that comes before its batched write', async () => {
    const d = await startDaemon();
    await setup(d, ['seen']);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
    await t.sendMail({ from: 'a@example.org', to: 'seen@example.test', subject: 'x', text: 'x' });
    t.close();
    const before = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout)[0].lastDeliveryAt;
    expect(before).not.toBeNull();
    expect(await d.stop()).toBe(0);
    const again = await startDaemon({ dataDir: d.dataDir });
    expect(JSON.parse((await again.cli(['accounts', 'list', '--json'])).stdout)[0].lastDeliveryAt).toBe(before);
    await again.stop();
  });
});

describe('limits', () => {
  it('turns away connections over --max-connections with 421 and serves again when one closes', async () => {
    const d = await startDaemon({ args: ['--max-connections', '2'] });
    const greet = () =>
      new Promise<{ line: string; close: () => void }>((resolve, reject) => {
        const s = connect(d.smtpPort, '127.0.0.1');
        s.once('data', (b) => resolve({ line: b.toString().split('\r\n')[0], close: () => s.destroy() }));
        s.once('error', reject);
      });
    const a = await greet();
    const b = await greet();
    expect(a.line).toMatch(/^220 /);
    expect(b.line).toMatch(/^220 /);
    const c = await greet();
    expect(c.line).toMatch(/^421 /);
    c.close();
    a.close();
    await waitFor(async () => {
      const x = await greet();
      x.close();
      return x.line.startsWith('220');
    }, 'a free SMTP slot');
    b.close();
    await d.stop();
  });
});

describe('the relay failing', () => {
  it('the relay down, then up: the message waits, is retried, and arrives once', async () => {
    const port = await closedPort();
    const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${port}`] });
    await setup(d, [], [['out', ['far@far.example']]]);
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['out@example.test'], fixture('dot-lines.eml'))).ok).toBe(
      true,
    );
    const [entry] = await waitFor(async () => {
      const q = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout);
      return q.length === 1 && q[0].attempts === 1 ? q : null;
    }, 'a failed first attempt');
    expect(entry.lastError).toMatch(/ECONNREFUSED|connect/i);
    expect(Date.parse(entry.nextAttemptAt) - Date.parse(entry.lastAttemptAt)).toBe(60_000);
    expect((await d.cli(['queue', 'list'])).stdout).toMatch(/far@far\.example/);
    const relay = new TestRelay();
    await relay.listen(port);
    expect((await d.cli(['queue', 'retry', entry.id])).code).toBe(0);
    await waitFor(() => relay.received.length === 1, 'the relay to receive it');
    await waitFor(
      async () => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout).length === 0,
      'the queue to empty',
    );
    // It survives a restart in between too: nothing is sent twice.
    await d.stop();
    const again = await startDaemon({ dataDir: d.dataDir, args: ['--relay', `smtp://127.0.0.1:${port}`] });
    await new Promise((r) => setTimeout(r, 500));
    expect(relay.received).toHaveLength(1);
    await again.stop();
    await relay.close();
  });

  it('a queued message survives a restart and goes out when the relay answers', async () => {
    const relay = new TestRelay();
    relay.mode = 451;
    await relay.listen();
    const dataDir = tempDir();
    const d = await startDaemon({ dataDir, args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, [], [['out', ['far@far.example']]]);
    await smtplib(d.smtpPort, 'alice@example.org', ['out@example.test'], fixture('bare-lf.eml'));
    const [entry] = await waitFor(async () => {
      const q = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout);
      return q[0]?.attempts === 1 ? q : null;
    }, 'a deferral');
    expect(entry.lastError).toMatch(/451/);
    await d.kill9();
    relay.mode = 'accept';
    const d2 = await startDaemon({ dataDir, args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    expect(JSON.parse((await d2.cli(['queue', 'list', '--json'])).stdout)).toHaveLength(1);
    await d2.cli(['queue', 'retry', entry.id]);
    await waitFor(() => relay.received.length === 1, 'delivery after the restart');
    await d2.stop();
    await relay.close();
  });

  it('a permanent refusal bounces a DSN to the sender, but never to the null sender', async () => {
    const relay = new TestRelay();
    relay.mode = 550;
    await relay.listen();
    const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, ['sender'], [['out', ['far@far.example']]]);
    expect((await smtplib(d.smtpPort, 'sender@example.test', ['out@example.test'], fixture('dot-lines.eml'))).ok).toBe(
      true,
    );
    const bounce = await waitFor(async () => {
      const got = await poplib(d.pop3Port, 'sender');
      return got.messages[0];
    }, 'the bounce');
    const text = bounce.toString();
    expect(text).toMatch(/^Return-Path: <>\r\n/);
    // From the postmaster of the forwarding address's domain, which we host.
    expect(text).toMatch(/\r\nFrom: Mail Delivery System <MAILER-DAEMON@example\.test>\r\n/);
    expect(text).toMatch(/Content-Type: multipart\/report; report-type=delivery-status/);
    expect(text).toMatch(
      /Final-Recipient: rfc822; far@far\.example\r\nAction: failed\r\nStatus: 5\.0\.0\r\nDiagnostic-Code: smtp; .*550/,
    );
    expect(text).toMatch(/Message-ID: <dots-1@example\.org>/);
    // A bounce of a message from <> is dropped, not bounced again.
    expect((await smtplib(d.smtpPort, '', ['out@example.test'], fixture('dot-lines.eml'))).ok).toBe(true);
    await waitFor(
      async () => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout).length === 0,
      'the queue to empty',
    );
    expect((await poplib(d.pop3Port, 'sender')).stat[0]).toBe(1);
    await d.stop();
    await relay.close();
  });

  it('a bounce that cannot be stored is logged and tried again; the daemon keeps running', async () => {
    const relay = new TestRelay();
    relay.mode = 550;
    relay.delayMs = 1500;
    await relay.listen();
    const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, ['sender'], [['out', ['far@far.example']]]);
    expect((await smtplib(d.smtpPort, 'sender@example.test', ['out@example.test'], fixture('dot-lines.eml'))).ok).toBe(
      true,
    );
    const [entry] = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout);
    // While the relay thinks, the spool goes away: the bounce cannot be written there.
    const spool = join(d.dataDir, 'queue');
    await new Promise((r) => setTimeout(r, 300));
    renameSync(spool, `${spool}.away`);
    writeFileSync(spool, 'not a directory');
    await waitFor(
      () => / queue local failure id=\S+ to=<far@far\.example> error=.* next=/.test(d.output()),
      'the failure to be logged',
    );
    expect((await d.cli(['status', '--json'])).code).toBe(0);
    rmSync(spool);
    renameSync(`${spool}.away`, spool);
    relay.delayMs = 0;
    expect((await d.cli(['queue', 'retry', entry.id])).code).toBe(0);
    const bounce = await waitFor(async () => (await poplib(d.pop3Port, 'sender')).messages[0], 'the bounce');
    expect(bounce.toString()).toMatch(/Final-Recipient: rfc822; far@far\.example/);
    await d.stop();
    await relay.close();
  });

  it('a relay that never greets or hangs up defers the message, and status says why mail waits', async () => {
    for (const behaviour of ['silent', 'hangup'] as const) {
      const bad = await brokenRelay(behaviour);
      const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${bad.port}`, '--relay-timeout', '1s'] });
      await setup(d, [], [['out', ['far@far.example']]]);
      await smtplib(d.smtpPort, 'alice@example.org', ['out@example.test'], fixture('dot-lines.eml'));
      const [entry] = await waitFor(async () => {
        const q = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout);
        return q[0]?.attempts === 1 ? q : null;
      }, `a deferral from a ${behaviour} relay`);
      expect(entry.lastError).toMatch(
        behaviour === 'silent' ? /greeting never received|timeout|timed out/i : /closed|ECONNRESET|unexpected/i,
      );
      await d.stop();
      bad.server.close();
    }
    // Without --relay mail leaves by direct delivery (direct-delivery.test.ts): status no
    // longer says it waits for a relay.
    const none = await startDaemon();
    await setup(none, [], [['out', ['far@far.example']]]);
    await smtplib(none.smtpPort, 'alice@example.org', ['out@example.test'], fixture('dot-lines.eml'));
    const status = JSON.parse((await none.cli(['status', '--json'])).stdout);
    expect(status.queue.problem).toBeNull();
    expect((await none.cli(['status'])).stdout).not.toMatch(/no --relay is configured/);
    await none.stop();
  }, 60_000);
});

describe('stopping', () => {
  it('SIGTERM lets a relay attempt under way finish: the message goes out once and leaves the queue', async () => {
    const relay = new TestRelay();
    relay.delayMs = 1500;
    await relay.listen();
    const d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await setup(d, [], [['out', ['far@far.example']]]);
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['out@example.test'], fixture('dot-lines.eml'))).ok).toBe(
      true,
    );
    await waitFor(() => relay.answering === 1, 'the relay to have the message and be thinking');
    const t0 = Date.now();
    expect(await d.stop()).toBe(0);
    // It waited for the relay's answer (not the 10 s bound), then left nothing queued.
    expect(Date.now() - t0).toBeGreaterThan(500);
    expect(Date.now() - t0).toBeLessThan(9000);
    expect(relay.received).toHaveLength(1);
    expect(readdirSync(join(d.dataDir, 'queue')).filter((f) => !f.startsWith('.'))).toEqual([]);
    expect(d.output()).toMatch(/daemon stopping signal=SIGTERM/);
    expect(d.output()).toMatch(/queue relayed/);
    // Started again, it has nothing to send twice.
    const again = await startDaemon({ dataDir: d.dataDir, args: ['--relay', `smtp://127.0.0.1:${relay.port}`] });
    await new Promise((r) => setTimeout(r, 500));
    expect(relay.received).toHaveLength(1);
    await again.stop();
    await relay.close();
  }, 30_000);
});

describe('crash safety', () => {
  it('kill -9 while 10 clients send 200 messages: every accepted message is delivered exactly once', async () => {
    const dataDir = tempDir();
    let d = await startDaemon({ dataDir });
    await setup(d, ['inbox', 'fwdbox'], [['alias', ['fwdbox@example.test']]]);
    const accepted = new Set<string>();
    const senders = Array.from({ length: 10 }, (_, c) =>
      (async () => {
        const t = nodemailer.createTransport({
          host: '127.0.0.1',
          port: d.smtpPort,
          secure: false,
          ignoreTLS: true,
          pool: false,
        });
        for (let i = 0; i < 20; i++) {
          const id = `<crash-${c}-${i}@test>`;
          try {
            await t.sendMail({
              from: 'a@example.org',
              to: i % 2 ? 'inbox@example.test' : 'alias@example.test',
              subject: id,
              messageId: id,
              text: `message ${c}/${i}\n${'x'.repeat(20_000)}`,
            });
            accepted.add(id);
          } catch {
            // The daemon died under this one: it was not accepted.
          }
        }
      })(),
    );
    await waitFor(() => accepted.size >= 60, 'some messages to be accepted', 30_000);
    await d.kill9();
    await Promise.all(senders);
    expect(accepted.size).toBeGreaterThan(0);
    expect(accepted.size).toBeLessThan(200);
    d = await startDaemon({ dataDir });
    await waitFor(
      async () => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout).length === 0,
      'the forward queue to drain',
    );
    const count = new Map<string, number>();
    for (const box of ['inbox', 'fwdbox']) {
      for (const f of maildirFiles(d, box)) {
        const text = readFileSync(join(dataDir, 'mail/example.test', box, 'new', f), 'utf8');
        const id = /^Message-ID: (<[^>]+>)/im.exec(text)?.[1];
        if (id) count.set(id, (count.get(id) ?? 0) + 1);
      }
      expect(maildirFiles(d, box, 'tmp').filter((f) => !f.startsWith('.'))).toEqual(expect.any(Array));
    }
    for (const id of accepted) expect(count.get(id), id).toBe(1);
    for (const [id, n] of count) expect(n, id).toBe(1);
    await d.stop();
  }, 120_000);

  it('right after a kill -9 under an SMTP flood, the first POP3 sessions are served (a bounded hunt)', async () => {
    const dataDir = tempDir();
    let d = await startDaemon({ dataDir });
    await setup(d, ['inbox', 'fwdbox'], [['alias', ['fwdbox@example.test']]]);
    // Five rounds in every run; VMAIL_HUNT_ROUNDS=50 hunts longer by hand.
    const rounds = Number(process.env.VMAIL_HUNT_ROUNDS ?? 5);
    for (let round = 0; round < rounds; round++) {
      let stop = false;
      const senders = Array.from({ length: 10 }, (_, c) =>
        (async () => {
          const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
          for (let i = 0; !stop; i++) {
            await t
              .sendMail({
                from: 'a@example.org',
                to: i % 2 ? 'inbox@example.test' : 'alias@example.test',
                subject: `hunt ${round}/${c}/${i}`,
                text: 'y'.repeat(30_000),
              })
              .catch(() => {});
          }
          t.close();
        })(),
      );
      await new Promise((r) => setTimeout(r, 200 + (round % 8) * 100));
      await d.kill9();
      stop = true;
      await Promise.all(senders);
      d = await startDaemon({ dataDir });
      // At once, while the restarted daemon still drains its forward queue.
      await Promise.all(
        ['inbox', 'fwdbox'].map(async (box) => {
          const c = await RawPop3.open(d.pop3Port);
          await c.login(box, 'password-1');
          const [count] = (await c.ok('STAT')).split(' ').slice(1).map(Number);
          expect((await c.multi('UIDL')).first).toMatch(/^\+OK/);
          for (let i = 1; i <= Math.min(count, 20); i++)
            expect((await c.multi(`RETR ${i}`)).first, `${box} RETR ${i} in round ${round}`).toMatch(
              /^\+OK \d+ octets$/,
            );
          await c.quit();
        }),
      );
    }
    expect(d.output()).not.toMatch(/Internal error|EBADF/);
    await d.stop();
  }, 600_000);
});
