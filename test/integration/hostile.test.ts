// What a hostile probe sends to port 25, against the real daemon, judged by effect (what is in
// the mailboxes and what reaches the relay): SMTP smuggling with every odd end-of-data, forged
// SRS in bulk from parallel connections, header injection into bounces through a relay's
// reply, command floods, and oversized lines. (1,000 idle connections from one address are in
// front-door.test.ts.) Every loop is bounded; every connection is closed by the test.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { mailbox, setup } from '../helpers/effects.js';
import { TestRelay } from '../helpers/relay.js';
import { RawSmtp } from '../helpers/smtp-raw.js';

/** The header block of a stored message (up to its first empty line). */
const headerOf = (m: string) => m.slice(0, m.search(/\r?\n\r?\n/) + 1);

/** Opens a session from `from` up to DATA's 354. */
async function openData(port: number, from: string, to: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(port, from);
  expect((await c.reply())?.code).toBe(220);
  expect((await c.cmd('EHLO probe.example'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<probe@attacker.example>'))?.code).toBe(250);
  expect((await c.cmd(`RCPT TO:<${to}>`))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  return c;
}

describe('the hostile probe', () => {
  let d: DaemonHandle;
  let relay: TestRelay;
  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    // A short refusal step keeps the bulk-forgery test to seconds; its order is what is tested.
    d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${relay.port}`, '--auth-failure-delay', '10ms'] });
    await setup(d, ['box', 'victim', 'other'], [['fw', ['far@far.example']]]);
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await relay.close();
  });

  const ENDS: [string, string][] = [
    ['bare LF dot LF', '\n.\n'],
    ['LF dot CRLF', '\n.\r\n'],
    ['CRLF dot LF', '\r\n.\n'],
    ['CR dot CR', '\r.\r'],
    ['CR dot CRLF', '\r.\r\n'],
    ['CRLF dot CR', '\r\n.\r'],
    ['CRLF dot NUL CRLF', '\r\n.\0\r\n'],
    ['CRLF dot space CRLF', '\r\n. \r\n'],
  ];
  for (const [name, end] of ENDS)
    it(`SMTP smuggling with ${name}: one message at most, and no second message made of the smuggled text`, async () => {
      const before = mailbox(d, 'victim').length;
      const c = await openData(d.smtpPort, '127.0.1.1', 'victim@example.test');
      const tag = name.replace(/\W+/g, '-');
      c.write(
        `Subject: outer ${tag}\r\n\r\nhello${end}` +
          'MAIL FROM:<ceo@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n' +
          `Subject: smuggled ${tag}\r\nFrom: ceo@example.test\r\n\r\nwire the money${end}`,
      );
      // The real end, then QUIT: its 221 comes after the replies to everything before it.
      c.write('\r\n.\r\nQUIT\r\n');
      const replies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await c.reply();
        if (!r) break;
        replies.push(r.code);
        if (r.code === 221) break;
      }
      c.close();
      const after = mailbox(d, 'victim').slice(before);
      expect(after.length, JSON.stringify(replies)).toBeLessThanOrEqual(1);
      for (const m of after) {
        expect(headerOf(m)).not.toMatch(new RegExp(`Subject: smuggled ${tag}`));
        expect(headerOf(m)).toMatch(new RegExp(`Subject: outer ${tag}`));
        // The smuggled text, when delivered, is inside the one message's body.
        expect(m).toContain(`Subject: smuggled ${tag}`);
      }
    });

  it('forged SRS in bulk from five parallel connections of one address: each cut off with 421, nothing relayed', async () => {
    const run = async () => {
      const c = await RawSmtp.open(d.smtpPort, '127.0.1.2');
      const codes: number[] = [];
      try {
        const g = await c.reply();
        if (g?.code !== 220) return [g?.code ?? 0];
        await c.cmd('EHLO probe.example');
        await c.cmd('MAIL FROM:<>');
        for (let i = 0; i < 2000; i++) {
          const r = await c.cmd(
            `RCPT TO:<SRS0=${Math.random().toString(36).slice(2, 10)}=AA=far.example=v@example.test>`,
          );
          if (!r) break;
          codes.push(r.code);
          if (r.code === 421) break;
        }
      } finally {
        c.close();
      }
      return codes;
    };
    const all = await Promise.all(Array.from({ length: 5 }, run));
    for (const codes of all) {
      expect(codes[codes.length - 1]).toBe(421);
      expect(codes.length).toBeLessThanOrEqual(21);
    }
    expect(JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout)).toEqual([]);
    expect(relay.received).toEqual([]);
  }, 120_000);

  it('10,000 unknown commands: cut off with 421 after a few; the next client is served', async () => {
    const c = await RawSmtp.open(d.smtpPort, '127.0.1.3');
    expect((await c.reply())?.code).toBe(220);
    let n = 0;
    for (; n < 10_000; n++) {
      const r = await c.cmd(`XYZZY ${n}`);
      if (!r || r.code === 421) break;
      expect(r.code).toBe(500);
    }
    expect(n).toBeLessThanOrEqual(20);
    expect(await c.waitClosed()).toBe(true);
    const ok = await openData(d.smtpPort, '127.0.1.4', 'other@example.test');
    ok.write('Subject: after the flood\r\n\r\nhi\r\n.\r\n');
    expect((await ok.reply())?.code).toBe(250);
    ok.close();
    expect(mailbox(d, 'other').some((m) => m.includes('Subject: after the flood'))).toBe(true);
  });

  it('a 1 MB command line and a 2 MB header line are refused, nothing is kept, and the daemon serves on', async () => {
    const before = mailbox(d, 'box').length;
    const c = await RawSmtp.open(d.smtpPort, '127.0.1.5');
    expect((await c.reply())?.code).toBe(220);
    c.write(`EHLO ${'a'.repeat(1024 * 1024)}\r\n`);
    const r = await c.reply();
    // Refused (5xx, or 421 and closed); never taken.
    expect(r === null || r.code >= 421).toBe(true);
    c.close();
    const h = await openData(d.smtpPort, '127.0.1.6', 'box@example.test');
    h.write(`Subject: long\r\nX-Long: ${'b'.repeat(2 * 1024 * 1024)}\r\n\r\nbody\r\n.\r\n`);
    const hr = await h.reply(60_000);
    expect(hr?.code).toBe(552);
    h.close();
    expect(mailbox(d, 'box').length).toBe(before);
    const ok = await openData(d.smtpPort, '127.0.1.7', 'box@example.test');
    ok.write('Subject: still here\r\n\r\nhi\r\n.\r\n');
    expect((await ok.reply())?.code).toBe(250);
    ok.close();
  }, 60_000);
});

describe('header injection into bounces', () => {
  let d: DaemonHandle;
  let hostile: Server;
  beforeAll(async () => {
    // A next hop that refuses every recipient with a reply made to become bounce headers.
    hostile = createServer((s) => {
      s.on('error', () => {});
      s.write('220 evil.example ESMTP\r\n');
      let buf = '';
      s.on('data', (b) => {
        buf += b.toString('latin1');
        for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (/^EHLO/i.test(line)) s.write('250-evil.example\r\n250 8BITMIME\r\n');
          else if (/^HELO/i.test(line)) s.write('250 evil.example\r\n');
          else if (/^MAIL/i.test(line)) s.write('250 ok\r\n');
          else if (/^RCPT/i.test(line))
            s.write('550-5.1.1 no such user\r\n550-Bcc: victim@evil.example\r\n550 5.1.1 x\rX-Injected: yes\r\n');
          else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
          else s.write('503 no\r\n');
        }
      });
    });
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', () => r()));
    const port = (hostile.address() as { port: number }).port;
    d = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${port}`] });
    await setup(d, ['sender'], [['out', ['far@far.example']]]);
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await new Promise<void>((r) => hostile.close(() => r()));
  });

  it('a relay reply with CR, LF and header lines in it stays inside one Diagnostic-Code line of the bounce', async () => {
    const c = await RawSmtp.open(d.smtpPort, '127.0.1.8');
    expect((await c.reply())?.code).toBe(220);
    await c.cmd('EHLO probe.example');
    expect((await c.cmd('MAIL FROM:<sender@example.test>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<out@example.test>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    c.write('Subject: to be bounced\r\n\r\nhi\r\n.\r\n');
    expect((await c.reply())?.code).toBe(250);
    c.close();
    const bounce = await waitFor(
      () => mailbox(d, 'sender').find((m) => /Subject: Undelivered Mail Returned to Sender/.test(m)),
      'the bounce',
      30_000,
    );
    // No line of the bounce starts with an injected header; no bare CR is left in it.
    for (const line of bounce.split('\n')) {
      expect(line).not.toMatch(/^(Bcc|X-Injected):/i);
      expect(line.replace(/\r$/, '')).not.toContain('\r');
    }
    expect(bounce).toMatch(/\r\nDiagnostic-Code: smtp; [^\r\n]*550[^\r\n]*\r\nLast-Attempt-Date: /);
  });
});
