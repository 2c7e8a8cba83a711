// The forward queue on its own, on a temp spool, with a clock the test moves: the back-off
// schedule and the bounce after five days, against a relay port that refuses connections.

import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ForwardQueue, type ForwardQueueOptions } from '../../src/smtp/forward-queue.js';
import { Logger } from '../../src/support/log.js';
import { tempDir, waitFor } from '../helpers/daemon.js';
import { brokenRelay, closedPort, TestRelay } from '../helpers/relay.js';

describe('forward queue', () => {
  it('backs off 1m, 5m, 15m, 30m, then hourly, and bounces to the sender after five days', async () => {
    const dir = tempDir();
    let now = Date.UTC(2026, 10, 26, 12);
    const local: { to: string; from: string; data: string }[] = [];
    const q = new ForwardQueue({
      dir,
      relay: `smtp://127.0.0.1:${await closedPort()}`,
      relayTimeoutMs: 2000,
      hostname: 'mx.example.test',
      isLocal: (a) => a.endsWith('@example.test'),
      deliverLocal: async (to, from, data) => {
        local.push({ to, from, data: data.toString() });
        return 'delivered';
      },
      log: new Logger('error', () => {}),
      now: () => now,
    });
    await q.load();
    q.start();
    const id = await q.add(
      'sender@example.test',
      'far@far.example',
      Buffer.from('Subject: hello\r\nMessage-ID: <q-1@example.test>\r\n\r\nhi\r\n'),
    );
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      const entry = await waitFor(
        () => q.list().find((e) => e.id === id && e.attempts === attempt),
        `attempt ${attempt}`,
      );
      gaps.push((Date.parse(entry.nextAttemptAt) - now) / 60_000);
      now = Date.parse(entry.nextAttemptAt);
      q.retry(id);
    }
    expect(gaps).toEqual([1, 5, 15, 30, 60, 60]);
    // Five days after it arrived, the next failure bounces it.
    now = Date.UTC(2026, 11, 1, 12, 0, 1);
    q.retry(id);
    await waitFor(() => local.length === 1, 'the bounce to be delivered locally');
    expect(local[0].to).toBe('sender@example.test');
    expect(local[0].from).toBe('');
    expect(local[0].data).toMatch(/Status: 4\.4\.7\r\nDiagnostic-Code: smtp; gave up after 7 attempts/);
    expect(local[0].data).toMatch(/Message-ID: <q-1@example\.test>/);
    await waitFor(() => q.list().length === 0, 'the queue to empty');
    expect(readdirSync(dir)).toEqual([]);
    q.stop();
  });

  it('keeps entries across a reload and drops files of an unfinished write', async () => {
    const dir = tempDir();
    const opts = {
      dir,
      relay: null,
      relayTimeoutMs: 1000,
      hostname: 'mx',
      isLocal: () => false,
      deliverLocal: async () => 'delivered' as const,
      log: new Logger('error', () => {}),
    };
    const q = new ForwardQueue(opts);
    await q.load();
    const id = await q.add('a@x.test', 'b@far.example', Buffer.from('x\r\n'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'half.eml'), 'no json beside it');
    writeFileSync(join(dir, 'torn.json.tmp'), '{');
    const again = new ForwardQueue(opts);
    await again.load();
    expect(again.list().map((e) => e.id)).toEqual([id]);
    expect(readdirSync(dir).sort()).toEqual([`${id}.eml`, `${id}.json`]);
    expect(again.problem()).toBe('1 forwarded message(s) wait in the queue: no --relay is configured');
  });
});

// A read error is not a reason to drop mail (issue 23 item 5): only a description that parses
// wrong is set aside (moved to corrupt/, never deleted); anything else is read again later.
describe('forward queue: read errors and descriptions that parse wrong', () => {
  const options = (dir: string, relay: string | null): ForwardQueueOptions => ({
    dir,
    relay,
    relayTimeoutMs: 60_000,
    hostname: 'mx.example.test',
    isLocal: () => false,
    deliverLocal: async () => 'delivered',
    log: new Logger('error', () => {}),
  });
  const message = Buffer.from('Subject: the only copy\r\nMessage-ID: <keep-1@example.test>\r\n\r\nkept body\r\n');

  it('keeps a message whose file cannot be read (a folder in its place) and relays it once it can be', async () => {
    const dir = tempDir();
    const relay = new TestRelay();
    await relay.listen();
    const q = new ForwardQueue(options(dir, `smtp://127.0.0.1:${relay.port}`));
    await q.load();
    const id = await q.add('a@example.test', 'b@far.example', message);
    // The read fails with EISDIR: an error other than a parse error, as EIO or ESTALE would be.
    renameSync(join(dir, `${id}.eml`), join(dir, 'aside'));
    mkdirSync(join(dir, `${id}.eml`));
    q.start();
    const failed = await waitFor(() => q.list().find((e) => e.id === id && e.lastError), 'the failed attempt');
    expect(failed.lastError).toMatch(/unreadable/);
    expect(existsSync(join(dir, `${id}.json`))).toBe(true);
    expect(relay.received).toEqual([]);

    rmdirSync(join(dir, `${id}.eml`));
    renameSync(join(dir, 'aside'), join(dir, `${id}.eml`));
    q.retry(id);
    await waitFor(() => relay.received.length === 1, 'the relayed message');
    expect(relay.received[0].data.toString()).toContain('kept body');
    await waitFor(() => q.list().length === 0, 'the queue to empty');
    // Its description goes first, then its message file (an .eml alone is a write cut short).
    await waitFor(() => readdirSync(dir).length === 0, 'the spool to empty');
    await q.stop();
    await relay.close();
  });

  it('keeps a description it cannot read at start, and relays the message once it is readable again', async () => {
    const dir = tempDir();
    const first = new ForwardQueue(options(dir, null));
    await first.load();
    const id = await first.add('a@example.test', 'b@far.example', message);
    const description = readFileSync(join(dir, `${id}.json`));
    rmSync(join(dir, `${id}.json`));
    mkdirSync(join(dir, `${id}.json`));

    const relay = new TestRelay();
    await relay.listen();
    const q = new ForwardQueue(options(dir, `smtp://127.0.0.1:${relay.port}`));
    await q.load();
    q.start();
    expect(q.list()).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([`${id}.eml`, `${id}.json`]);

    rmdirSync(join(dir, `${id}.json`));
    writeFileSync(join(dir, `${id}.json`), description);
    // `queue retry` reads it again now (a timer would, a minute later).
    expect(() => q.retry(id)).toThrow(/being read again/);
    await waitFor(() => relay.received.length === 1, 'the relayed message');
    expect(relay.received[0].data.toString()).toContain('kept body');
    await waitFor(() => readdirSync(dir).length === 0, 'the spool to empty');
    await q.stop();
    await relay.close();
  });

  it('moves a description that parses wrong, and one whose message file is gone, to corrupt/: nothing deleted', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'torn1.json'), '{"id":"torn1","fr');
    writeFileSync(join(dir, 'torn1.eml'), message);
    writeFileSync(join(dir, 'other2.json'), JSON.stringify({ hello: 'not a description' }));
    writeFileSync(join(dir, 'other2.eml'), message);
    writeFileSync(
      join(dir, 'alone3.json'),
      JSON.stringify({
        id: 'alone3',
        from: 'a@x.test',
        to: 'b@far.example',
        createdAt: 1,
        attempts: 0,
        nextAttemptAt: 1,
        lastAttemptAt: null,
        lastError: null,
        size: 3,
      }),
    );
    const q = new ForwardQueue(options(dir, null));
    await q.load();
    expect(q.list()).toEqual([]);
    expect(readdirSync(dir)).toEqual(['corrupt']);
    expect(readdirSync(join(dir, 'corrupt')).sort()).toEqual([
      'alone3.json',
      'other2.eml',
      'other2.json',
      'torn1.eml',
      'torn1.json',
    ]);
    expect(readFileSync(join(dir, 'corrupt', 'torn1.eml'))).toEqual(message);
    expect(readFileSync(join(dir, 'corrupt', 'torn1.json'), 'utf8')).toBe('{"id":"torn1","fr');

    // A new message and a restart leave what was set aside as it is.
    const id = await q.add('a@example.test', 'b@far.example', message);
    const again = new ForwardQueue(options(dir, null));
    await again.load();
    expect(again.list().map((e) => e.id)).toEqual([id]);
    expect(readdirSync(join(dir, 'corrupt'))).toHaveLength(5);
  });

  it('records an attempt on disk before making it: a crash during one finds it counted', async () => {
    const dir = tempDir();
    const { port, server } = await brokenRelay('silent');
    const sockets: Socket[] = [];
    server.on('connection', (s: Socket) => sockets.push(s));
    const q = new ForwardQueue(options(dir, `smtp://127.0.0.1:${port}`));
    await q.load();
    const id = await q.add('a@example.test', 'b@far.example', message);
    q.start();
    // The relay has the connection and says nothing: the attempt is under way. What is on disk
    // now is what a kill -9 would leave.
    await waitFor(() => sockets.length === 1, 'the connection to the relay');
    const onDisk = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));
    expect(onDisk.attempts).toBe(1);
    expect(onDisk.lastAttemptAt).toEqual(expect.any(Number));
    // The relay hangs up: the attempt fails and is counted once, not twice.
    for (const s of sockets) s.destroy();
    const failed = await waitFor(() => q.list().find((e) => e.id === id && e.lastError), 'the failed attempt');
    expect(failed.attempts).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')).attempts).toBe(1);
    await q.stop(0);
    server.close();
  });
});
