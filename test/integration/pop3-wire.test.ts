// The bytes RETR and TOP put on the wire, held to today's rules whatever path a message takes:
// files vmail wrote (sizes in the name: read whole), files moved in from other servers (no size
// tags: sized once, then read whole too), messages over 256 KB (streamed in 64 KB chunks), and
// files that changed after the listing (the fallback that opens the file). The rules: every LF
// without a CR before it gets one, a lone CR stays, a line starting with a dot gets another, a
// last line without an end gets CRLF; TOP cuts after the header's blank line and k more lines.
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/maildir/maildir.js';
import { type DaemonHandle, ROOT, startDaemon } from '../helpers/daemon.js';
import { asBody, RawPop3, topBytes, wire } from '../helpers/pop3.js';

const fixture = (name: string) => readFileSync(join(ROOT, 'fixtures/messages', name));

/** Bare LF, lone CR, dotted lines, CRLF lines and no final newline, in one message. */
const MIXED = Buffer.from(
  'From: a@example.org\nSubject: mixed\r\nX-Lone: a\rb\n\n.dot first\nbare LF line\nlone\rCR inside\r\n' +
    'CRLF line\r\n..two dots\n\r.CR then dot\n.\r\n\nlast line without end\r',
  'latin1',
);
/** MIXED as today's server sends it, written out by hand. */
const MIXED_RETR =
  'From: a@example.org\r\nSubject: mixed\r\nX-Lone: a\rb\r\n\r\n..dot first\r\nbare LF line\r\nlone\rCR inside\r\n' +
  'CRLF line\r\n...two dots\r\n\r.CR then dot\r\n..\r\n\r\nlast line without end\r\r\n';
const MIXED_TOP2 = 'From: a@example.org\r\nSubject: mixed\r\nX-Lone: a\rb\r\n\r\n..dot first\r\nbare LF line\r\n';

/** A message over 256 KB (streamed) with LF lines, a CR and a dot on the 64 KB read boundaries. */
function bigMessage(): Buffer {
  const b = Buffer.alloc(300 * 1024, 'x');
  Buffer.from('From: big@example.org\nSubject: big\n\n').copy(b, 0);
  for (let i = 100; i < b.length; i += 77) b[i] = 10;
  for (const at of [65536, 131072, 196608]) {
    b[at - 2] = 10;
    b[at - 1] = 13; // a CR as the last byte of one read, its LF the first of the next
    b[at] = 10;
    b[at + 1] = 0x2e; // a dot at a line start just after the boundary
  }
  b[b.length - 1] = 0x2e; // and no final newline
  return b;
}

/**
 * A small message whose header ends with its blank line's `end` ("\n" or "\r\n") starting at
 * byte `at`: TOP reads a small message's first 8 KB, and the rest only when its cut is further.
 */
function headerTo(at: number, end: string): Buffer {
  const head = Buffer.alloc(at, 'h');
  for (let i = 60; i < at - 1; i += 61) head[i] = 10;
  Buffer.from('X-Fill: ').copy(head, 0);
  head[at - 1] = 10;
  return Buffer.concat([head, Buffer.from(`${end}body line 1\r\nbody line 2\n.dot\r\n${'z'.repeat(9000)}\nlast\n`)]);
}

const MESSAGES: [string, Buffer][] = [
  ['mixed', MIXED],
  ...['bare-lf.eml', 'dot-lines.eml', 'no-final-newline.eml', 'utf8-headers.eml'].map(
    (f) => [f, fixture(f)] as [string, Buffer],
  ),
  ['empty', Buffer.alloc(0)],
  ['one dot', Buffer.from('.')],
  ['one CR', Buffer.from('\r')],
  ['one LF', Buffer.from('\n')],
  ['CR CR LF and dots', Buffer.from('a\r\r\n.b\n\n.\r.\n..', 'latin1')],
  ['every byte value', Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7919) % 256))],
  ['no blank line', Buffer.from('Subject: only a header\nX-A: 1\n')],
  ['big', bigMessage()],
  ['header ends at 8 KB', headerTo(8191, '\n')],
  ['blank line across 8 KB', headerTo(8191, '\r\n')],
  ['header of 12 KB', headerTo(12 * 1024, '\n')],
];

let d: DaemonHandle;
const box = (name: string) => join(d.dataDir, 'mail/example.test', name);
/** File names of the moved-in copies, in message order. */
const untaggedNames = MESSAGES.map((_, i) => `${1_600_000_000 + i}.M${i}.oldhost`);

beforeAll(async () => {
  d = await startDaemon({ args: ['--auth-failure-delay', '1ms'] });
  for (const name of ['tagged', 'untagged', 'changing', 'fifo']) {
    const r = await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
    expect(r.code, r.stderr).toBe(0);
  }
  await d.cli(['pending', 'apply']);
  for (const [, data] of MESSAGES) await deliver(box('tagged'), data);
  for (const [i, [, data]] of MESSAGES.entries()) {
    for (const user of ['untagged', 'changing']) writeFileSync(join(box(user), 'new', untaggedNames[i]), data);
  }
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('RETR and TOP bytes on the wire', () => {
  it('the reference encoding is the one written out by hand for the mixed message', () => {
    expect(wire(MIXED).toString('latin1')).toBe(MIXED_RETR);
    expect(wire(topBytes(MIXED, 2)).toString('latin1')).toBe(MIXED_TOP2);
  });

  for (const user of ['tagged', 'untagged']) {
    it(`${user} files: RETR and TOP n 0/1/2/3/10/huge send today's bytes, twice over (read-ahead and direct)`, async () => {
      const c = await RawPop3.open(d.pop3Port);
      await c.login(user, 'password-1');
      expect(await c.ok('STAT')).toMatch(new RegExp(`^\\+OK ${MESSAGES.length} `));
      // In order (the read-ahead serves them), then backwards (each read on its own).
      const order = [...MESSAGES.keys(), ...[...MESSAGES.keys()].reverse()];
      for (const i of order) {
        const [name, data] = MESSAGES[i];
        const retr = await c.multi(`RETR ${i + 1}`);
        const size =
          wire(data).length -
          (wire(data)
            .toString('latin1')
            .match(/(^|\n)\./g)?.length ?? 0);
        expect(retr.first, name).toBe(`+OK ${size} octets`);
        expect(retr.body.equals(asBody(wire(data))), `RETR ${name}`).toBe(true);
        for (const k of [0, 1, 2, 3, 10, 4_000_000_000]) {
          const top = await c.multi(`TOP ${i + 1} ${k}`);
          expect(top.first, name).toBe('+OK');
          expect(top.body.equals(asBody(wire(topBytes(data, k)))), `TOP ${name} ${k}`).toBe(true);
        }
      }
      expect(wire(MIXED).toString('latin1')).toBe(MIXED_RETR);
      const mixed = await c.multi('RETR 1');
      expect(`${mixed.body.toString('latin1')}\r\n`).toBe(MIXED_RETR);
      const top = await c.multi('TOP 1 2');
      expect(`${top.body.toString('latin1')}\r\n`).toBe(MIXED_TOP2);
      await c.quit();
    });
  }

  for (const user of ['tagged', 'untagged']) {
    it(`${user} files: a session of RETRs only, one of TOP n 2 only, and one that takes turns (each read ahead in the other's form), each in order, send today's bytes`, async () => {
      for (const mode of ['RETR', 'TOP', 'turns']) {
        const c = await RawPop3.open(d.pop3Port);
        await c.login(user, 'password-1');
        await c.ok('STAT');
        for (const [i, [name, data]] of MESSAGES.entries()) {
          // Read ahead after a RETR is kept in RETR's form, after a TOP as stored: taking turns,
          // every message was read ahead for the other command.
          const cmd = mode === 'turns' ? (i % 2 ? 'RETR' : 'TOP') : mode;
          const r = await c.multi(cmd === 'TOP' ? `TOP ${i + 1} 2` : `RETR ${i + 1}`);
          expect(r.first, name).toMatch(/^\+OK/);
          const want = cmd === 'TOP' ? topBytes(data, 2) : data;
          expect(r.body.equals(asBody(wire(want))), `${mode}: ${cmd} ${name}`).toBe(true);
        }
        const mixed = await c.multi(mode === 'TOP' ? 'TOP 1 2' : 'RETR 1');
        expect(`${mixed.body.toString('latin1')}\r\n`).toBe(mode === 'TOP' ? MIXED_TOP2 : MIXED_RETR);
        await c.quit();
      }
    });
  }

  it('files changed after the listing: grown or shrunk are sent as they are now; removed get -ERR and the session goes on', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('changing', 'password-1');
    await c.ok('STAT');
    const path = (i: number) => join(box('changing'), 'new', untaggedNames[i]);
    // Message 1 grows by a bare-LF line with a dot, message 2 shrinks to a dotted line without end,
    // message 3 goes away: before any of them is read, so no read-ahead holds the old bytes.
    appendFileSync(path(0), '.grown\n');
    writeFileSync(path(1), '.short');
    unlinkSync(path(2));
    const grown = Buffer.concat([MIXED, Buffer.from('.grown\n')]);
    for (const cmd of ['RETR', 'TOP']) {
      const arg = cmd === 'TOP' ? ' 3' : '';
      const one = await c.multi(`${cmd} 1${arg}`);
      expect(one.first).toMatch(/^\+OK/);
      const want = cmd === 'TOP' ? topBytes(grown, 3) : grown;
      expect(one.body.equals(asBody(wire(want))), `${cmd} 1`).toBe(true);
      const two = await c.multi(`${cmd} 2${arg}`);
      expect(two.body.toString('latin1'), `${cmd} 2`).toBe('..short');
      expect((await c.multi(`${cmd} 3${arg}`)).first).toMatch(/^-ERR Message is no longer on the server/);
      const four = await c.multi(`${cmd} 4${arg}`);
      const data4 = MESSAGES[3][1];
      expect(four.body.equals(asBody(wire(cmd === 'TOP' ? topBytes(data4, 3) : data4))), `${cmd} 4`).toBe(true);
    }
    await c.quit();
  });

  it('a FIFO named as a message is no message: not listed, never opened, and every session is served', async () => {
    const fifo = join(box('fifo'), 'new', '1600000000.M1.oldhost,S=40,W=42');
    execFileSync('mkfifo', [fifo]);
    const a = await RawPop3.open(d.pop3Port);
    await a.login('fifo', 'password-1');
    // Only plain files are messages: a FIFO (or a link) in new/ is skipped, and logged.
    expect(await a.ok('STAT')).toMatch(/^\+OK 0 0/);
    a.write('RETR 1\r\n');
    expect(await a.line()).toMatch(/^-ERR/);
    // Meanwhile another session is served in full.
    const b = await RawPop3.open(d.pop3Port);
    await b.login('tagged', 'password-1');
    const retr = await b.multi('RETR 1');
    expect(retr.body.equals(asBody(wire(MIXED)))).toBe(true);
    await b.quit();
    await a.quit();
  });
});
