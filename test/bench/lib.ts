// Shared pieces of the benchmarks: timing, percentiles, and printing figures against targets.
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

/** One result line: what, the figure, and the target with whether it is met. */
export function report(what: string, figure: string, target?: { text: string; met: boolean }): void {
  const t = target ? `   target ${target.text}: ${target.met ? 'met' : 'NOT met'}` : '';
  process.stdout.write(`  ${what.padEnd(58)} ${figure.padStart(14)}${t}\n`);
}

export function heading(text: string): void {
  process.stdout.write(`\n${text}\n`);
}

export { seedAccounts } from '../helpers/seed.js';
