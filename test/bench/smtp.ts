// SMTP delivery throughput (20 KB messages, 1 and 20 concurrent senders) beside this machine's
// ceiling for durable writes on the same disk: the same write, fsync, rename, directory fsync.
import { mkdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { fsyncDir, writeNewFile } from '../../src/maildir/durable.js';
import { startDaemon, tempDir } from '../helpers/process.js';
import { heading, performance, seedAccounts } from './lib.js';

const SIZE = 20 * 1024;

function message(i: number): Buffer {
  const head = `From: a@example.org\r\nTo: b@example.test\r\nSubject: bench ${i}\r\n\r\n`;
  const line = `${'0123456789abcdefghij'.repeat(3)}\r\n`;
  return Buffer.from(head + line.repeat(Math.ceil((SIZE - head.length) / line.length))).subarray(0, SIZE);
}

/** A pipelining SMTP client: MAIL, RCPT and DATA in one write, then the body. */
class BenchSmtp {
  private buf = '';
  private wake: (() => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf += d.toString('latin1');
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<BenchSmtp> {
    const s = await new Promise<Socket>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => resolve(sock));
      sock.once('error', reject);
    });
    const c = new BenchSmtp(s);
    await c.replies(1);
    s.write('EHLO bench\r\n');
    await c.replies(1);
    return c;
  }

  /** Waits for `n` final reply lines (continuation lines `250-` are skipped). */
  private async replies(n: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < n) {
      const nl = this.buf.indexOf('\r\n');
      if (nl < 0) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 2);
      if (!/^\d{3}-/.test(line)) out.push(line);
    }
    return out;
  }

  async send(to: string, data: Buffer): Promise<void> {
    this.socket.write(`MAIL FROM:<a@example.org>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
    const r = await this.replies(3);
    if (!r[2].startsWith('354')) throw new Error(r.join(' / '));
    this.socket.write(Buffer.concat([data, Buffer.from('\r\n.\r\n')]));
    const [done] = await this.replies(1);
    if (!done.startsWith('250')) throw new Error(done);
  }

  close(): void {
    this.socket.end('QUIT\r\n');
  }
}

export async function throughput(port: number, senders: number, perSender: number): Promise<number> {
  const data = message(0);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: senders }, async (_, s) => {
    const c = await BenchSmtp.open(port);
    for (let i = 0; i < perSender; i++) await c.send(`box${s}@example.test`, data);
    c.close();
  }));
  return (senders * perSender) / ((performance.now() - t0) / 1000);
}

/** Durable writes per second on `dir`'s disk, as delivery does them, with `workers` at once. */
async function ceiling(dir: string, workers: number, perWorker: number): Promise<number> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  mkdirSync(join(dir, 'new'), { recursive: true });
  const data = message(0);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < perWorker; i++) {
      // The same calls delivery makes, without SMTP, routing or headers around them.
      const name = `${w}-${i}`;
      await writeNewFile(join(dir, 'tmp', name), data);
      await rename(join(dir, 'tmp', name), join(dir, 'new', name));
      await fsyncDir(join(dir, 'new'));
    }
  }));
  return (workers * perWorker) / ((performance.now() - t0) / 1000);
}

export async function benchSmtp(): Promise<void> {
  heading('SMTP delivery, 20 KB messages, beside the disk\'s durable-write ceiling');
  const dataDir = tempDir('vmail-bench-');
  await seedAccounts(dataDir, Array.from({ length: 20 }, (_, i) => `box${i}`), 'bench-password-1', Date.now());
  const d = await startDaemon({ dataDir });
  const c = await ControlClient.connect(d.socket);
  await c.call('pending.apply');
  c.close();
  try {
    for (const [senders, per] of [[1, 300], [20, 30]] as const) {
      const rate = await throughput(d.smtpPort, senders, per);
      // One Maildir per sender for vmail, so one directory per worker for the ceiling too.
      const roof = await ceiling(join(dataDir, `ceiling-${senders}`), senders, per);
      process.stdout.write(`  ${`${senders} sender${senders > 1 ? 's' : ''}`.padEnd(10)} vmail ${rate.toFixed(0).padStart(6)} msg/s   ceiling ${roof.toFixed(0).padStart(6)} writes/s   ratio ${(rate / roof).toFixed(2)}${senders === 20 ? `   target >= 0.5: ${rate / roof >= 0.5 ? 'met' : 'NOT met'}` : ''}\n`);
    }
  } finally {
    await d.stop();
  }
}
