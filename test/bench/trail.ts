// The trail's cost: SMTP intake (smtplib, one message per transaction, 300 messages) and POP3
// (log in, RETR and DELE every message, QUIT) with the trail on (default) and off
// (--trail-days 0), side by side. Target: at most 5% apart.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, startDaemon, tempDir } from '../helpers/process.js';

const run = promisify(execFile);
const N = 300;

async function once(trailDays: string): Promise<{ smtp: number; pop3: number }> {
  const d = await startDaemon({ dataDir: tempDir('vmail-bench-trail-'), args: ['--trail-days', trailDays] });
  try {
    await d.cli(['accounts', 'add', 'bench', '--password-stdin'], 'password-1\n');
    await d.cli(['pending', 'apply']);
    const stop = join(d.dataDir, 'stop');
    let t = performance.now();
    await run(
      'python3',
      [join(ROOT, 'test/helpers/smtp_loop.py'), String(d.smtpPort), 'b', String(N), stop, 'bench@example.test'],
      { maxBuffer: 1 << 24 },
    );
    const smtp = N / ((performance.now() - t) / 1000);
    t = performance.now();
    await run('python3', [
      join(ROOT, 'test/helpers/pop3_fetch_delete.py'),
      String(d.pop3Port),
      'bench@example.test',
      'password-1',
    ]);
    const pop3 = N / ((performance.now() - t) / 1000);
    return { smtp, pop3 };
  } finally {
    await d.stop();
  }
}

export async function benchTrail(): Promise<void> {
  const off = await once('0');
  const on = await once('30');
  const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)}%`;
  console.log('trail cost (messages/s, higher is better)');
  console.log(`  smtp  off ${off.smtp.toFixed(1)}  on ${on.smtp.toFixed(1)}  on vs off ${pct(on.smtp, off.smtp)}`);
  console.log(`  pop3  off ${off.pop3.toFixed(1)}  on ${on.pop3.toFixed(1)}  on vs off ${pct(on.pop3, off.pop3)}`);
}
