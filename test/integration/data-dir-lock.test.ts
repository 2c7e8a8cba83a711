// One daemon per data dir: the real daemon started twice at once on one temp data dir (each
// with its own control socket and ports), kill -9, and lock files left as a crash or a reused
// pid would leave them.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOOPBACK_LISTENERS, startDaemon, tempDir, VMAIL } from '../helpers/daemon.js';

/** The exit code and output of a daemon that is expected not to start. */
function refusedStart(
  dataDir: string,
  socket: string,
  extra: string[] = [],
): Promise<{ code: number | null; out: string }> {
  const args = [
    VMAIL,
    'daemon',
    '--data-dir',
    dataDir,
    '--socket',
    socket,
    ...LOOPBACK_LISTENERS,
    '--domain',
    'example.test',
    ...extra,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('one daemon per data dir', () => {
  it('two daemons started at once on one data dir: one serves, the other exits 78 naming it; after kill -9 a new one starts', async () => {
    const dataDir = tempDir();
    const sockets = tempDir();
    const tries = await Promise.allSettled(
      ['one', 'two'].map((n) => startDaemon({ dataDir, socket: join(sockets, `${n}.sock`) })),
    );
    const served = tries.filter((t) => t.status === 'fulfilled').map((t) => t.value);
    const refused = tries.filter((t) => t.status === 'rejected').map((t) => String(t.reason));
    expect(served).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const first = served[0];
    expect(refused[0]).toMatch(/exited with 78 before it was ready/);
    expect(refused[0]).toContain(`another vmail daemon (pid ${first.proc.pid}) is running on ${dataDir}`);
    // The one that serves takes mail and changes.
    expect((await first.cli(['accounts', 'add', 'ann', '--password-stdin'], 'pw-ann-1\n')).code).toBe(0);

    // A third while the first still runs: refused too, with nothing written to the store.
    const third = await refusedStart(dataDir, join(sockets, 'three.sock'));
    expect(third.code).toBe(78);
    expect(third.out).toContain(`pid ${first.proc.pid}`);
    expect(
      third.out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('vmail:')),
    ).toHaveLength(1);

    await first.kill9();
    const next = await startDaemon({ dataDir, socket: join(sockets, 'next.sock') });
    // The pending add the first daemon queued is there: the store is the same one.
    expect((await next.cli(['pending', 'list'])).stdout).toContain('ann@example.test');
    expect(readFileSync(join(dataDir, 'vmail.lock'), 'utf8')).toMatch(new RegExp(`^${next.proc.pid} \\d+\\n$`));
    await next.stop();
  });

  it('a lock left by a pid now used by another program, or garbage in the lock file, does not stop a start', async () => {
    for (const text of [`${process.pid} 1\n`, '1 1\n', 'garbage', '']) {
      const dataDir = tempDir();
      writeFileSync(join(dataDir, 'vmail.lock'), text);
      const d = await startDaemon({ dataDir });
      expect(readFileSync(join(dataDir, 'vmail.lock'), 'utf8')).toMatch(new RegExp(`^${d.proc.pid} \\d+\\n$`));
      await d.stop();
    }
  });

  it('two data dirs on one SQLite store: the second is refused naming the first', async () => {
    const store = `sqlite:${join(tempDir(), 'shared.sqlite')}`;
    const first = await startDaemon({ args: ['--store', store] });
    const other = tempDir();
    const second = await refusedStart(other, join(other, 'control.sock'), ['--store', store]);
    expect(second.code).toBe(78);
    expect(second.out).toContain(`pid ${first.proc.pid}`);
    await first.stop();
  });
});
