// A worker thread for password work that would otherwise hold the event loop: hashing for a
// bulk import (one worker per core, each on its own thread rather than the shared libuv pool,
// which has four threads whatever the machine) and checking hashes brought from other servers
// (SHA-crypt and bcrypt run in JavaScript for milliseconds each, Argon2 and scrypt of other
// costs take up to 64 MiB each).
// Messages: {id, op: 'hash', password} -> {id, hash}; {id, op: 'verify', password, hash} -> {id, ok}.
import { parentPort } from 'node:worker_threads';
import type { HashAnswer, HashJob } from './hash-pool.js';
import { hashPasswordSync, verifyForeignSync } from './passwords.js';

parentPort?.on('message', (job: HashJob) => {
  try {
    const answer: HashAnswer =
      job.op === 'hash'
        ? { id: job.id, hash: hashPasswordSync(job.password.normalize('NFC')) }
        : { id: job.id, ok: verifyForeignSync(job.password, job.hash) };
    parentPort?.postMessage(answer);
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: (err as Error).message } satisfies HashAnswer);
  }
});
