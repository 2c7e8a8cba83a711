// The console with 10,000 and with 100,000 accounts: time from launch to the first full frame
// (the real `vmail console` in tmux), time from a keypress to the next frame while scrolling and
// while filtering (Ink's real render path in this process), and the console process's memory.
// `BENCH_CONSOLE=10000` picks other sizes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { render } from 'ink';
import React from 'react';
import { App } from '../../screens/app/app.js';
import { RENDER_OPTIONS } from '../../screens/run.js';
import { DaemonSession } from '../../screens/shared/daemon-session.js';
import { gatedStdin } from '../../screens/shared/key-gate.js';
import { ControlClient } from '../../src/control/client.js';
import { startDaemon, tempDir, VMAIL } from '../helpers/process.js';
import { heading, ms, performance, report, seedAccounts, stats } from './lib.js';

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

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

/**
 * Keypress to frame on POP3 Accounts: `j` and PageDown while scrolling, or, with `filter`,
 * letters typed into the filter field (each one filters every account again).
 */
export async function keypressLatency(
  socket: string,
  accounts: number,
  mode: 'scroll' | 'filter' = 'scroll',
): Promise<number[]> {
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
  // Typed and erased in turn: user0, user01, ... then back, so each key filters again.
  const typed = 'user01234';
  const samples: number[] = [];
  for (let i = 0; i < 300; i++) {
    const before = term.frames.length;
    const t0 = performance.now();
    const step = i % (2 * typed.length);
    if (mode === 'filter') term.stdin.write(step < typed.length ? typed[step] : '\u007f');
    else term.stdin.write(i % 50 === 49 ? '\u001b[6~' : 'j');
    await until(() => term.frames.length > before, 'a frame after the key', 5000);
    samples.push(term.frames[before].at - t0);
    // Keys a little slower than Ink's frame limit, like a held-down key.
    await sleep(40);
  }
  ink.unmount();
  session.close();
  return samples;
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
  execFileSync('tmux', [
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '100',
    '-y',
    '30',
    `exec ${process.execPath} ${VMAIL} console --socket ${socket}`,
  ]);
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
    const lat = stats(await keypressLatency(d.socket, accounts));
    report(`keypress to next frame, scrolling ${n} accounts: p50`, ms(lat.p50));
    report(`keypress to next frame, scrolling ${n} accounts: p99`, ms(lat.p99), {
      text: '< 16 ms',
      met: lat.p99 < 16,
    });
    const filter = stats(await keypressLatency(d.socket, accounts, 'filter'));
    report(`keypress to next frame, filtering ${n} accounts: p50`, ms(filter.p50));
    report(`keypress to next frame, filtering ${n} accounts: p99`, ms(filter.p99), {
      text: '< 16 ms',
      met: filter.p99 < 16,
    });
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
