// The authentication cache (Dovecot's auth_cache): after a good login, an HMAC-SHA256 of the
// address, the password and the stored hash string, under a key that lives only in this
// process, so a mail client that logs in every few minutes costs one Argon2id an hour, not one
// a login. No password is kept in clear; a changed hash (a password change here or on another
// daemon sharing the store) never matches an old entry; a wrong password never matches at all.
// Only good logins are remembered, one entry per address, at most `size` of them (the least
// recently used go first), each for `ttlMs`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a good login is remembered: an hour, Dovecot's auth_cache_ttl. */
export const AUTH_CACHE_TTL_MS = 60 * 60_000;

interface Entry {
  mac: Buffer;
  /** When it was remembered (ms): past the TTL it is a miss. */
  at: number;
}

export class AuthCache {
  private readonly key = randomBytes(32);
  /** In use order: a Map iterates in insertion order, so the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private mac(address: string, password: string, storedHash: string): Buffer {
    return createHmac('sha256', this.key).update(`${address}\0${password}\0${storedHash}`).digest();
  }

  /** Whether `password` was a good one for `address` while it had `storedHash`, within the TTL. */
  matches(address: string, password: string, storedHash: string): boolean {
    const e = this.entries.get(address);
    if (!e || this.now() - e.at > this.ttlMs) {
      if (e) this.entries.delete(address);
      this.misses++;
      return false;
    }
    const ok = timingSafeEqual(e.mac, this.mac(address, password, storedHash));
    if (ok) {
      // Used now: to the end of the LRU order.
      this.entries.delete(address);
      this.entries.set(address, e);
      this.hits++;
    } else this.misses++;
    return ok;
  }

  /** Remembers a login just verified against `storedHash` (its only entry: a new password replaces the old). */
  remember(address: string, password: string, storedHash: string): void {
    if (this.size <= 0) return;
    this.entries.delete(address);
    this.entries.set(address, { mac: this.mac(address, password, storedHash), at: this.now() });
    this.trim();
  }

  /** Forgets `address` (its password changed, or it was suspended, renamed or removed). */
  forget(address: string): void {
    this.entries.delete(address);
  }

  get count(): number {
    return this.entries.size;
  }

  private trim(): void {
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.size) break;
      this.entries.delete(k);
    }
  }
}
