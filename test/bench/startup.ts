// Issue 30, targets 1 and 3: the daemon's start to ready, and its memory after whole-list
// answers, at 100,000 accounts (`BENCH_STARTUP=N` picks another size). Side by side with
// another build when `BENCH_BASE=/path/to/bin/vmail.js` is given, in alternating turns, so the
// shared machine's load falls on both alike. `BENCH_STARTUP_DIR=DIR` keeps the seeded data dir
// between runs (seeding 100,000 Maildirs takes minutes); `BENCH_CPU_PROF=DIR` writes a CPU
// profile of each start there.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { startDaemon, tempDir, VMAIL } from '../helpers/process.js';
import { heading, ms, performance, report, stats, time } from './lib.js';
import { seedMailboxes } from './scale.js';

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** CPU time a process has used (user and system), from /proc, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

interface Turn {
  ready: number;
  readyCpu: number;
  rssReady: number;
  listWhole: number;
  rssAfterList: number;
}

async function turn(dataDir: string, count: number, vmail: string, profDir?: string): Promise<Turn> {
  const t0 = performance.now();
  const d = await startDaemon({
    dataDir,
    applyInterval: '1h',
    vmail,
    readyTimeoutMs: 120_000,
    nodeArgs: profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
  });
  const ready = performance.now() - t0;
  const pid = d.proc.pid!;
  const readyCpu = cpuMs(pid);
  try {
    await sleep(500);
    const rssReady = rssMb(pid);
    const c = await ControlClient.connect(d.socket);
    const whole: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [t, list] = await time(() => c.call('accounts.list'));
      if (list.length !== count) throw new Error(`accounts.list gave ${list.length} of ${count}`);
      whole.push(t);
    }
    c.close();
    await sleep(500);
    return { ready, readyCpu, rssReady, listWhole: stats(whole).p50, rssAfterList: rssMb(pid) };
  } finally {
    await d.stop();
  }
}

export async function benchStartup(): Promise<void> {
  const count = Number(process.env.BENCH_STARTUP ?? 100_000);
  const turns = Number(process.env.BENCH_TURNS ?? 3);
  const base = process.env.BENCH_BASE;
  heading(`Daemon start and memory at ${count.toLocaleString('en')} accounts (issue 30, targets 1 and 3)`);
  const dataDir = process.env.BENCH_STARTUP_DIR ?? tempDir('vmail-startup-');
  const seeded = join(dataDir, `.bench-seeded-${count}`);
  if (!existsSync(seeded)) {
    mkdirSync(dataDir, { recursive: true });
    process.stdout.write(`  writing ${count.toLocaleString('en')} mailboxes in ${dataDir}...\n`);
    await seedMailboxes(dataDir, count);
    // The first start lists every Maildir; the turns read the size index it left.
    const d = await startDaemon({ dataDir, applyInterval: '1h', readyTimeoutMs: 600_000 });
    await d.stop();
    writeFileSync(seeded, '');
  }
  const builds: [string, string][] = base
    ? [
        ['base', base],
        ['this', VMAIL],
      ]
    : [['this', VMAIL]];
  const results = new Map<string, Turn[]>(builds.map(([name]) => [name, []]));
  for (let i = 0; i < turns; i++)
    for (const [name, vmail] of builds) {
      const prof = process.env.BENCH_CPU_PROF ? join(process.env.BENCH_CPU_PROF, name) : undefined;
      const r = await turn(dataDir, count, vmail, prof);
      results.get(name)!.push(r);
      process.stdout.write(
        `  turn ${i + 1} ${name}: ready ${ms(r.ready)} (cpu ${ms(r.readyCpu)}), RSS ${r.rssReady.toFixed(0)} MB at ready, ` +
          `${r.rssAfterList.toFixed(0)} MB after lists, list p50 ${ms(r.listWhole)}; load ${loadavg()[0].toFixed(2)}\n`,
      );
    }
  const median = (xs: number[]) => stats(xs).p50;
  for (const [name] of builds) {
    const rs = results.get(name)!;
    const pick = (k: keyof Turn) => median(rs.map((r) => r[k]));
    process.stdout.write(`  ${name} (median of ${rs.length} turns):\n`);
    report('daemon start to ready', ms(pick('ready')), { text: '< 2 s', met: pick('ready') < 2000 });
    report('daemon CPU time to ready', ms(pick('readyCpu')));
    report('daemon RSS at ready', `${pick('rssReady').toFixed(0)} MB`);
    report('accounts.list, whole: p50', ms(pick('listWhole')));
    report('daemon RSS after whole-list answers', `${pick('rssAfterList').toFixed(0)} MB`, {
      text: '< 400 MB',
      met: pick('rssAfterList') < 400,
    });
  }
  if (base) {
    const a = results.get('this')!;
    const b = results.get('base')!;
    const ratio = (k: keyof Turn) => median(a.map((r, i) => r[k] / b[i][k]));
    process.stdout.write(
      `  this / base, median of the turns' ratios: ready ${ratio('ready').toFixed(2)}, CPU to ready ${ratio('readyCpu').toFixed(2)}, ` +
        `RSS after lists ${ratio('rssAfterList').toFixed(2)}, list ${ratio('listWhole').toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `  load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
}
