// Several daemons on one PostgreSQL store, beside one daemon on SQLite, on this machine:
// listing 10,000 accounts, a POP3 login, applying 10,000 changes; how long a change takes to
// reach the other daemons; and SMTP with 20 senders over three daemons against one.
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { RawPop3 } from '../helpers/pop3.js';
import { ensurePostgres, startPostgres } from '../helpers/postgres.js';
import { type DaemonHandle, startDaemon, tempDir } from '../helpers/process.js';
import { heading, ms, performance, report, seedAccounts, stats, time } from './lib.js';
import { daemonWithBoxes, throughput } from './smtp.js';

const ACCOUNTS = 10_000;
const PASSWORD = 'bench-password-1';

/** Apply, list and login figures for one store. */
async function storeFigures(url?: string): Promise<{ apply: number; list: number; login: number }> {
  const dataDir = tempDir('vmail-bench-');
  const names = Array.from({ length: ACCOUNTS }, (_, i) => `user${String(i).padStart(5, '0')}`);
  // Due at the next hour: the apply measured is the one asked for, not the start's.
  await seedAccounts(dataDir, names, PASSWORD, undefined, url);
  const d = await onStore(dataDir, url, 'one');
  const c = await ControlClient.connect(d.socket);
  const [apply] = await time(() => c.call('pending.apply'));
  const lists: number[] = [];
  for (let i = 0; i < 20; i++) lists.push((await time(() => c.call('accounts.list')))[0]);
  const logins: number[] = [];
  for (let i = 0; i < 30; i++) {
    const s = await RawPop3.open(d.pop3Port);
    const t0 = performance.now();
    await s.login(`user${String(i * 7).padStart(5, '0')}@example.test`, PASSWORD);
    logins.push(performance.now() - t0);
    await s.cmd('QUIT');
    s.close();
  }
  c.close();
  await d.stop();
  return { apply, list: stats(lists).p50, login: stats(logins).p50 };
}

/** A daemon on `dataDir`, on the SQLite file there or on the PostgreSQL store at `url`. */
function onStore(dataDir: string, url: string | undefined, node: string): Promise<DaemonHandle> {
  if (!url) return startDaemon({ dataDir });
  // As on a shared (NFS) mail root: no inotify watches, sizes follow the daemons' notifications.
  return startDaemon({
    dataDir,
    socket: join(tempDir(), `${node}.sock`),
    args: ['--store', url, '--node', node, '--watch-limit', '0'],
  });
}

const ROUNDS = 5;

/**
 * SMTP, 20 senders: over the three daemons on one store and over three that share nothing, in
 * turns (the machine's pace drifts within a minute; taking turns keeps the drift out of the
 * ratio), then into one daemon of each alone once the others have stopped. Each after a
 * warm-up. Stops them all.
 */
async function smtpFigures(shared: DaemonHandle[], apart: DaemonHandle[]) {
  const ports = (ds: DaemonHandle[]) => ds.map((d) => d.smtpPort);
  await throughput(ports(shared), 20, 20);
  await throughput(ports(apart), 20, 20);
  const rounds: { shared: number; apart: number }[] = [];
  for (let r = 0; r < ROUNDS; r++)
    rounds.push({ shared: await throughput(ports(shared), 20, 100), apart: await throughput(ports(apart), 20, 100) });
  const alone: number[] = [];
  for (const ds of [shared, apart]) {
    for (const d of ds.slice(1)) await d.stop();
    await throughput(ds[0].smtpPort, 20, 20);
    alone.push(await throughput(ds[0].smtpPort, 20, 200));
    await ds[0].stop();
  }
  const median = (xs: number[]) => stats(xs).p50;
  return {
    shared: median(rounds.map((r) => r.shared)),
    apart: median(rounds.map((r) => r.apart)),
    ratios: rounds.map((r) => r.shared / r.apart),
    alonePostgres: alone[0],
    aloneSqlite: alone[1],
  };
}

export async function benchCluster(): Promise<void> {
  heading('Beyond one machine: three daemons on one PostgreSQL store (same machine)');
  const missing = ensurePostgres();
  if (missing) {
    report('skipped', missing);
    return;
  }
  // fsync on, as the SQLite store's synchronous=FULL.
  const pg = await startPostgres({ fsync: true });
  try {
    const figures = { SQLite: await storeFigures(), PostgreSQL: await storeFigures(await pg.database('bench1')) };
    for (const [what, key] of [
      [`apply ${ACCOUNTS.toLocaleString('en')} account adds`, 'apply'],
      [`accounts.list of ${ACCOUNTS.toLocaleString('en')}, p50`, 'list'],
      ['POP3 login (USER/PASS, argon2id), p50', 'login'],
    ] as const)
      report(what, `${ms(figures.SQLite[key])} | ${ms(figures.PostgreSQL[key])}`, undefined);
    report('(each line: SQLite | PostgreSQL)', '');

    // Propagation: a change queued on A, seen by B's and C's subscribers.
    const dataDir = tempDir('vmail-bench-');
    const url = await pg.database('bench2');
    await seedAccounts(
      dataDir,
      Array.from({ length: 20 }, (_, i) => `box${i}`),
      PASSWORD,
      Date.now(),
      url,
    );
    const nodes: DaemonHandle[] = [];
    for (const node of ['a', 'b', 'c']) nodes.push(await onStore(dataDir, url, node));
    const a = await ControlClient.connect(nodes[0].socket);
    await a.call('pending.apply');
    const watchers = await Promise.all(
      nodes.slice(1).map(async (d) => {
        const w = await ControlClient.connect(d.socket);
        await w.call('subscribe');
        return w;
      }),
    );
    const latencies: number[] = [];
    // One listener per console; each change's arrival resolves its waiter.
    const waiting = new Map<string, (at: number) => void>();
    for (const w of watchers)
      w.onNotification((method, params) => {
        if (method !== 'rows.changed') return;
        for (const p of (params as { pending: { address: string }[] }).pending)
          waiting.get(p.address)?.(performance.now());
      });
    for (let i = 0; i < 50; i++) {
      const address = `prop${i}@example.test`;
      let left = watchers.length;
      const arrivals: number[] = [];
      const arrived = new Promise<void>((resolve) =>
        waiting.set(address, (at) => {
          arrivals.push(at);
          if (--left === 0) resolve();
        }),
      );
      const t0 = performance.now();
      await a.call('forwards.add', { name: `prop${i}`, domain: 'example.test', destinations: ['box0@example.test'] });
      await arrived;
      waiting.delete(address);
      for (const at of arrivals) latencies.push(at - t0);
    }
    const p = stats(latencies);
    report('change on A shown on B and C (50 changes, 2 consoles), p50', ms(p.p50));
    report('change on A shown on B and C, p99', ms(p.p99), { text: '< 1 s', met: p.p99 < 1000 });
    for (const w of watchers) w.close();
    a.close();

    // SMTP, 20 senders: over the three daemons on one store, then into one of them alone; the
    // same for three daemons on this machine that share nothing (each its own SQLite store and
    // mail root): the baseline for what coordination costs.
    const apart = [await daemonWithBoxes(), await daemonWithBoxes(), await daemonWithBoxes()];
    const smtp = await smtpFigures(nodes, apart);
    const ratio = stats(smtp.ratios).p50;
    report('SMTP 20 senders, one daemon on SQLite', `${smtp.aloneSqlite.toFixed(0)} msg/s`);
    report('SMTP 20 senders, one daemon on PostgreSQL', `${smtp.alonePostgres.toFixed(0)} msg/s`);
    report(`SMTP 20 senders, three daemons sharing nothing (median of ${ROUNDS})`, `${smtp.apart.toFixed(0)} msg/s`);
    report(`SMTP 20 senders over three daemons on one store (median of ${ROUNDS})`, `${smtp.shared.toFixed(0)} msg/s`);
    report('  one store against sharing nothing, each turn', smtp.ratios.map((r) => `${r.toFixed(2)}x`).join(' '));
    report('  one store against sharing nothing, median', `${ratio.toFixed(2)}x`, {
      text: '>= 0.9x',
      met: ratio >= 0.9,
    });
    report('  (three processes on this 2-core machine vs one)', `${(smtp.apart / smtp.aloneSqlite).toFixed(2)}x`);
  } finally {
    pg.stop();
  }
}
