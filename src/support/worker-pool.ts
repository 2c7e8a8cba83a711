// Worker threads of their own for CPU work that would otherwise hold the event loop (password
// hashes, DKIM signatures), so it never waits in (or fills) libuv's thread pool either, which
// runs every fsync, file read and SQLite call of the daemon: 10,000 Argon2id hashes queued
// there held SMTP delivery for as long as they took. Each worker runs one job at a time, taken
// from one queue; workers start when first needed, and idle ones do not keep the process
// alive. One listener of each kind per worker, whatever the number of jobs. A job given a time
// limit that its worker overruns is failed and its worker stopped, so one input that never ends
// cannot hold every job behind it.
import { type Transferable, Worker } from 'node:worker_threads';

interface Waiting<Job, Answer> {
  /** Sent with the job; the worker's answer carries it back. */
  id: number;
  job: Job;
  transfer: Transferable[];
  done: (a: Answer) => void;
  fail: (err: Error) => void;
  /** The time limit's timer, once the job runs. */
  timer?: NodeJS.Timeout;
}

/**
 * Runs jobs on up to `size` workers of `script`, which answers each job it is sent ({id, ...job})
 * with one message that carries the same id. An answer with another id (a worker that answered
 * twice) is dropped, never given to the job after.
 */
export class WorkerPool<Job extends object, Answer extends { id: number }> {
  private readonly queue: Waiting<Job, Answer>[] = [];
  /** Each worker and the job it runs (null when idle). */
  private readonly workers = new Map<Worker, Waiting<Job, Answer> | null>();
  private next = 0;
  private closed = false;

  /**
   * `what` names the workers in errors ("the hash worker exited (1)"); `limitMs`, if given, is
   * how long a job may run before it fails and its worker is stopped (another starts for the rest).
   */
  constructor(
    private readonly script: string,
    private readonly size: number,
    private readonly what: string,
    private readonly limitMs?: number,
  ) {}

  /**
   * The worker's answer to `job`; rejects if the pool is closed or the worker dies on it.
   * `transfer` (buffers in the job) is moved to the worker, not copied: the caller must not use it again.
   */
  run(job: Job, transfer: Transferable[] = []): Promise<Answer> {
    if (this.closed) return Promise.reject(new Error(`the ${this.what} pool was closed`));
    return new Promise((done, fail) => {
      this.queue.push({ id: this.next++, job, transfer, done, fail });
      this.dispatch();
    });
  }

  /** Stops every worker; jobs still queued or running fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) w.fail(new Error(`the ${this.what} pool was closed`));
    await Promise.all([...this.workers.keys()].map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      let worker = [...this.workers].find(([, busy]) => busy === null)?.[0];
      if (!worker && this.workers.size < this.size) worker = this.start();
      if (!worker) return;
      const w = this.queue.shift()!;
      try {
        worker.postMessage({ id: w.id, ...w.job }, w.transfer);
      } catch (err) {
        // A job that cannot be sent (a value no worker can be given) fails alone; the worker
        // stays free for the next.
        w.fail(err as Error);
        continue;
      }
      this.workers.set(worker, w);
      worker.ref();
      if (this.limitMs) w.timer = setTimeout(() => this.overran(worker, w), this.limitMs).unref();
    }
  }

  /** Fails a job that ran past the limit and stops its worker; the rest go to the others. */
  private overran(worker: Worker, w: Waiting<Job, Answer>): void {
    if (this.workers.get(worker) !== w) return;
    this.workers.delete(worker);
    w.fail(new Error(`the ${this.what} worker took over ${this.limitMs} ms and was stopped`));
    void worker.terminate();
    if (!this.closed) this.dispatch();
  }

  private start(): Worker {
    const worker = new Worker(this.script);
    worker.on('message', (a: Answer) => {
      const w = this.workers.get(worker);
      if (!w || a?.id !== w.id) return;
      clearTimeout(w.timer);
      this.workers.set(worker, null);
      worker.unref();
      w.done(a);
      this.dispatch();
    });
    // A worker that died fails the job it held, and another is started for the rest.
    const died = (err: Error) => {
      const w = this.workers.get(worker);
      if (!this.workers.delete(worker)) return;
      clearTimeout(w?.timer);
      w?.fail(err);
      if (!this.closed) this.dispatch();
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the ${this.what} worker exited (${code})`)));
    worker.unref();
    this.workers.set(worker, null);
    return worker;
  }
}
