// The password-hashing workers (hash-worker.ts) behind a pool of their own threads
// (support/worker-pool.ts): hashing for a bulk import and checking hashes brought from other
// servers, which would otherwise hold the event loop or fill libuv's thread pool.
import { HASH_WORKER } from '../support/package-root.js';
import { WorkerPool } from '../support/worker-pool.js';

export type HashJob =
  | { id: number; op: 'hash'; password: string }
  | { id: number; op: 'verify'; password: string; hash: string };
export type HashAnswer = { id: number; hash?: string; ok?: boolean; error?: string };

type Job = { op: 'hash'; password: string } | { op: 'verify'; password: string; hash: string };

export class HashPool {
  private readonly pool: WorkerPool<Job, HashAnswer>;

  constructor(size: number) {
    this.pool = new WorkerPool(HASH_WORKER, size, 'hash');
  }

  /** vmail's own hash of `password` (composed to NFC first). */
  hash(password: string): Promise<string> {
    return this.pool.run({ op: 'hash', password }).then((a) => {
      if (!a.hash) throw new Error(a.error ?? 'the hash worker gave no hash');
      return a.hash;
    });
  }

  /** Whether `password` matches a hash of another scheme. */
  verify(password: string, hash: string): Promise<boolean> {
    return this.pool.run({ op: 'verify', password, hash }).then(
      (a) => a.ok === true,
      // A worker that died fails the login: refused, never let in.
      () => false,
    );
  }

  /** Stops every worker; jobs still queued or running fail. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
