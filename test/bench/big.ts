// Big messages (issue 30 target 6). Memory: 30 clients send a 10 MB message each at once, and
// the daemon's peak resident memory (VmHWM, reset to the current RSS just before through
// /proc/PID/clear_refs) is compared with its RSS before: DATA past 256 KiB goes to a spool file
// as it comes, so the growth stays far below the 300 MB the messages make. Target: <= 150 MB.
// Throughput: 25 MB messages, 5 at once, vmail beside a real Postfix 3 delivering to Maildirs
// through virtual(8), from the first MAIL to the last file in new/, in alternating turns (the
// machine is shared: the median of the turns' ratios decides), with each server's CPU time.
// Target: vmail at least Postfix's throughput.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ControlClient } from '../../src/control/client.js';
import { postfixMissing, startPostfix } from '../helpers/postfix.js';
import { ROOT, startDaemon, tempDir } from '../helpers/process.js';
import { closedPort } from '../helpers/relay.js';
import { cpuSeconds, heading, loadAverage, percentile, report, seedAccounts, treeCpuSeconds } from './lib.js';

const run = promisify(execFile);
/** Measured turns per server for the 25 MB rows (VMAIL_BENCH_TURNS overrides). */
const TURNS = Number(process.env.VMAIL_BENCH_TURNS) || 5;
const BIG_AT_ONCE = 5;

function memoryKb(pid: number, key: 'VmHWM' | 'VmRSS'): number {
  return Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** `n` messages of `mb` MB sent at once to `port` with smtplib; throws unless every one got 250. */
async function sendBig(port: number, n: number, mb: number, tag: string): Promise<void> {
  const out = await run(
    'python3',
    [
      join(ROOT, 'test/helpers/smtp_big.py'),
      String(port),
      'a@example.org',
      'big@example.test',
      String(n),
      String(mb),
      tag,
    ],
    { maxBuffer: 1024 * 1024 },
  );
  const codes = JSON.parse(out.stdout) as (number | null)[];
  if (!codes.every((c) => c === 250)) throw new Error(`big messages to port ${port}: answers ${out.stdout.trim()}`);
}

/** Waits until `dir` holds `n` files (bounded: 10 minutes), then empties it for the next turn. */
async function landed(dir: string, n: number, why: () => string): Promise<void> {
  const t0 = performance.now();
  // Postfix's virtual(8) makes the Maildir at its first delivery: none yet counts as none landed.
  const count = () => (existsSync(dir) ? readdirSync(dir).length : 0);
  while (count() < n) {
    if (performance.now() - t0 > 600_000) throw new Error(`only ${count()} of ${n} in ${dir}\n${why()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const f of readdirSync(dir)) rmSync(join(dir, f));
}

export async function benchBig(): Promise<void> {
  heading(`Big messages (issue 30 target 6); load ${loadAverage()}`);
  const dataDir = tempDir('vmail-bench-');
  await seedAccounts(dataDir, ['big'], 'bench-password-1', Date.now());
  const d = await startDaemon({ dataDir, args: ['--max-message-size', '30M', '--max-connections-per-address', '40'] });
  const vmailNew = join(dataDir, 'mail/example.test/big/new');
  try {
    const c = await ControlClient.connect(d.socket);
    await c.call('pending.apply');
    c.close();
    const pid = d.proc.pid!;
    // 5: the peak (VmHWM) starts again from the current RSS, so the start's own peak is not counted.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const before = memoryKb(pid, 'VmRSS');
    const t0 = performance.now();
    await sendBig(d.smtpPort, 30, 10, 'b');
    await landed(vmailNew, 30, () => d.output().slice(-1500));
    const seconds = (performance.now() - t0) / 1000;
    const growth = (memoryKb(pid, 'VmHWM') - before) / 1024;
    report('30 x 10 MB at once: peak RSS growth', `${growth.toFixed(0)} MB`, { text: '<= 150 MB', met: growth <= 150 });
    report('30 x 10 MB at once: delivered in', `${seconds.toFixed(1)} s (${((300 / seconds) * 8).toFixed(0)} Mbit/s)`);
    await besidePostfix(d.smtpPort, pid, vmailNew, () => d.output().slice(-1500));
  } finally {
    await d.stop();
  }
}

async function besidePostfix(vmailPort: number, vmailPid: number, vmailNew: string, vmailLog: () => string) {
  const why = postfixMissing();
  if (why) throw new Error(`the big-message bench needs Postfix: ${why}`);
  const pf = startPostfix({
    address: '127.0.0.1',
    port: await closedPort(),
    boxes: ['big'],
    messageSizeLimit: 30 * 1024 * 1024,
  });
  const servers = [
    { name: 'vmail', port: vmailPort, pid: () => vmailPid, cpu: cpuSeconds, dir: vmailNew, log: vmailLog },
    {
      name: 'postfix',
      port: pf.port,
      pid: pf.pid,
      cpu: treeCpuSeconds,
      dir: join(pf.maildir('big'), 'new'),
      log: pf.logTail,
    },
  ];
  const got = new Map(servers.map((s) => [s.name, [] as { wall: number; cpu: number }[]]));
  try {
    // Turn 0 is unmeasured: Postfix starts its smtpd, cleanup and virtual; vmail's JIT compiles.
    for (let turn = 0; turn <= TURNS; turn++) {
      for (const s of turn % 2 ? [...servers].reverse() : servers) {
        const c0 = s.cpu(s.pid());
        const t0 = performance.now();
        await sendBig(s.port, BIG_AT_ONCE, 25, `t${turn}`);
        await landed(s.dir, BIG_AT_ONCE, s.log);
        const f = { wall: (performance.now() - t0) / 1000, cpu: s.cpu(s.pid()) - c0 };
        if (turn > 0) got.get(s.name)!.push(f);
      }
    }
  } finally {
    pf.stop();
  }
  const v = got.get('vmail')!;
  const p = got.get('postfix')!;
  const med = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  const mbps = (fs: { wall: number }[]) => med(fs.map((f) => (BIG_AT_ONCE * 25) / f.wall));
  // Throughput ratio per turn: Postfix's time over vmail's (above 1: vmail is faster).
  const ratios = v.map((f, i) => p[i].wall / f.wall);
  const r = med(ratios);
  report(
    `25 MB x ${BIG_AT_ONCE} at once, MB/s to new/ (median of ${TURNS} turns)`,
    `vmail ${mbps(v).toFixed(1)}  Postfix ${mbps(p).toFixed(1)}`,
  );
  report(
    '25 MB: vmail/Postfix throughput, median of turns',
    `${r.toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
    { text: '>= 1.00', met: r >= 1 },
  );
  const cpuPerMsg = (fs: { cpu: number }[]) => `${((med(fs.map((f) => f.cpu)) / BIG_AT_ONCE) * 1000).toFixed(0)} ms`;
  report('25 MB: CPU per message (vmail; Postfix, all processes)', `vmail ${cpuPerMsg(v)}  Postfix ${cpuPerMsg(p)}`);
  process.stdout.write(`  (load average at the end: ${loadAverage()})\n`);
}
