// Hostile tests, round 14: the generic WorkerPool (src/support/worker-pool.ts) attacked directly.
// Scenarios that can take a process down or keep it alive run in a child node process (against
// the compiled dist/ file the daemon runs), so that the test runner is not the victim.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/support/worker-pool.js';
import { ROOT, tempDir } from '../helpers/daemon.js';

const POOL = join(ROOT, 'dist/src/support/worker-pool.js');

/** A worker script: echoes {n}, waits `wait` ms first, never answers `hang`, answers `twice` twice, dies on `die`, throws on `boom`. */
function script(): string {
  const file = join(tempDir('vmail-h14-pool-'), 'worker.mjs');
  writeFileSync(
    file,
    `import { parentPort } from 'node:worker_threads';
     parentPort.on('message', (job) => {
       if (job.hang) return;
       if (job.die) process.exit(7);
       if (job.boom) throw new Error('boom ' + job.n);
       if (job.twice) { parentPort.postMessage({ n: job.n, id: job.id }); parentPort.postMessage({ n: -1, id: job.id }); return; }
       const answer = { n: job.n, len: job.buf ? job.buf.byteLength : undefined, id: job.id };
       if (job.wait) setTimeout(() => parentPort.postMessage(answer), job.wait);
       else parentPort.postMessage(answer);
     });`,
  );
  return file;
}

/** Runs `body` (ES module code, `WorkerPool` and `SCRIPT` in scope) in a child node; its stdout lines and exit. */
function child(body: string, timeoutMs = 10_000): { out: string[]; code: number | null; signal: string | null } {
  const code = `import { WorkerPool } from ${JSON.stringify(POOL)};\nconst SCRIPT = ${JSON.stringify(script())};\n${body}`;
  // A file, not -e: a worker inherits node's flags, and --input-type would stop it loading.
  const file = join(tempDir('vmail-h14-child-'), 'child.mjs');
  writeFileSync(file, code);
  const r = spawnSync(process.execPath, [file], {
    timeout: timeoutMs,
    encoding: 'utf8',
  });
  return { out: r.stdout.split('\n').filter(Boolean), code: r.status, signal: r.signal };
}

describe('WorkerPool: what holds', () => {
  it('10,000 queued jobs on 2 workers: each gets its own answer, in full', async () => {
    const pool = new WorkerPool<{ n: number }, { n: number; id: number }>(script(), 2, 'test');
    const got = await Promise.all(Array.from({ length: 10_000 }, (_, n) => pool.run({ n })));
    expect(got.map((a) => a.n)).toEqual(Array.from({ length: 10_000 }, (_, n) => n));
    // Ids are given in order of dispatch, one per job.
    expect(new Set(got.map((a) => a.id)).size).toBe(10_000);
    await pool.close();
  }, 60_000);

  it('a job that throws in the worker kills that worker: its job fails, the rest are answered', async () => {
    const pool = new WorkerPool<{ n: number; boom?: boolean; die?: boolean }, { n: number; id: number }>(
      script(),
      2,
      'test',
    );
    const jobs = Array.from({ length: 40 }, (_, n) => pool.run({ n, boom: n % 10 === 3, die: n % 10 === 7 }));
    const got = await Promise.allSettled(jobs);
    for (const [n, g] of got.entries()) {
      if (n % 10 === 3) expect(g).toMatchObject({ status: 'rejected', reason: { message: `boom ${n}` } });
      else if (n % 10 === 7)
        expect(g).toMatchObject({ status: 'rejected', reason: { message: 'the test worker exited (7)' } });
      else expect(g).toMatchObject({ status: 'fulfilled', value: { n } });
    }
    await pool.close();
  });

  it('transfer moves the buffer: the caller is left with a detached one, the worker gets the bytes', async () => {
    const pool = new WorkerPool<{ n: number; buf: ArrayBuffer }, { len: number; id: number }>(script(), 1, 'test');
    const buf = new ArrayBuffer(1 << 20);
    const a = await pool.run({ n: 1, buf }, [buf]);
    expect(a.len).toBe(1 << 20);
    expect(buf.byteLength).toBe(0);
    // Without transfer it is a copy.
    const kept = new ArrayBuffer(16);
    expect((await pool.run({ n: 2, buf: kept })).len).toBe(16);
    expect(kept.byteLength).toBe(16);
    await pool.close();
  });

  it('close() fails a running job whose worker never answers and every queued one, promptly', async () => {
    const pool = new WorkerPool<{ n?: number; hang?: boolean }, { n: number; id: number }>(script(), 1, 'test');
    const hung = pool.run({ hang: true });
    const queued = Array.from({ length: 100 }, (_, n) => pool.run({ n }));
    const settled = Promise.allSettled([hung, ...queued]);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await pool.close();
    const got = await settled;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(got[0]).toMatchObject({ status: 'rejected', reason: { message: 'the test worker exited (1)' } });
    for (const g of got.slice(1))
      expect(g).toMatchObject({ status: 'rejected', reason: { message: 'the test pool was closed' } });
    await pool.close(); // twice is harmless
    await expect(pool.run({ n: 1 })).rejects.toThrow('the test pool was closed');
  });

  it('a script that cannot load fails each job (no endless restarts), and idle workers let the process exit', () => {
    const r = child(`
      const pool = new WorkerPool('/nonexistent/worker.mjs', 2, 'test');
      const got = await Promise.allSettled(Array.from({ length: 5 }, (_, n) => pool.run({ n })));
      console.log(JSON.stringify(got.map((g) => g.status)));
      const ok = new WorkerPool(SCRIPT, 2, 'test');
      console.log(JSON.stringify(await ok.run({ n: 1 })));
      // no close(): the idle worker must not keep the process alive`);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(JSON.stringify(Array(5).fill('rejected')));
    expect(JSON.parse(r.out[1])).toMatchObject({ n: 1 });
  });

  it('with a time limit, a job whose worker never answers fails alone; another worker answers the next, and the process exits', () => {
    const r = child(
      `
      const pool = new WorkerPool(SCRIPT, 1, 'test', 300);
      const t0 = Date.now();
      await pool.run({ hang: true }).then(() => console.log('answered'), (e) => console.log('failed: ' + e.message));
      console.log('after ' + (Date.now() - t0 >= 300 && Date.now() - t0 < 2000 ? 'about the limit' : Date.now() - t0 + ' ms'));
      console.log('second ' + (await pool.run({ n: 2 })).n);
      // no close(): the worker that hung was stopped, the new one is idle`,
      5000,
    );
    expect(r.out).toEqual([
      'failed: the test worker took over 300 ms and was stopped',
      'after about the limit',
      'second 2',
    ]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it('DOCUMENTED: without a time limit, a worker that never answers holds its job (and the process) forever', () => {
    const r = child(
      `
      const pool = new WorkerPool(SCRIPT, 1, 'test');
      pool.run({ hang: true }).then(() => console.log('answered'), () => console.log('failed'));
      pool.run({ n: 2 }).then(() => console.log('second answered'), () => console.log('second failed'));
      console.log('waiting');`,
      3000,
    );
    // Killed by the 3 s timeout: neither job settled, the busy worker is ref'd.
    expect(r.signal).toBe('SIGTERM');
    expect(r.out).toEqual(['waiting']);
  });

  it("answers are matched to jobs by id: a worker's extra answer is dropped, not taken as the next job's", async () => {
    // Found by this file as a trap (the pool sent an id but never checked it), fixed in round 14.
    const pool = new WorkerPool<{ n: number; twice?: boolean; wait?: number }, { n: number; id: number }>(
      script(),
      1,
      'test',
    );
    const a = pool.run({ n: 1, twice: true });
    const b = pool.run({ n: 2, wait: 50 });
    expect(await Promise.all([a, b])).toMatchObject([{ n: 1 }, { n: 2 }]);
    await pool.close();
  });
});

describe('WorkerPool: flaws this file found, fixed in round 14', () => {
  it('a job that cannot be posted (DataCloneError) while idle rejects, and its worker is free for the next', () => {
    const r = child(
      `
      const pool = new WorkerPool(SCRIPT, 1, 'test');
      try { await pool.run({ n: 1, f: () => 1 }); console.log('answered'); } catch (e) { console.log('rejected ' + e.name); }
      const next = await Promise.race([pool.run({ n: 2 }), new Promise((r) => setTimeout(() => r('stuck'), 1500))]);
      console.log(next === 'stuck' ? next : JSON.stringify({ n: next.n }));
      // no close(): nothing is running, the process should exit`,
      4000,
    );
    expect(r.out[0]).toBe('rejected DataCloneError');
    // The pool's one worker is free again and answers the next job; the process exits. (Before
    // the fix: "stuck", the worker still marked busy with the failed job, and the process never
    // exited, the worker ref'd.)
    expect(r.out[1]).toBe(JSON.stringify({ n: 2 }));
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it("a queued job that cannot be posted fails alone: nothing thrown out of the worker's message listener, the jobs behind it answered", () => {
    const r = child(`
      process.on('uncaughtException', (e) => console.log('UNCAUGHT ' + e.name));
      const pool = new WorkerPool(SCRIPT, 1, 'test');
      const a = pool.run({ n: 1, wait: 100 });
      const b = pool.run({ n: 2, f: () => 1 });
      const c = pool.run({ n: 3 });
      const got = await Promise.race([
        Promise.allSettled([a, b, c]).then((g) => g.map((x) => x.status)),
        new Promise((r) => setTimeout(() => r('stranded'), 2000)),
      ]);
      console.log(JSON.stringify(got));
      await pool.close();`);
    // No uncaught exception; a answered, b rejected (cannot be cloned), c answered. (Before the
    // fix: "UNCAUGHT DataCloneError" from dispatch() inside the 'message' listener, then
    // "stranded": b and c never settled.)
    expect(r.out.filter((l) => l.startsWith('UNCAUGHT'))).toEqual([]);
    expect(r.out).toContain(JSON.stringify(['fulfilled', 'rejected', 'fulfilled']));
  });
});
