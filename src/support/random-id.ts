// Random ids that name things (a message's queue id, a spool file), drawn from a pool that
// crypto fills 4 KB at a time: a call of randomBytes for six bytes cost 2-17 us on the intake's
// path (measured), a slice of the pool well under one. For names only: a secret (a key, an SRS
// secret) comes from randomBytes of its own.
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let used = pool.length;

/** `bytes` random bytes (at most 4096) as hex. */
export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}
