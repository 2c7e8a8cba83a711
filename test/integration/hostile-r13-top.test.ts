// Hostile tests of POP3 TOP's 8 KB first read: cuts on and around byte 8192, headers past it,
// huge and zero line counts, TOP and RETR of one message in one session, shuffled order, and
// files swapped between the listing and the TOP (other size, same size, link, FIFO, folder).
// The reference is RFC 1939 as the helpers write it (topBytes, wire).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/maildir/maildir.js';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';
import { asBody, RawPop3, topBytes, wire } from '../helpers/pop3.js';

/** A message of exactly `total` bytes whose header's blank line (`blank`) starts at `at`. */
function cutAt(at: number, blank: string, total: number, lf = '\r\n'): Buffer {
  const head = Buffer.alloc(at, 'h');
  Buffer.from('X-Fill: ').copy(head, 0);
  for (let i = 70; i < at - lf.length; i += 71) Buffer.from(lf).copy(head, i - lf.length + 1);
  Buffer.from(lf).copy(head, at - lf.length);
  const rest = Buffer.from(`${blank}.body 1${lf}body 2${lf}${lf}.${lf}`, 'latin1');
  const fill = Math.max(0, total - at - rest.length);
  const tail = Buffer.alloc(fill, 'z');
  for (let i = 50; i < fill; i += 51) tail[i] = 10;
  return Buffer.concat([head, rest, tail]).subarray(0, Math.max(total, at + rest.length));
}

const MESSAGES: [string, Buffer][] = [];
for (const total of [8191, 8192, 8193, 8194, 16384])
  for (const at of [8188, 8189, 8190, 8191, 8192])
    for (const blank of ['\r\n', '\n'])
      for (const lf of ['\r\n', '\n'])
        MESSAGES.push([`total ${total} blank at ${at} ${JSON.stringify(blank + lf)}`, cutAt(at, blank, total, lf)]);
MESSAGES.push(
  ['header 8192 bytes, no blank line', Buffer.alloc(8192, 'a')],
  ['8192 bytes, all LF', Buffer.alloc(8192, 10)],
  ['8193 bytes, CR then LFs', Buffer.concat([Buffer.alloc(8191, 'q'), Buffer.from('\r\n\n')])],
  [
    'CR at 8191 alone, LF at 8192',
    Buffer.concat([Buffer.from('S: x\n'), Buffer.alloc(8186, 'q'), Buffer.from('\n\r\nbody\n')]),
  ],
  [
    'header of 40 KB',
    Buffer.concat([Buffer.from(`${'X-A: '.padEnd(78, 'a')}\r\n`.repeat(520)), Buffer.from('\r\nb1\r\nb2\r\n')]),
  ],
  ['empty', Buffer.alloc(0)],
);

let d: DaemonHandle;
const box = (name: string) => join(d.dataDir, 'mail/example.test', name);

beforeAll(async () => {
  d = await startDaemon({ args: ['--auth-failure-delay', '1ms'] });
  for (const name of ['t', 'swap'])
    expect((await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n')).code).toBe(0);
  await d.cli(['pending', 'apply']);
  for (const [, data] of MESSAGES) await deliver(box('t'), data);
  for (let i = 0; i < 8; i++) await deliver(box('swap'), cutAt(8190, '\r\n', 12000));
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

async function expectTop(c: RawPop3, i: number, k: number | string, data: Buffer, name: string) {
  const r = await c.multi(`TOP ${i + 1} ${k}`);
  expect(r.first, name).toBe('+OK');
  const want = asBody(wire(topBytes(data, Number(k))));
  expect(r.body.equals(want), `TOP ${name} ${k}: got ${r.body.length} want ${want.length}`).toBe(true);
}

describe('TOP around the 8 KB first read', () => {
  it('TOP 0/1/2/3/huge on every cut around byte 8192 (each message on its own, then in order with read-ahead)', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('t', 'password-1');
    await c.ok('STAT');
    for (const i of [...MESSAGES.keys()].reverse())
      for (const k of [0, 1, 2, 3, '4000000000']) await expectTop(c, i, k, MESSAGES[i][1], MESSAGES[i][0]);
    await c.quit();
    for (const k of [0, 2, 4_000_000_000]) {
      const c2 = await RawPop3.open(d.pop3Port);
      await c2.login('t', 'password-1');
      await c2.ok('STAT');
      for (const [i, [name, data]] of MESSAGES.entries()) await expectTop(c2, i, k, data, name);
      await c2.quit();
    }
  }, 60_000);

  it('TOP then RETR then TOP of each message, and a shuffled mix, in one session', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('t', 'password-1');
    await c.ok('STAT');
    let seed = 13;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 300; step++) {
      const i = step < MESSAGES.length ? step : rnd(MESSAGES.length);
      const [name, data] = MESSAGES[i];
      const k = [0, 1, 5, 100000][rnd(4)];
      await expectTop(c, i, k, data, name);
      const r = await c.multi(`RETR ${i + 1}`);
      expect(r.body.equals(asBody(wire(data))), `RETR ${name}`).toBe(true);
      await expectTop(c, (i + 1) % MESSAGES.length, k, MESSAGES[(i + 1) % MESSAGES.length][1], 'next');
    }
    await c.quit();
  }, 60_000);

  it('files swapped after the listing: renamed over (bigger, smaller, same size), a link, a FIFO, a folder', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('swap', 'password-1');
    await c.ok('STAT');
    const dir = join(box('swap'), 'new');
    const names = readdirSync(dir).sort();
    const path = (i: number) => join(dir, names[i]);
    const put = (i: number, data: Buffer) => {
      writeFileSync(`${path(i)}.new`, data);
      renameSync(`${path(i)}.new`, path(i));
    };
    const bigger = cutAt(9000, '\r\n', 20000);
    const smaller = cutAt(100, '\n', 500);
    const same = cutAt(8190, '\r\n', 12000);
    same[8190 + 3] = 0x58; // one byte changed in the first body line
    put(0, bigger);
    put(1, smaller);
    put(2, same);
    writeFileSync(join(dir, '..', 'victim'), cutAt(10, '\n', 12000));
    rmSync(path(3));
    symlinkSync(join(dir, '..', 'victim'), path(3));
    rmSync(path(4));
    execFileSync('mkfifo', [path(4)]);
    rmSync(path(5));
    mkdirSync(path(5));
    for (const k of [0, 2]) {
      await expectTop(c, 0, k, bigger, 'bigger');
      await expectTop(c, 1, k, smaller, 'smaller');
      await expectTop(c, 2, k, same, 'same size');
      for (const i of [3, 4, 5]) {
        const r = await c.multi(`TOP ${i + 1} ${k}`);
        expect(r.first, `TOP ${i + 1}`).toMatch(/^-ERR/);
      }
      await expectTop(c, 6, k, cutAt(8190, '\r\n', 12000), 'untouched');
    }
    // The session still answers.
    expect(await c.ok('NOOP')).toMatch(/^\+OK/);
    await c.quit();
  }, 60_000);
});
