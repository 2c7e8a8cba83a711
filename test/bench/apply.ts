// Issue 30 item 7: 10,000 queued account adds applied (Maildirs made, rows committed) in a
// daemon that already holds 100,000 accounts, on SQLite and on PostgreSQL (a real server of
// its own, fsync on, as SQLite's synchronous=FULL). The daemon makes the queued adds' Maildirs
// ahead first (work-folders.ts), as it does while adds wait for the hour; a build without that
// (BENCH_APPLY_VMAIL) is not waited for. `BENCH_APPLY_STORES=sqlite` runs one
// store only; `BENCH_APPLY_VMAIL=PATH` runs another build's bin/vmail.js (the figures before a change);
// `BENCH_APPLY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"` gives node flags to the measured daemon;
// `BENCH_APPLY_DIR=DIR` keeps the seeded SQLite data in DIR and copies it for each later run
// (seeding 100,000 Maildirs takes minutes; the copy is applied, DIR stays as seeded).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { ensurePostgres, startPostgres } from '../helpers/postgres.js';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/process.js';
import { cpuSeconds, heading, loadAverage, ms, performance, report, time } from './lib.js';

const DOMAIN = 'example.test';
/** The adds applied right after start, in a domain of their own (pending.apply takes one domain). */
const FRESH = 'fresh.test';
/** `BENCH_APPLY_HELD=N`: fewer accounts held, for a quick profile (the figures are at 100,000). */
const HELD = Number(process.env.BENCH_APPLY_HELD ?? 100_000);
const ADDS = 10_000;
const nameOf = (i: number) => `user${String(i).padStart(6, '0')}`;

/** HELD applied accounts (each with its Maildir) and ADDS queued adds, due a day after the next hour. */
async function seed(dataDir: string, url?: string): Promise<void> {
  const { Store } = await import('../../src/store/store.js');
  const { hashPassword } = await import('../../src/store/passwords.js');
  const { nextApplyAt } = await import('../../src/model/schedule.js');
  const { parseStoreLocation } = await import('../../src/store/location.js');
  const store = await Store.open(dataDir, parseStoreLocation(url ?? null, dataDir), 'seed');
  await store.addDomain(DOMAIN, Date.now());
  await store.addDomain(FRESH, Date.now());
  const hash = await hashPassword('bench-password-1');
  const now = Date.now();
  for (let from = 0; from < HELD; from += 10_000) {
    const set = [];
    for (let i = from; i < Math.min(HELD, from + 10_000); i++)
      set.push({ name: nameOf(i), domain: DOMAIN, passwordHash: hash, createdAt: now, updatedAt: now });
    await store.commitApplied([], { set, remove: [] }, { set: [], remove: [] }, [], now);
  }
  await store.queueMany(
    Array.from({ length: 2 * ADDS }, (_, i) => ({
      id: String(i + 1),
      seq: i + 1,
      domain: i < ADDS ? DOMAIN : FRESH,
      kind: 'account' as const,
      action: 'add' as const,
      name: nameOf(HELD + (i % ADDS)),
      requestedAt: now,
      // A day ahead: a seed that runs past the top of the hour must not have the first start apply them.
      appliesAt: nextApplyAt(now, 3_600_000) + 86_400_000,
      passwordHash: hash,
    })),
  );
  await store.close();
  mkdirSync(join(dataDir, 'mail', DOMAIN), { recursive: true, mode: 0o750 });
  mkdirSync(join(dataDir, 'mail', FRESH), { recursive: true, mode: 0o750 });
  for (let i = 0; i < HELD; i++) {
    const dir = join(dataDir, 'mail', DOMAIN, nameOf(i));
    mkdirSync(dir, { mode: 0o700 });
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, f), { mode: 0o700 });
  }
}

/** Applies one domain's queued adds and checks their effect; the time the apply took, and the daemon's CPU time. */
async function applyDomain(d: DaemonHandle, domain: string): Promise<Applied> {
  const c = await ControlClient.connect(d.socket);
  try {
    const cpu0 = cpuSeconds(d.proc.pid!);
    const [wall, result] = await time(() => c.call('pending.apply', { domain }));
    const cpu = (cpuSeconds(d.proc.pid!) - cpu0) * 1000;
    const load = loadAverage();
    // The daemon's own time for it, from the lock taken to the result made (its log says).
    const inside = new RegExp(`apply done .*domain=${domain.replace('.', '\\.')} .*took_ms=(\\d+)`).exec(d.output());
    const took = inside ? Number(inside[1]) : null;
    if (result.applied.length !== ADDS) throw new Error(`applied ${result.applied.length} of ${ADDS} in ${domain}`);
    for (const i of [0, ADDS / 2, ADDS - 1])
      for (const f of ['tmp', 'new', 'cur'])
        if (!existsSync(join(d.dataDir, 'mail', domain, nameOf(HELD + i), f)))
          throw new Error(`no Maildir for ${nameOf(HELD + i)}@${domain} after the apply`);
    const left = (await c.call('pending.list')).filter((p) => p.domain === domain);
    if (left.length) throw new Error(`${left.length} changes still pending in ${domain} after the apply`);
    return { wall, cpu, load, took };
  } finally {
    c.close();
  }
}

/**
 * Waits for the daemon's first sweep of every Maildir to end (an hourly apply runs long after
 * it). A build without the 'mailbox index swept' line (BENCH_APPLY_VMAIL) is given as long as
 * the sweep's pace (1,000 Maildirs a second) takes, and half a minute more.
 */
async function sweptFirst(d: DaemonHandle): Promise<number> {
  const t0 = performance.now();
  const paced = HELD + 2 * ADDS + 30_000;
  await waitFor(
    () =>
      d.output().includes('mailbox index swept') || (process.env.BENCH_APPLY_VMAIL && performance.now() - t0 > paced),
    'the first sweep',
    10 * paced,
  );
  return performance.now() - t0;
}

/**
 * Waits for the daemon to make the queued adds' Maildirs ahead (work-folders.ts), as it does
 * while adds wait for the hour; what its log says of it. A build without staging
 * (BENCH_APPLY_VMAIL before it) is not waited for.
 */
async function stagedFirst(d: DaemonHandle): Promise<string> {
  const line = () => /adds staged adds=(\d+) took_ms=(\d+)/.exec(d.output());
  if (!process.env.BENCH_APPLY_VMAIL) await waitFor(() => line() !== null, 'the queued adds staged', 300_000);
  const m = line();
  return m ? `${Number(m[1]).toLocaleString('en')} adds in ${ms(Number(m[2]))}` : 'not staged (a build before staging)';
}

/** Seeds a store, starts a daemon on it, and times the apply of the queued adds; checks their effect. */
type Applied = { wall: number; cpu: number; load: string; took: number | null };

type Figures = { apply: Applied; swept: Applied; sweep: number; ready: number; staged: string };

async function applyOn(url?: string): Promise<Figures> {
  const dataDir = tempDir('vmail-bench-apply-');
  const kept = process.env.BENCH_APPLY_DIR && !url ? join(process.env.BENCH_APPLY_DIR, `held-${HELD}`) : null;
  if (kept && existsSync(join(kept, 'seeded'))) execFileSync('cp', ['-a', `${kept}/.`, dataDir]);
  else await seed(dataDir, url);
  const args = url ? ['--store', url, '--node', 'one', '--watch-limit', '0'] : [];
  const start = (nodeArgs: string[] = []) =>
    startDaemon({
      nodeArgs,
      dataDir,
      applyInterval: '1h',
      readyTimeoutMs: 300_000,
      args,
      vmail: process.env.BENCH_APPLY_VMAIL,
      ...(url ? { socket: join(tempDir(), 'one.sock') } : {}),
    });
  // The first start lists every Maildir; the one measured reads the size index it left.
  let d: DaemonHandle = await start();
  await d.stop();
  if (kept && !existsSync(join(kept, 'seeded'))) {
    mkdirSync(kept, { recursive: true });
    execFileSync('cp', ['-a', `${dataDir}/.`, kept]);
    execFileSync('touch', [join(kept, 'seeded')]);
  }
  const t0 = performance.now();
  d = await start(process.env.BENCH_APPLY_NODE_ARGS?.split(' ').filter(Boolean));
  const ready = performance.now() - t0;
  try {
    const staged = await stagedFirst(d);
    const apply = await applyDomain(d, FRESH);
    const sweep = await sweptFirst(d);
    const swept = await applyDomain(d, DOMAIN);
    return { apply, swept, sweep, ready, staged };
  } finally {
    await d.stop();
  }
}

export async function benchApply(): Promise<void> {
  heading(
    `Apply at scale: ${ADDS.toLocaleString('en')} queued account adds in a daemon holding ${HELD.toLocaleString('en')} accounts`,
  );
  const stores = (process.env.BENCH_APPLY_STORES ?? 'sqlite,postgres').split(',');
  if (stores.includes('sqlite')) {
    const r = await applyOn();
    figures('SQLite', r);
  }
  if (stores.includes('postgres')) {
    const missing = ensurePostgres();
    if (missing) throw new Error(missing);
    const pg = await startPostgres({ fsync: true });
    try {
      figures('PostgreSQL', await applyOn(await pg.database('benchapply')));
    } finally {
      pg.stop();
    }
  }
}

/** One store's figures: wall time with the daemon's CPU time and the load average beside it. */
function figures(store: string, r: Figures): void {
  const adds = ADDS.toLocaleString('en');
  const cpu = (a: Applied) =>
    `(${a.took === null ? '' : `in the daemon ${ms(a.took)}, `}daemon CPU ${ms(a.cpu)}, load ${a.load})`;
  report(`${store}: daemon start to ready`, ms(r.ready));
  report(`${store}: queued adds made ahead (after ready, before the hour)`, r.staged);
  report(`${store}: first sweep ended, after the first apply`, ms(r.sweep));
  report(`${store}: apply ${adds} adds right after start (own domain)`, `${ms(r.apply.wall)} ${cpu(r.apply)}`);
  report(`${store}: apply ${adds} adds after the first sweep (Maildirs included)`, ms(r.swept.wall), {
    text: '< 2 s',
    met: r.swept.wall < 2000,
  });
  report(`${store}: that apply's daemon CPU time`, `${ms(r.swept.cpu)}, load ${r.swept.load}`);
  if (r.swept.took !== null) report(`${store}: that apply in the daemon (its log's took_ms)`, ms(r.swept.took));
}
