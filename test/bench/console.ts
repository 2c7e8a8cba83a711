// The console with 10,000 and with 100,000 accounts: time from launch to the first full frame
// (the real `vmail console` in tmux), time from a keypress to the next frame while scrolling and
// while filtering (Ink's real render path in this process), and the console process's memory.
// `BENCH_CONSOLE=10000` picks other sizes.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { PassThrough, Writable } from 'node:stream';
import { render } from 'ink';
import React from 'react';
import { App } from '../../screens/app/app.js';
import { RENDER_OPTIONS } from '../../screens/run.js';
import { DaemonSession } from '../../screens/shared/daemon-session.js';
import { shareFrameCaches } from '../../screens/shared/frame-caches.js';
import { gatedStdin } from '../../screens/shared/key-gate.js';
import { ControlClient } from '../../src/control/client.js';
import { startDaemon, tempDir, VMAIL } from '../helpers/process.js';
import { tmux } from '../helpers/tmux.js';
import { heading, ms, performance, report, seedAccounts, stats } from './lib.js';

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

// `vmail console` runs bundled, where Ink's frames share their caches (screens/bundle.ts): the
// Ink loaded here, unbundled, is given the same call, so the keys below cost what they cost there.
const inkOutput = await import(new URL('./output.js', import.meta.resolve('ink')).href);
shareFrameCaches(inkOutput.default);

/** A terminal for Ink in this process: stdout that notes when each frame is written. */
export function fakeTerminal(columns: number, rows: number) {
  const frames: { at: number; text: string }[] = [];
  const stdout = new Writable({
    write(chunk, _enc, cb) {
      frames.push({ at: performance.now(), text: chunk.toString() });
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stdout, { isTTY: true, columns, rows });
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream;
  Object.assign(stdin, { isTTY: true, setRawMode: () => stdin, ref: () => stdin, unref: () => stdin });
  return { stdout, stdin, frames };
}

export async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** The console as `vmail console` runs it, on a fake terminal: keys go through the key gate. */
export function mount(socket: string, term: ReturnType<typeof fakeTerminal>) {
  const session = new DaemonSession(socket);
  session.start();
  const { stdin, gate } = gatedStdin(term.stdin);
  const ink = render(React.createElement(App, { session, gate }), {
    ...RENDER_OPTIONS,
    patchConsole: false,
    stdout: term.stdout,
    stdin,
  });
  return { session, ink, gate };
}

/** Keys in one run of the keypress bench, and runs: p99 of 300 keys moved by 10 ms run to run here. */
const KEYS = Number(process.env.BENCH_KEYS ?? 1000);
const KEY_RUNS = Number(process.env.BENCH_KEY_RUNS ?? 3);

/** One run's keypress figures: each key's time to its frame, and the CPU this process spent a key. */
export interface KeypressRun {
  samples: number[];
  cpuMsPerKey: number;
}

/**
 * Keypress to frame on POP3 Accounts: `j` and PageDown while scrolling, or, with `filter`,
 * letters typed into the filter field (each one filters every account again). With
 * BENCH_CPU_PROF=DIR the keys' CPU profile is written there (`node --cpu-prof` would profile the
 * seeding and loading as well).
 */
export async function keypressLatency(
  socket: string,
  accounts: number,
  mode: 'scroll' | 'filter' = 'scroll',
  keys = KEYS,
): Promise<KeypressRun> {
  const term = fakeTerminal(100, 30);
  const { session, ink, gate } = mount(socket, term);
  await until(() => session.snapshot.accounts.length === accounts, 'the accounts to load', 120_000);
  await until(() => term.frames.some((f) => f.text.includes('POP3 Accounts')), 'the menu');
  term.stdin.write('\r');
  await until(() => term.frames.some((f) => f.text.includes('Add a POP3 account')), 'the accounts screen');
  await sleep(100);
  if (mode === 'filter') {
    term.stdin.write('f');
    await until(() => gate.idle, 'the filter field');
    await sleep(100);
  }
  const profile = process.env.BENCH_CPU_PROF ? await startProfile() : null;
  // Typed and erased in turn: user0, user01, ... then back, so each key filters again.
  const typed = 'user01234';
  const samples: number[] = [];
  let cpu = 0;
  for (let i = 0; i < keys; i++) {
    const before = term.frames.length;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const step = i % (2 * typed.length);
    if (mode === 'filter') term.stdin.write(step < typed.length ? typed[step] : '\u007f');
    else term.stdin.write(i % 50 === 49 ? '\u001b[6~' : 'j');
    await until(() => term.frames.length > before, 'a frame after the key', 5000);
    samples.push(term.frames[before].at - t0);
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1000;
    // Keys a little slower than Ink's frame limit, like a held-down key.
    await sleep(40);
  }
  if (profile) await profile.stop(`${process.env.BENCH_CPU_PROF}/console-${mode}-${accounts}-${Date.now()}.cpuprofile`);
  ink.unmount();
  session.close();
  return { samples, cpuMsPerKey: cpu / keys };
}

/** The CPU profile of this process from now until stop (node:inspector, as --cpu-prof writes it). */
async function startProfile() {
  const { Session } = await import('node:inspector/promises');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 200 });
  await s.post('Profiler.start');
  return {
    async stop(file: string) {
      const { profile } = await s.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      s.disconnect();
    },
  };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/**
 * Several runs of the keypress bench: the median over the runs of each run's p50 and p99 (and of
 * its CPU a key), with each run's p99 to show how far they move.
 */
export async function keypressRuns(
  socket: string,
  accounts: number,
  mode: 'scroll' | 'filter',
): Promise<{ p50: number; p99: number; cpuMsPerKey: number; p99s: number[] }> {
  const runs: { p50: number; p99: number; cpuMsPerKey: number }[] = [];
  for (let r = 0; r < KEY_RUNS; r++) {
    const run = await keypressLatency(socket, accounts, mode);
    runs.push({ ...stats(run.samples), cpuMsPerKey: run.cpuMsPerKey });
  }
  return {
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuMsPerKey: median(runs.map((r) => r.cpuMsPerKey)),
    p99s: runs.map((r) => r.p99),
  };
}

/** A 200-character paste into the destinations field: from the write to the frame that shows it whole. */
async function pasteLatency(socket: string): Promise<number[]> {
  const term = fakeTerminal(300, 30);
  const { session, ink, gate } = mount(socket, term);
  await until(() => term.frames.some((f) => f.text.includes('POP3 Accounts')), 'the menu');
  term.stdin.write('2');
  await until(() => term.frames.some((f) => f.text.includes('Add a forwarding address')), 'the forwards screen');
  term.stdin.write('a');
  await until(() => gate.idle, 'the form');
  term.stdin.write('\t');
  await until(() => gate.idle, 'the destinations field');
  const samples: number[] = [];
  for (let i = 0; i < 40; i++) {
    const paste = Array.from({ length: 8 }, (_, k) => `paste${i}-${k}@destination.example.org`)
      .join(', ')
      .slice(0, 200);
    const before = term.frames.length;
    const t0 = performance.now();
    term.stdin.write(paste);
    const tail = paste.slice(-30);
    await until(() => term.frames.slice(before).some((f) => f.text.includes(tail)), 'the pasted text', 5000);
    samples.push(term.frames.slice(before).find((f) => f.text.includes(tail))!.at - t0);
    term.stdin.write('\u0015');
    await until(() => gate.idle, 'the field to clear');
    await sleep(20);
  }
  ink.unmount();
  session.close();
  return samples.slice(5);
}

export function tmuxConsole(socket: string): { session: string; launchedAt: number } {
  const session = `vmail-bench-${process.pid}`;
  const launchedAt = performance.now();
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '100',
    '-y',
    '30',
    `exec ${process.execPath} ${VMAIL} console --socket ${socket}`,
  );
  return { session, launchedAt };
}

export async function benchConsole(): Promise<void> {
  const sizes = (process.env.BENCH_CONSOLE ?? '10000,100000').split(',').map(Number);
  for (const accounts of sizes) await benchConsoleAt(accounts);
}

/** Every wait below is bounded; the bigger store gets longer bounds, not unbounded ones. */
async function benchConsoleAt(accounts: number): Promise<void> {
  const n = accounts.toLocaleString('en');
  const slow = Math.max(1, accounts / 10_000);
  heading(`The console with ${n} accounts`);
  const dataDir = tempDir('vmail-bench-');
  await seedAccounts(
    dataDir,
    Array.from({ length: accounts }, (_, i) => `user${String(i).padStart(6, '0')}`),
  );
  const d = await startDaemon({ dataDir, applyInterval: '1h', readyTimeoutMs: 20_000 * slow });
  const c = await ControlClient.connect(d.socket);
  await c.call('pending.apply');
  c.close();
  try {
    // Launch to first full frame: the main menu with the account count, in a real terminal.
    const launches: number[] = [];
    let rssMb = NaN;
    for (let run = 0; run < 3; run++) {
      const t = tmuxConsole(d.socket);
      try {
        await until(
          () =>
            execFileSync('tmux', ['capture-pane', '-p', '-t', t.session], { encoding: 'utf8' }).includes(
              `POP3 Accounts (${accounts})`,
            ),
          'the first full frame',
          20_000 * slow,
        );
        launches.push(performance.now() - t.launchedAt);
        if (run === 0) {
          execFileSync('tmux', ['send-keys', '-t', t.session, 'Enter']);
          await sleep(1000 * slow);
          for (let i = 0; i < 20; i++) {
            execFileSync('tmux', ['send-keys', '-t', t.session, 'PageDown']);
            await sleep(20);
          }
          await sleep(500);
          const pid = execFileSync('tmux', ['display', '-p', '-t', t.session, '#{pane_pid}'], {
            encoding: 'utf8',
          }).trim();
          rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
        }
      } finally {
        execFileSync('tmux', ['kill-session', '-t', t.session]);
      }
    }
    report('launch to the first full frame (menu with counts), median of 3', ms(stats(launches).p50));
    const runs = `${KEYS} keys, median of ${KEY_RUNS} runs`;
    const load = () => `load ${loadavg()[0].toFixed(2)}`;
    for (const mode of ['scroll', 'filter'] as const) {
      const lat = await keypressRuns(d.socket, accounts, mode);
      const doing = mode === 'scroll' ? 'scrolling' : 'filtering';
      report(`keypress to next frame, ${doing} ${n} accounts: p50`, ms(lat.p50));
      report(`keypress to next frame, ${doing} ${n} accounts: p99`, ms(lat.p99), {
        text: '< 16 ms',
        met: lat.p99 < 16,
      });
      report(`  (${runs}; each run's p99: ${lat.p99s.map((v) => v.toFixed(1)).join(', ')}; ${load()})`, '');
      report(`console CPU a key, ${doing} ${n} accounts (median of runs)`, ms(lat.cpuMsPerKey));
    }
    const memory = accounts > 10_000 ? 200 : 150;
    report(`console memory (RSS) with ${n} accounts`, `${rssMb.toFixed(0)} MB`, {
      text: `< ${memory} MB`,
      met: rssMb < memory,
    });
    const paste = stats(await pasteLatency(d.socket));
    report('a 200-character paste into a field, to its frame: p50', ms(paste.p50));
    report('a 200-character paste into a field, to its frame: p99', ms(paste.p99));
  } finally {
    await d.stop();
  }
}
