// Benchmarks of the daemon core: control socket round trips, applying 10,000 queued changes,
// and listing 10,000 accounts over the socket and through the whole CLI command.
import { ControlClient } from '../../src/control/client.js';
import { runCli, startDaemon, tempDir } from '../helpers/process.js';
import { heading, ms, performance, report, seedAccounts, stats, time } from './lib.js';

export async function benchCore(): Promise<void> {
  heading('Daemon core (control socket, apply, listing)');
  const dataDir = tempDir('vmail-bench-');

  // Control round trip: sequential status requests on one connection.
  let d = await startDaemon({ dataDir });
  {
    const c = await ControlClient.connect(d.socket);
    for (let i = 0; i < 500; i++) await c.call('status');
    const samples: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const t0 = performance.now();
      await c.call('status');
      samples.push(performance.now() - t0);
    }
    const s = stats(samples);
    report('control round trip (status), 10,000 requests: p50', ms(s.p50));
    report('control round trip (status), 10,000 requests: p99', ms(s.p99), { text: '< 2 ms', met: s.p99 < 2 });
    c.close();
  }
  await d.stop();

  // 10,000 account adds, queued straight into the store while the daemon is stopped.
  await seedAccounts(
    dataDir,
    Array.from({ length: 10_000 }, (_, i) => `user${String(i).padStart(5, '0')}`),
  );
  d = await startDaemon({ dataDir });
  {
    const c = await ControlClient.connect(d.socket);
    const [applyMs, result] = await time(() => c.call('pending.apply'));
    report(`apply ${result.applied.length.toLocaleString('en')} queued account adds (Maildirs included)`, ms(applyMs), {
      text: '< 2 s',
      met: applyMs < 2000,
    });

    const samples: number[] = [];
    let count = 0;
    for (let i = 0; i < 30; i++) {
      const [t, list] = await time(() => c.call('accounts.list'));
      samples.push(t);
      count = list.length;
    }
    const s = stats(samples);
    report(`accounts.list over ${count.toLocaleString('en')} accounts: p50`, ms(s.p50), {
      text: '< 50 ms',
      met: s.p50 < 50,
    });
    c.close();

    const cli: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [t, r] = await time(() => runCli(['accounts', 'list', '--json', '--socket', d.socket]));
      if (r.code !== 0) throw new Error(r.stderr);
      cli.push(t);
    }
    const sc = stats(cli);
    report('`vmail accounts list --json` over 10,000 accounts: p50', ms(sc.p50), {
      text: '< 300 ms',
      met: sc.p50 < 300,
    });
  }
  await d.stop();
}
