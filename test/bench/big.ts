// Big messages in bounded memory: 30 clients send a 10 MB message each at once, and the
// daemon's peak resident memory (VmHWM) is read before and after. DATA past 256 KiB goes to a
// spool file as it comes, so the growth is far below the 300 MB the messages themselves make.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ControlClient } from '../../src/control/client.js';
import { ROOT, startDaemon, tempDir } from '../helpers/process.js';
import { heading, report, seedAccounts } from './lib.js';

const run = promisify(execFile);

function peakKb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
}

export async function benchBig(): Promise<void> {
  heading('Big messages: 30 concurrent 10 MB messages over SMTP');
  const dataDir = tempDir('vmail-bench-');
  await seedAccounts(dataDir, ['big'], 'bench-password-1', Date.now());
  const d = await startDaemon({ dataDir, args: ['--max-message-size', '25M', '--max-connections-per-address', '40'] });
  try {
    const c = await ControlClient.connect(d.socket);
    await c.call('pending.apply');
    c.close();
    const before = peakKb(d.proc.pid!);
    const t0 = performance.now();
    await run(
      'python3',
      [
        join(ROOT, 'test/helpers/smtp_big.py'),
        String(d.smtpPort),
        'a@example.org',
        'big@example.test',
        '30',
        '10',
        'b',
      ],
      { maxBuffer: 1024 * 1024 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const growth = (peakKb(d.proc.pid!) - before) / 1024;
    report('big messages: 30 x 10 MB peak RSS growth', `${growth.toFixed(0)} MB`, {
      text: '150 MB',
      met: growth < 150,
    });
    report(
      'big messages: 30 x 10 MB delivered in',
      `${seconds.toFixed(1)} s (${((300 / seconds) * 8).toFixed(0)} Mbit/s)`,
    );
  } finally {
    await d.stop();
  }
}
