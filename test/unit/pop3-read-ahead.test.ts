// What a POP3 session reads ahead of the client's RETRs: the next few messages, in RETR's form,
// never more than READ_AHEAD_OCTETS of them (a mailbox of big messages made of bare LFs, which
// stuffing and CRLF make larger, must not make every session hold megabytes).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, listMessages } from '../../src/maildir/maildir.js';
import { MessageSender, type Wire } from '../../src/pop3/retrieve.js';

let server: ReturnType<typeof createServer>;
let ours: Socket;
let theirs: Socket;
let received = 0;

beforeAll(async () => {
  // A real connection: the sender writes to one end, the other end reads and counts.
  server = createServer((s) => {
    theirs = s;
    s.on('data', (d) => (received += d.length));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  ours = await new Promise<Socket>((resolve) => {
    const c = connect(port, '127.0.0.1', () => resolve(c));
  });
});

/** Temp Maildirs made here, removed after. */
const made: string[] = [];
function maildir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmail-ahead-'));
  made.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  ours?.destroy();
  theirs?.destroy();
  server?.close();
});

function wire(): Wire {
  return {
    connection: ours,
    isClosed: false,
    send: (line) => void ours.write(`${line}\r\n`),
    err: (text) => void ours.write(`-ERR ${text}\r\n`),
    drained: () => new Promise((r) => ours.once('drain', () => r())),
  };
}

/** The message indexes the sender holds read ahead (a private field, read for this test). */
const heldAhead = (s: MessageSender) => [...(s as unknown as { readAhead: Map<number, unknown> }).readAhead.keys()];

describe('POP3 read-ahead', () => {
  it('reads the next four small messages ahead, but no more than 512 KB of big ones', async () => {
    const dir = maildir();
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, f));
    // Six of 20 KB, then six of 200 KB made of bare LFs (each 400 KB once in CRLF).
    for (let i = 0; i < 6; i++) await deliver(dir, Buffer.from(`Subject: ${i}\r\n\r\n${'x'.repeat(20_000)}\r\n`));
    for (let i = 0; i < 6; i++) await deliver(dir, Buffer.alloc(200 * 1024, 10));
    const messages = await listMessages(dir);
    expect(messages).toHaveLength(12);
    const s = new MessageSender(wire(), dir, messages, new Set());
    await s.send(0, Infinity);
    expect(heldAhead(s)).toEqual([1, 2, 3, 4]);
    await s.send(6, Infinity);
    // Each of the big ones is 400 KB on the wire: one fits under 512 KB, two do not.
    expect(heldAhead(s)).toEqual([7]);
    await s.send(7, Infinity);
    expect(heldAhead(s)).toEqual([8]);
    s.forget();
    await new Promise((r) => setTimeout(r, 100));
    // What was sent arrived: the small one and the two big ones.
    expect(received).toBeGreaterThan(2 * 400 * 1024);
  });

  it('counts a moved-in file by its size on disk when its name says it is smaller (a lying W=)', async () => {
    const dir = maildir();
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, f));
    // 200 KB files whose names say W=1: POP3's size would count them as one octet each.
    for (let i = 0; i < 6; i++)
      writeFileSync(
        join(dir, 'new', `${1_700_000_000 + i}.M${i}.oldhost,S=${200 * 1024},W=1`),
        Buffer.alloc(200 * 1024, 120),
      );
    const messages = await listMessages(dir);
    expect(messages.map((m) => m.size)).toEqual([1, 1, 1, 1, 1, 1]);
    const s = new MessageSender(wire(), dir, messages, new Set());
    await s.send(0, Infinity);
    // Two of 200 KB fit under 512 KB; a third does not.
    expect(heldAhead(s)).toEqual([1, 2]);
    s.forget();
  });
});
