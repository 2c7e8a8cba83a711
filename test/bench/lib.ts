// Shared pieces of the benchmarks: timing, percentiles, and printing figures against targets.
import { readdirSync, readFileSync } from 'node:fs';
import os, { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

export { performance };

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

export function ms(v: number): string {
  return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`;
}

/** Every figure measured against a target in this run, for the summary `npm run bench` ends with. */
const targets: { what: string; figure: string; target: string; met: boolean }[] = [];

/** Records a figure against its target for the closing summary (report() does it for its lines). */
export function noteTarget(what: string, figure: string, target: { text: string; met: boolean }): void {
  targets.push({ what, figure, target: target.text, met: target.met });
}

/** One result line: what, the figure, and the target with whether it is met. */
export function report(what: string, figure: string, target?: { text: string; met: boolean }): void {
  const t = target ? `   target ${target.text}: ${target.met ? 'met' : 'NOT met'}` : '';
  if (target) noteTarget(what, figure, target);
  process.stdout.write(`  ${what.padEnd(58)} ${figure.padStart(14)}${t}\n`);
}

/** The closing summary: each target of this run, its figure and whether it was met. */
export function printTargets(): void {
  if (targets.length === 0) return;
  heading('Targets in this run');
  const width = Math.max(...targets.map((t) => t.what.length));
  for (const t of targets)
    process.stdout.write(
      `  ${t.what.padEnd(width)} ${t.figure.padStart(10)}   ${t.target}: ${t.met ? 'met' : 'NOT met'}\n`,
    );
}

/** The machine the figures were taken on, printed first: a figure means little without it. */
export function machine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.versions.node}, ${os.platform()} ${os.release()}; load average ${load}`;
}

export function heading(text: string): void {
  process.stdout.write(`\n${text}\n`);
}

export { seedAccounts } from '../helpers/seed.js';

/** The kernel's clock ticks per second, in which /proc/PID/stat counts (100 on Linux's every port). */
const CLOCK_TICKS = 100;

/**
 * CPU time (s) a process has used, with that of its children it has waited for: utime, stime,
 * cutime and cstime from /proc/PID/stat. Far less moved by other work on a shared machine than
 * wall time.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces), from field 3 (state) on.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}

/**
 * CPU time (s) a running process's threads have used, from the scheduler's own count in
 * nanoseconds (/proc/PID/task/TID/schedstat): for a phase too short for cpuSeconds, whose 10 ms
 * ticks make a 60 ms phase anything from 50 to 70 ms. A thread that has ended is not in it (the
 * daemon's threads, the event loop's and the thread pool's, last as long as it does).
 */
export function threadCpuSeconds(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9;
}

/** The 1, 5 and 15 minute load averages, as `uptime` shows them. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

/**
 * CPU time (s) of a server made of processes (Postfix's or Dovecot's master and what it forks):
 * the master's, with its reaped children's, and that of each child still running, recursively.
 */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  try {
    total = cpuSeconds(pid);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const kid of kids ? kids.split(' ') : []) total += treeCpuSeconds(Number(kid));
    }
  } catch {
    // The process ended between the listing and the read: its time is now in its parent's cutime.
  }
  return total;
}
