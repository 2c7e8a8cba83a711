// Worker threads of their own for password work, so it never waits in (or fills) libuv's
// thread pool, which runs every fsync, file read and SQLite call of the daemon: 10,000 Argon2id
// hashes queued there held SMTP delivery for as long as they took. Each worker runs one job at
// a time, taken from one queue; idle workers do not keep the process alive. One listener of
// each kind per worker, whatever the number of jobs.
import { Worker } from 'node:worker_threads';
import { HASH_WORKER } from '../support/package-root.js';

export type HashJob =
  | { id: number; op: 'hash'; password: string }
  | { id: number; op: 'verify'; password: string; hash: string };
export type HashAnswer = { id: number; hash?: string; ok?: boolean; error?: string };

type Job = { op: 'hash'; password: string } | { op: 'verify'; password: string; hash: string };

interface Waiting {
  job: Job;
  done: (a: HashAnswer) => void;
  fail: (err: Error) => void;
}

export class HashPool {
  private readonly queue: Waiting[] = [];
  /** Each worker and the job it runs (null when idle). */
  private readonly workers = new Map<Worker, Waiting | null>();
  private next = 0;
  private closed = false;

  constructor(private readonly size: number) {}

  /** vmail's own hash of `password` (composed to NFC first). */
  hash(password: string): Promise<string> {
    return this.run({ op: 'hash', password }).then((a) => {
      if (!a.hash) throw new Error(a.error ?? 'the hash worker gave no hash');
      return a.hash;
    });
  }

  /** Whether `password` matches a hash of another scheme. */
  verify(password: string, hash: string): Promise<boolean> {
    return this.run({ op: 'verify', password, hash }).then(
      (a) => a.ok === true,
      // A worker that died fails the login: refused, never let in.
      () => false,
    );
  }

  /** Stops every worker; jobs still queued or running fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) w.fail(new Error('the hash pool was closed'));
    await Promise.all([...this.workers.keys()].map((w) => w.terminate()));
  }

  private run(job: Job): Promise<HashAnswer> {
    if (this.closed) return Promise.reject(new Error('the hash pool was closed'));
    return new Promise((done, fail) => {
      this.queue.push({ job, done, fail });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length) {
      let worker = [...this.workers].find(([, busy]) => busy === null)?.[0];
      if (!worker && this.workers.size < this.size) worker = this.start();
      if (!worker) return;
      const w = this.queue.shift()!;
      this.workers.set(worker, w);
      worker.ref();
      worker.postMessage({ id: this.next++, ...w.job } as HashJob);
    }
  }

  private start(): Worker {
    const worker = new Worker(HASH_WORKER);
    worker.on('message', (a: HashAnswer) => {
      const w = this.workers.get(worker);
      this.workers.set(worker, null);
      worker.unref();
      w?.done(a);
      this.dispatch();
    });
    // A worker that died fails the job it held, and another is started for the rest.
    const died = (err: Error) => {
      const w = this.workers.get(worker);
      if (!this.workers.delete(worker)) return;
      w?.fail(err);
      if (!this.closed) this.dispatch();
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the hash worker exited (${code})`)));
    worker.unref();
    this.workers.set(worker, null);
    return worker;
  }
}
