// Hostile tests of the intake's CRLF size (filteredCrlfSize): messages with forged verdict fields
// in every position, odd line ends, 8-bit bytes, headers past the 256 KiB spool boundary and
// split reads, in memory and spooled. For every stored copy: W= in its name is its CRLF size,
// POP3 LIST says the octets RETR gives, STAT's total is their sum, the quota's `used` agrees,
// and a forward delivers the same bytes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';
import { RawPop3 } from '../helpers/pop3.js';
import { RawSmtp } from '../helpers/smtp-raw.js';

const SPOOL = 256 * 1024;
let d: DaemonHandle;

/** CRLF size of stored bytes: a CR before each bare LF, a final CRLF if missing. */
function crlfLen(b: Buffer): number {
  let n = b.length;
  for (let i = 0; i < b.length; i++) if (b[i] === 10 && (i === 0 || b[i - 1] !== 13)) n++;
  if (b.length && b[b.length - 1] !== 10) n += 2;
  return n;
}

/** Dot-stuffs `data` for DATA (a dot after CRLF or at the start) and ends it. */
function dataPhase(data: Buffer): Buffer {
  const s = data.toString('latin1').replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${s}${s.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1');
}

/** Sends `data` to `to` over raw SMTP, written in pieces cut at `cuts` (a pause after each). */
async function send(to: string[], data: Buffer, cuts: number[] = []): Promise<number> {
  const c = await RawSmtp.open(d.smtpPort);
  expect((await c.reply())?.code).toBe(220);
  expect((await c.cmd('EHLO client.example.org'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<alice@example.org>'))?.code).toBe(250);
  for (const t of to) expect((await c.cmd(`RCPT TO:<${t}>`))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  const wire = dataPhase(data);
  let at = 0;
  for (const cut of [...cuts, wire.length]) {
    c.write(wire.subarray(at, cut));
    at = cut;
    await new Promise((r) => setTimeout(r, 30));
  }
  const r = await c.reply(60_000);
  c.write('QUIT\r\n');
  c.socket.end();
  return r?.code ?? 0;
}

const box = (user: string) => join(d.dataDir, 'mail/example.test', user, 'new');
const unstuff = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/(^|\r\n)\.\./g, '$1.'), 'latin1');

/** Every invariant for the messages of `user`; returns the stored files' bytes in LIST order. */
async function check(user: string, expected: number): Promise<Buffer[]> {
  const c = await RawPop3.open(d.pop3Port);
  await c.login(user, 'password-1');
  const stat = await c.ok('STAT');
  const [, count, total] = /^\+OK (\d+) (\d+)/.exec(stat)!.map(Number);
  expect(count).toBe(expected);
  const list = await c.multi('LIST');
  const sizes = list.body
    .toString('latin1')
    .split('\r\n')
    .filter(Boolean)
    .map((l) => Number(l.split(' ')[1]));
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const r = await c.multi(`RETR ${i + 1}`);
    const octets = unstuff(r.body).length + 2;
    expect(octets, `${user} message ${i + 1}: LIST ${sizes[i]}, RETR ${octets}`).toBe(sizes[i]);
    expect(r.first).toBe(`+OK ${sizes[i]} octets`);
    sum += octets;
  }
  expect(total).toBe(sum);
  await c.quit();
  const files = readdirSync(box(user)).sort();
  const stored = files.map((f) => readFileSync(join(box(user), f)));
  for (const [i, f] of files.entries()) {
    const w = Number(/,W=(\d+)/.exec(f)?.[1]);
    const s = Number(/,S=(\d+)/.exec(f)?.[1]);
    expect(w, `${f}: W= is its CRLF size`).toBe(crlfLen(stored[i]));
    expect(s, `${f}: S= is its size`).toBe(stored[i].length);
    expect(stored[i].toString('latin1')).not.toMatch(/(^|\n)(x-spam|x-rspamd-)/i);
  }
  const accounts = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout);
  const items = (Array.isArray(accounts) ? accounts : (accounts.accounts ?? accounts.items)) as {
    address: string;
    used?: { bytes: number } | number;
  }[];
  const mine = items.find((a) => a.address === `${user}@example.test`)!;
  const used = typeof mine.used === 'number' ? mine.used : mine.used?.bytes;
  expect(used, `${user}: quota use`).toBe(sum);
  return stored;
}

const pad = (n: number) => {
  const line = `${'b'.repeat(76)}\r\n`;
  return line.repeat(Math.ceil(n / line.length));
};

/** The hostile messages: [name, bytes]. Each is sent small and padded past the spool boundary. */
const HOSTILE: [string, string][] = [
  ['forged first line', 'X-Spam: Yes\r\nSubject: a\r\n\r\nbody\r\n'],
  ['forged last header line', 'Subject: a\r\nFrom: b@example.org\r\nX-Spam-Status: Yes, score=99\r\n\r\nbody\r\n'],
  [
    'folded forged fields, CRLF and bare LF continuations',
    'Subject: a\r\nX-Spam-Report: one\r\n two\n\tthree\r\n  four\nX-Rspamd-Queue-Id: q\n x\r\nTo: t@example.test\r\n\r\nbody\r\n',
  ],
  [
    'bare LF header',
    'From: a@example.org\nX-Spam: yes\nX-Rspamd-Score: 1\nSubject: lf\n\nbody line\n.dot after lf? no\n',
  ],
  ['bare CR inside forged and kept fields', 'X-Spam: a\rb\r\nSubject: c\rd\r\nX-Spam-Flag: \r\r\n\r\nbody\r\r\n'],
  [
    "Authentication-Results: no authserv-id, ours, and someone else's",
    'Authentication-Results: ; spf=pass\r\nAuthentication-Results: example.test; dkim=pass\r\nAuthentication-Results: upstream.example.org; spf=fail\r\nSubject: ar\r\n\r\nbody\r\n',
  ],
  ['header only, forged last, no blank line', 'Subject: only\r\nX-Spam: yes\r\n'],
  ['header only, all forged', 'X-Spam: yes\r\nX-Rspamd-Action: no\r\n'],
  ['forged field, then an empty body', 'Subject: e\r\nX-Spam: 1\r\n\r\n'],
  ['8-bit bytes', 'Subject: caf\xe9\r\nX-Spam-Level: \xff\xfe\xfd\r\nX-Other: \x80\r\n\r\nna\xefve \xa0 body\r\n'],
  ['dot lines', 'Subject: dots\r\nX-Spam: .\r\n\r\n.\r\n..\r\n.leading\r\n'],
  ['blank line is LF CR LF', 'Subject: x\nX-Spam: y\n\r\nbody\r\n'],
  [
    'looks-like but is not a field',
    'Subject: x\r\nX-Spammy-Not: kept? no: x-spam prefix\r\nXX-Spam: kept\r\n X-Spam: continuation\r\n\r\nb\r\n',
  ],
];

beforeAll(async () => {
  d = await startDaemon({ args: ['--max-message-size', '10M'] });
  for (const a of ['mem', 'spooled', 'bigheader', 'split', 'fwdst', 'quota'])
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
  expect((await d.cli(['accounts', 'quota', 'quota', '50M'])).code).toBe(0);
  expect((await d.cli(['forwards', 'add', 'fwd', 'fwdst@example.test'])).code).toBe(0);
  await d.cli(['pending', 'apply']);
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('the CRLF size of messages with forged verdict fields', () => {
  it('in memory: W=, LIST, RETR, STAT and quota use agree', async () => {
    for (const [name, text] of HOSTILE)
      expect(await send(['mem@example.test'], Buffer.from(text, 'latin1')), name).toBe(250);
    await check('mem', HOSTILE.length);
  });

  it('spooled (past 256 KiB) and with a quota: W=, LIST, RETR, STAT and quota use agree', async () => {
    let n = 0;
    for (const [name, text] of HOSTILE) {
      // Only a message with a header end can be spooled past it; header-only ones get a body.
      const withBody = /\r?\n\r?\n/.test(text) ? text : `${text}\r\n`;
      const big = Buffer.from(withBody + pad(SPOOL + 5000), 'latin1');
      expect(await send(['spooled@example.test', 'quota@example.test'], big), name).toBe(250);
      n++;
    }
    await check('spooled', n);
    await check('quota', n);
  }, 60_000);

  it('a header over 256 KiB with forged fields before and after the spool boundary', async () => {
    const filler = Array.from({ length: 3600 }, (_, i) => `X-Fill-${i}: ${'h'.repeat(70)}\r\n`).join('');
    const half = filler.length >> 1;
    const head = `X-Spam: first\r\n${filler.slice(0, half)}X-Spam-Mid: m\r\n${filler.slice(half)}X-Rspamd-Last: l\r\n folded\r\n`;
    expect(Buffer.byteLength(head)).toBeGreaterThan(SPOOL);
    for (const body of ['short body\r\n', pad(SPOOL)])
      expect(await send(['bigheader@example.test'], Buffer.from(`${head}\r\n${body}`, 'latin1'))).toBe(250);
    await check('bigheader', 2);
  }, 60_000);

  it('the 256 KiB boundary falling inside a CRLF pair, after a bare CR, inside the blank line (written in pieces)', async () => {
    let sent = 0;
    for (const endAt of [-1, 0, 1, 2]) {
      // The header ends just around the boundary; the pieces are cut there.
      const head = `Subject: split\r\nX-Spam: forged\r\n`;
      const fill = SPOOL - head.length - 2 + endAt;
      const lines = `${`X-F: ${'f'.repeat(70)}\r\n`.repeat(Math.floor(fill / 78))}X-G: ${'g'.repeat(Math.max(0, (fill % 78) - 7))}\r\n`;
      const msg = Buffer.from(`${head}${lines}\r\nbody\r\n\r${pad(4000)}`, 'latin1');
      for (const cut of [SPOOL - 1, SPOOL, SPOOL + 1]) {
        expect(await send(['split@example.test'], msg, [cut])).toBe(250);
        sent++;
      }
    }
    // And a body whose CR and LF are split across the writes at the boundary.
    const msg = Buffer.from(`Subject: s\r\nX-Spam: f\r\n\r\n${'x'.repeat(SPOOL - 30)}\r\n${pad(1000)}`, 'latin1');
    const cr = msg.indexOf('\r\n', SPOOL - 40);
    expect(await send(['split@example.test'], msg, [cr + 1])).toBe(250);
    sent++;
    await check('split', sent);
  }, 60_000);

  it('a forward delivers the same bytes (less the forged fields), small and spooled', async () => {
    const msgs = [HOSTILE[2][1], HOSTILE[4][1], `${HOSTILE[9][1]}${pad(SPOOL + 100)}`];
    for (const m of msgs) {
      expect(await send(['fwd@example.test'], Buffer.from(m, 'latin1'))).toBe(250);
    }
    const deadline = Date.now() + 30_000;
    while (readdirSync(box('fwdst')).length < msgs.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const stored = await check('fwdst', msgs.length);
    // Each stored copy ends with what was sent less the forged lines (the intake's own lines come first).
    const want = msgs.map((m) => {
      const [h, ...rest] = m.split(/(?<=\n)(?=\r?\n)/);
      const kept = h.replace(/(?<=^|\n)(X-Spam[^\n]*\n|X-Rspamd-[^\n]*\n)([ \t][^\n]*\n)*/gi, '');
      return Buffer.from(kept + rest.join(''), 'latin1');
    });
    for (const w of want)
      expect(
        stored.some((s) => s.subarray(s.length - w.length).equals(w)),
        `${JSON.stringify(w.toString('latin1').slice(0, 300))} in ${JSON.stringify(stored.map((s) => s.toString('latin1').slice(0, 600)))}`,
      ).toBe(true);
  }, 60_000);
});
