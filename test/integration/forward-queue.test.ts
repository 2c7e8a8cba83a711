// The forward queue on its own, on a temp spool, with a clock the test moves: the back-off
// schedule and the bounce after five days, against a relay port that refuses connections.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Logger } from '../../src/log.js';
import { ForwardQueue } from '../../src/smtp/forward-queue.js';
import { tempDir, waitFor } from '../helpers/daemon.js';
import { closedPort } from '../helpers/relay.js';

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
