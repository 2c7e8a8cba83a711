// Benchmarks of oversight: a 10,000-row CSV import whose rows carry hashes (as a move from
// Dovecot brings them), one with plain passwords (Argon2id on every core), and what the audit
// log costs a request that changes something.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { runCli, startDaemon, tempDir } from '../helpers/process.js';
import { heading, ms, performance, report, stats, time } from './lib.js';

/** How many plain-password rows to hash (10,000 take minutes on two cores; the rate is what counts). */
const PLAIN_ROWS = Number(process.env.BENCH_PLAIN_ROWS ?? 2000);

export async function benchOversight(): Promise<void> {
  heading(`Oversight: CSV import and the audit log (${availableParallelism()} cores)`);
  const dir = tempDir('vmail-bench-');

  // 10,000 rows with hashes made by Dovecot (one hash, as a real file's would each differ only in content).
  const hash = execFileSync('doveadm', ['pw', '-s', 'SHA512-CRYPT', '-p', 'bench-pass-1'], { encoding: 'utf8' }).trim();
  const hashed = join(dir, 'hashed.csv');
  writeFileSync(
    hashed,
    `name,password_hash,quota\n${Array.from({ length: 10_000 }, (_, i) => `h${String(i).padStart(5, '0')},${hash},25M`).join('\n')}\n`,
  );
  let d = await startDaemon({ dataDir: join(dir, 'a') });
  {
    const [t, r] = await time(() => runCli(['accounts', 'import', hashed, '--socket', d.socket]));
    if (r.code !== 0) throw new Error(r.stderr || r.stdout.slice(-500));
    report('import 10,000 rows with hashes (CLI, checked then queued)', ms(t), { text: '< 5 s', met: t < 5000 });
    const [applyMs] = await time(() => runCli(['pending', 'apply', '--socket', d.socket]));
    report('  then apply them (Maildirs made)', ms(applyMs));
  }
  await d.stop();

  // Plain passwords: hashed by the CLI on every core.
  const plain = join(dir, 'plain.csv');
  writeFileSync(
    plain,
    `name,password\n${Array.from({ length: PLAIN_ROWS }, (_, i) => `p${String(i).padStart(5, '0')},plain-pass-${i}`).join('\n')}\n`,
  );
  d = await startDaemon({ dataDir: join(dir, 'b') });
  {
    const [t, r] = await time(() => runCli(['accounts', 'import', plain, '--socket', d.socket]));
    if (r.code !== 0) throw new Error(r.stderr || r.stdout.slice(-500));
    const rate = PLAIN_ROWS / (t / 1000);
    report(`import ${PLAIN_ROWS.toLocaleString('en')} rows with plain passwords (Argon2id)`, ms(t));
    report('  rate (rows per second, all cores)', `${rate.toFixed(0)}/s`);
    report('  10,000 rows at that rate', ms((10_000 / rate) * 1000));
  }

  // Moving in: a Dovecot tree of 50,000 messages (50 Maildirs of 1,000), copied and moved.
  for (const move of [false, true]) {
    const tree = join(dir, move ? 'tree-move' : 'tree-copy');
    const lines: string[] = [];
    for (let a = 0; a < 50; a++) {
      const user = `${move ? 'moved' : 'copied'}${a}`;
      const m = join(tree, 'example.test', user, 'Maildir');
      for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(m, f), { recursive: true });
      const list: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const name = `${1700000000 + i}.M${i}P${a}.oldhost`;
        writeFileSync(join(m, 'cur', `${name}:2,S`), `Subject: ${name}\n\n${'x'.repeat(2000)}\n`);
        list.push(`${i + 1} :${name}`);
      }
      writeFileSync(join(m, 'dovecot-uidlist'), `3 V1700000000 N1001\n${list.join('\n')}\n`);
      lines.push(`${user}@example.test:${hash}::::::`);
    }
    writeFileSync(join(tree, 'passwd'), `${lines.join('\n')}\n`);
    const args = ['import', 'dovecot', '--passwd-file', join(tree, 'passwd'), '--maildirs', tree, '--socket', d.socket];
    const [queueMs, q] = await time(() => runCli(move ? [...args, '--move'] : args));
    if (q.code !== 0) throw new Error(q.stderr || q.stdout.slice(-500));
    const [applyMs, a] = await time(() => runCli(['pending', 'apply', '--socket', d.socket]));
    if (a.code !== 0) throw new Error(a.stderr);
    report(
      `move in 50,000 messages (50 Maildirs), ${move ? 'moved' : 'copied, each file synced'}`,
      `${Math.round(50_000 / ((queueMs + applyMs) / 1000)).toLocaleString('en')} msg/s`,
    );
    report('  check and queue, then apply', `${ms(queueMs)} + ${ms(applyMs)}`);
  }

  // The audit log: a change request's round trip, and the write alone under 20 clients.
  {
    const c = await ControlClient.connect(d.socket);
    const samples: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await c.call('forwards.add', { name: `f${i}`, destinations: ['someone@elsewhere.example'] });
      samples.push(performance.now() - t0);
    }
    const s = stats(samples);
    report('change request (forwards.add) round trip, audited: p50', ms(s.p50));
    report('change request (forwards.add) round trip, audited: p99', ms(s.p99));
    const reads: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await c.call('pending.list', {});
      reads.push(performance.now() - t0);
    }
    report('read request (pending.list, not audited): p50', ms(stats(reads).p50));
    c.close();
  }
  await d.stop();
  {
    const { Store } = await import('../../src/store/store.js');
    const store = await Store.open(join(dir, 'c'));
    const entry = () => ({
      at: Date.now(),
      user: 'bench',
      uid: 1000,
      pid: 1,
      method: 'accounts.quota',
      params: { name: 'ann', domain: 'example.test', quota: '25M', address: 'ann@example.test' },
      outcome: 'queued quota (change 1)',
    });
    const one: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await store.audit.append(entry());
      one.push(performance.now() - t0);
    }
    report('audit entry written alone (one disk sync): p50', ms(stats(one).p50));
    const [t] = await time(() =>
      Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < 100; i++) await store.audit.append(entry());
        }),
      ),
    );
    report('audit entries from 20 clients at once (group commit)', `${((2000 / t) * 1000).toFixed(0)}/s`);
    const [q] = await time(() => store.audit.query({ address: 'ann@example.test', limit: 100 }));
    report('vmail log --address over 2,300 entries', ms(q));
    await store.close();
  }
}
