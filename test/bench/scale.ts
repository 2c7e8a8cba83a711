// How vmail's costs grow with the number of accounts: the same measures at 1,000, 10,000 and
// 100,000 accounts (each with mail in its Maildir), printed as one table with how each figure
// grows. `BENCH_SCALE=1000,10000` picks other sizes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonSession, findRow } from '../../screens/shared/daemon-session.js';
import { ControlClient } from '../../src/control/client.js';
import { startDaemon, tempDir } from '../helpers/process.js';
import { keypressRuns, tmuxConsole, until } from './console.js';
import { heading, ms, noteTarget, performance, stats, time } from './lib.js';

const DOMAIN = 'example.test';
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const nameOf = (i: number) => `user${String(i).padStart(6, '0')}`;

/**
 * `count` applied accounts written straight into a stopped daemon's store, each with a Maildir
 * holding two messages (one read, one new); one in ten also holds a message without size tags,
 * as a Maildir brought from another server does.
 */
export async function seedMailboxes(dataDir: string, count: number): Promise<void> {
  const { Store } = await import('../../src/store/store.js');
  const { hashPassword } = await import('../../src/store/passwords.js');
  const store = await Store.open(dataDir);
  await store.addDomain(DOMAIN, Date.now());
  const hash = await hashPassword('bench-password-1');
  const now = Date.now();
  for (let from = 0; from < count; from += 10_000) {
    const set = [];
    for (let i = from; i < Math.min(count, from + 10_000); i++)
      set.push({ name: nameOf(i), domain: DOMAIN, passwordHash: hash, createdAt: now, updatedAt: now });
    await store.commitApplied([], { set, remove: [] }, { set: [], remove: [] }, [], now);
  }
  await store.close();
  const body = `Subject: hello\r\n\r\n${'x'.repeat(1500)}\r\n`;
  const size = Buffer.byteLength(body);
  const t = Math.floor(now / 1000) - 86_400;
  for (let i = 0; i < count; i++) {
    const dir = join(dataDir, 'mail', DOMAIN, nameOf(i));
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, f), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'cur', `${t}.M${i}P1.bench,S=${size},W=${size}:2,S`), body);
    writeFileSync(join(dir, 'new', `${t + 1}.M${i}P2.bench,S=${size},W=${size}`), body);
    if (i % 10 === 0) writeFileSync(join(dir, 'cur', `${t + 2}.M${i}P3.oldhost:2,S`), body);
  }
}

/** CPU time a process has used (user and system), from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime, in clock ticks (100 a second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

interface Row {
  what: string;
  unit: 'ms' | 'MB' | '%';
  /** Its value at each size. */
  values: number[];
  target?: { text: string; met: (v: number) => boolean };
}

/** Flat, linear or worse: the growth from one size to the next against the growth in accounts. */
function growth(sizes: number[], values: number[]): string {
  if (sizes.length < 2) return '';
  const steps: number[] = [];
  for (let i = 1; i < sizes.length; i++) {
    if (!(values[i - 1] > 0) || !(values[i] > 0)) return '';
    // The exponent k in value ~ accounts^k over this step.
    steps.push(Math.log(values[i] / values[i - 1]) / Math.log(sizes[i] / sizes[i - 1]));
  }
  const k = steps[steps.length - 1];
  return k < 0.25 ? 'flat' : k < 0.75 ? 'sublinear' : k < 1.25 ? 'linear' : 'worse than linear';
}

async function measure(count: number): Promise<Record<string, number>> {
  const dataDir = tempDir('vmail-scale-');
  process.stdout.write(`  ${count.toLocaleString('en')} accounts: writing mailboxes...`);
  const [seedMs] = await time(() => seedMailboxes(dataDir, count));
  process.stdout.write(` ${ms(seedMs)}; measuring...\n`);
  const out: Record<string, number> = {};

  // The first start lists every Maildir; later starts read the size index it left.
  let t0 = performance.now();
  let d = await startDaemon({ dataDir, applyInterval: '1h', readyTimeoutMs: 300_000 });
  out.firstReady = performance.now() - t0;
  await d.stop();
  t0 = performance.now();
  d = await startDaemon({ dataDir, applyInterval: '1h' });
  out.ready = performance.now() - t0;
  try {
    const c = await ControlClient.connect(d.socket);
    const list = await c.call('accounts.list');
    if (list.length !== count) throw new Error(`accounts.list gave ${list.length} of ${count}`);
    if (list.some((a) => a.messages < 2)) throw new Error('a mailbox size was not known');
    const whole: number[] = [];
    for (let i = 0; i < 5; i++) whole.push((await time(() => c.call('accounts.list')))[0]);
    out.listWhole = stats(whole).p50;
    const page: number[] = [];
    for (let i = 0; i < 30; i++)
      page.push((await time(() => c.call('accounts.list', { offset: Math.floor(count / 2), limit: 100 })))[0]);
    out.listPage = stats(page).p50;
    await sleep(500);
    out.daemonRss = rssMb(d.proc.pid!);
    // What the daemon costs while nothing happens: the sweeps of folder times (every 30 s).
    const cpu0 = cpuMs(d.proc.pid!);
    await sleep(30_000);
    out.idleCpu = ((cpuMs(d.proc.pid!) - cpu0) / 30_000) * 100;

    // Launch to the first frame (the menu, with the account count) and to the accounts list
    // filled, in a real terminal; the console's memory once it holds every account.
    const launches: number[] = [];
    const filled: number[] = [];
    for (let run = 0; run < 3; run++) {
      const t = tmuxConsole(d.socket);
      const pane = () => execFileSync('tmux', ['capture-pane', '-p', '-t', t.session], { encoding: 'utf8' });
      try {
        await until(() => pane().includes(`POP3 Accounts (${count})`), 'the first frame', 60_000);
        launches.push(performance.now() - t.launchedAt);
        execFileSync('tmux', ['send-keys', '-t', t.session, 'Enter']);
        await until(() => pane().includes(nameOf(0)), 'the accounts list', 60_000);
        filled.push(performance.now() - t.launchedAt);
        if (run === 0) {
          for (let i = 0; i < 20; i++) {
            execFileSync('tmux', ['send-keys', '-t', t.session, 'PageDown']);
            await sleep(20);
          }
          await sleep(500);
          const pid = execFileSync('tmux', ['display', '-p', '-t', t.session, '#{pane_pid}'], { encoding: 'utf8' });
          out.consoleRss = rssMb(Number(pid.trim()));
        }
      } finally {
        execFileSync('tmux', ['kill-session', '-t', t.session]);
      }
    }
    out.launch = stats(launches).p50;
    out.filled = stats(filled).p50;

    const scroll = await keypressRuns(d.socket, count, 'scroll');
    out.scrollP50 = scroll.p50;
    out.scrollP99 = scroll.p99;
    out.scrollCpu = scroll.cpuMsPerKey;
    const filter = await keypressRuns(d.socket, count, 'filter');
    out.filterP50 = filter.p50;
    out.filterP99 = filter.p99;
    out.filterCpu = filter.cpuMsPerKey;

    // One change, from the request to the moment each of three open consoles shows it.
    const consoles = [0, 1, 2].map(() => new DaemonSession(d.socket));
    for (const s of consoles) s.start();
    await until(() => consoles.every((s) => s.snapshot.accounts.length === count), 'three consoles to load', 120_000);
    const notify: number[] = [];
    for (let i = 0; i < 20; i++) {
      const name = nameOf(i * 7);
      const begin = performance.now();
      await c.call('accounts.quota', { name, quota: `${i + 1}M` });
      await until(
        () =>
          consoles.every(
            (s) => s.snapshot.accounts[findRow(s.snapshot.accounts, `${name}@${DOMAIN}`)]?.pending?.action === 'quota',
          ),
        'every console to show the change',
        10_000,
      );
      notify.push(performance.now() - begin);
    }
    out.notify = stats(notify).p50;
    out.notifyMax = Math.max(...notify);
    for (const s of consoles) s.close();
    c.close();
  } finally {
    await d.stop();
  }
  return out;
}

export async function benchScale(): Promise<void> {
  const sizes = (process.env.BENCH_SCALE ?? '1000,10000,100000').split(',').map(Number);
  heading(`How the costs grow with the number of accounts (${sizes.map((s) => s.toLocaleString('en')).join(' / ')})`);
  const results: Record<string, number>[] = [];
  for (const n of sizes) results.push(await measure(n));
  const pick = (k: string) => results.map((r) => r[k]);
  const under = (limit: number) => (v: number) => v < limit;
  const rows: Row[] = [
    { what: 'daemon start to ready, first start', unit: 'ms', values: pick('firstReady') },
    { what: 'daemon start to ready', unit: 'ms', values: pick('ready'), target: { text: '< 2 s', met: under(2000) } },
    { what: 'daemon RSS', unit: 'MB', values: pick('daemonRss'), target: { text: '< 400 MB', met: under(400) } },
    { what: 'daemon CPU while idle (sweeps), % of a core', unit: '%', values: pick('idleCpu') },
    { what: 'accounts.list, whole: p50', unit: 'ms', values: pick('listWhole') },
    { what: 'accounts.list, one page of 100: p50', unit: 'ms', values: pick('listPage') },
    {
      what: 'console launch to first frame (median of 3)',
      unit: 'ms',
      values: pick('launch'),
      target: { text: '< 1 s', met: under(1000) },
    },
    { what: 'console launch to the accounts list shown', unit: 'ms', values: pick('filled') },
    { what: 'keypress to frame, scrolling: p50', unit: 'ms', values: pick('scrollP50') },
    {
      what: 'keypress to frame, scrolling: p99',
      unit: 'ms',
      values: pick('scrollP99'),
      target: { text: '< 16 ms', met: under(16) },
    },
    { what: 'console CPU a key, scrolling', unit: 'ms', values: pick('scrollCpu') },
    { what: 'keypress to frame, filtering: p50', unit: 'ms', values: pick('filterP50') },
    {
      what: 'keypress to frame, filtering: p99',
      unit: 'ms',
      values: pick('filterP99'),
      target: { text: '< 16 ms', met: under(16) },
    },
    { what: 'console CPU a key, filtering', unit: 'ms', values: pick('filterCpu') },
    { what: 'console RSS', unit: 'MB', values: pick('consoleRss'), target: { text: '< 200 MB', met: under(200) } },
    {
      what: 'a change shown on 3 open consoles: p50',
      unit: 'ms',
      values: pick('notify'),
      target: { text: '< 50 ms', met: under(50) },
    },
    { what: 'a change shown on 3 open consoles: slowest of 20', unit: 'ms', values: pick('notifyMax') },
  ];
  const fmt = (r: Row, v: number) =>
    r.unit === 'MB' ? `${v.toFixed(0)} MB` : r.unit === '%' ? `${v.toFixed(1)}%` : ms(v);
  const head = `  ${'measure'.padEnd(50)}${sizes.map((s) => s.toLocaleString('en').padStart(11)).join('')}   grows`;
  process.stdout.write(`${head}\n`);
  for (const r of rows) {
    const last = r.values[r.values.length - 1];
    const target = r.target
      ? `   target ${r.target.text} at the largest: ${r.target.met(last) ? 'met' : 'NOT met'}`
      : '';
    if (r.target)
      noteTarget(`${r.what} at ${sizes[sizes.length - 1].toLocaleString('en')}`, fmt(r, last), {
        text: r.target.text,
        met: r.target.met(last),
      });
    process.stdout.write(
      `  ${r.what.padEnd(50)}${r.values.map((v) => fmt(r, v).padStart(11)).join('')}   ${growth(sizes, r.values).padEnd(18)}${target}\n`,
    );
  }
}
