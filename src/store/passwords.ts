// Password hashes: scrypt with a per-account random salt. Passwords are never stored or sent back.
// Hashes brought from other servers (an import) are kept in Dovecot's {SCHEME} form and checked
// with that scheme until the first good login, which replaces them with vmail's own.
import {
  createHmac,
  randomBytes,
  type ScryptOptions,
  scrypt as scryptCb,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { verify as verifyCrypt } from 'unixcrypt';
import { InputError } from '../model/errors.js';
import type { HashAnswer, HashJob } from './hash-worker.js';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const OPTS: ScryptOptions = { N, r: R, p: P, maxmem: 64 * 1024 * 1024 };
const format = (salt: Buffer, key: Buffer) =>
  `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return format(salt, await scrypt(password, salt, KEYLEN, OPTS));
}

/** The same, on the calling thread: for worker threads, one per core, that do nothing else. */
export function hashPasswordSync(password: string): string {
  const salt = randomBytes(16);
  return format(salt, scryptSync(password, salt, KEYLEN, OPTS));
}

/** The schemes a hash brought from another server may use, as Dovecot writes them (doveadm pw -s SCHEME). */
const FOREIGN: { prefix: string; form: RegExp; verify: (password: string, hash: string) => boolean }[] = [
  {
    prefix: '{SHA512-CRYPT}',
    form: /^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/,
    verify: verifyCrypt,
  },
  {
    prefix: '{SHA256-CRYPT}',
    form: /^\$5\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}$/,
    verify: verifyCrypt,
  },
  {
    prefix: '{BLF-CRYPT}',
    form: /^\$2[abxy]?\$\d{2}\$[./0-9A-Za-z]{53}$/,
    verify: (password, hash) => bcrypt.compareSync(password, hash),
  },
];
const SCRYPT_FORM = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

/** The schemes a hash brought in may use, for messages and the manual. */
export const HASH_SCHEMES = ['scrypt', ...FOREIGN.map((s) => s.prefix)];

/** A hash brought in as it will be stored; refused when its scheme is not one vmail can check. */
export function checkHash(input: string): string {
  const t = input.trim();
  const scheme = FOREIGN.find((s) => t.startsWith(s.prefix));
  const ok = scheme ? scheme.form.test(t.slice(scheme.prefix.length)) : SCRYPT_FORM.test(t);
  if (!ok)
    throw new InputError(
      `password_hash ${JSON.stringify(t.slice(0, 24))}${t.length > 24 ? '...' : ''} is not a hash vmail can check: use one of ${HASH_SCHEMES.join(', ')}`,
      'password',
    );
  return t;
}

/** A hash of another scheme, replaced with vmail's own at the next good login. */
export function isForeignHash(stored: string): boolean {
  return !stored.startsWith('scrypt$');
}

/** Checks a password against a hash of another scheme, on the calling thread (the hash worker's). */
export function verifyForeignSync(password: string, stored: string): boolean {
  const scheme = FOREIGN.find((s) => stored.startsWith(s.prefix));
  if (!scheme) return false;
  try {
    return scheme.verify(password, stored.slice(scheme.prefix.length));
  } catch {
    return false;
  }
}

/** Checks hashes of other schemes on a worker thread, started at the first one, so logins never wait behind them. */
class ForeignVerifier {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  private next = 0;

  verify(password: string, stored: string): Promise<boolean> {
    const worker = this.start();
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, op: 'verify', password, hash: stored } satisfies HashJob);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.on('message', (a: HashAnswer) => {
      const done = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      if (!this.waiting.size) worker.unref();
      done?.(a.ok === true);
    });
    // A worker that died fails what it held (the login is refused) and is started again.
    worker.on('error', () => this.fail(worker));
    worker.on('exit', () => this.fail(worker));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const done of this.waiting.values()) done(false);
    this.waiting.clear();
  }
}

const foreign = new ForeignVerifier();

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('scrypt$')) return verifyScrypt(password, stored);
  return foreign.verify(password, stored);
}

async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const key = await scrypt(password, salt, expected.length, { N: n, r, p, maxmem: 64 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/**
 * Checks logins against stored hashes, remembering each account's last good password as an
 * HMAC under a key that lives only in this process (as Dovecot's auth cache does), so a mail
 * client that logs in every minute costs one scrypt, not one per login. A changed hash or a
 * wrong password always goes to scrypt.
 */
export class PasswordVerifier {
  private readonly key = randomBytes(32);
  private readonly good = new Map<string, { hash: string; mac: Buffer }>();

  private mac(password: string): Buffer {
    return createHmac('sha256', this.key).update(password).digest();
  }

  /**
   * New passwords are stored in Unicode's composed form (NFC); a client may send the same
   * text decomposed (as macOS keyboards do), so that form is tried too. A hash made before
   * passwords were composed matches the text as typed.
   */
  async verify(account: string, password: string, storedHash: string): Promise<boolean> {
    const cached = this.good.get(account);
    if (cached && cached.hash === storedHash && timingSafeEqual(cached.mac, this.mac(password))) return true;
    const composed = password.normalize('NFC');
    const ok =
      (await verifyPassword(composed, storedHash)) ||
      (composed !== password && (await verifyPassword(password, storedHash)));
    if (ok) this.good.set(account, { hash: storedHash, mac: this.mac(password) });
    return ok;
  }

  forget(account: string): void {
    this.good.delete(account);
  }
}
