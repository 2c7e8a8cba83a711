// Password hashes: Argon2id with a per-account random salt, written as Dovecot writes it
// ({ARGON2ID}$argon2id$v=19$m=...), so a passwd-file vmail exports is one Dovecot accepts as it
// is. Passwords are never stored or sent back. Hashes brought from other servers (an import),
// and vmail's own older scrypt hashes, are checked with their scheme until the first good login
// replaces them with vmail's own.
import { createHash, scryptSync, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import {
  Algorithm,
  hash as argon2,
  hashSync as argon2Sync,
  verify as argon2Verify,
  verifySync as argon2VerifySync,
} from '@node-rs/argon2';
import md5Crypt from 'apache-md5';
import bcrypt from 'bcryptjs';
import { verify as verifyCrypt } from 'unixcrypt';
import { InputError } from '../model/errors.js';
import { AUTH_CACHE_TTL_MS, AuthCache } from './auth-cache.js';
import { HashPool } from './hash-pool.js';

/**
 * OWASP's recommended Argon2id cost (19 MiB, two passes, one lane): libsodium (Dovecot's
 * checker) takes one lane only. Its hashes run on libuv's pool, never the event loop.
 */
const ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const PREFIX = '{ARGON2ID}';

/** `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$salt$hash`: vmail's scheme, Dovecot's form. */
export async function hashPassword(password: string): Promise<string> {
  return PREFIX + (await argon2(password, ARGON2));
}

/** The same, on the calling thread: for worker threads, one per core, that do nothing else. */
export function hashPasswordSync(password: string): string {
  return PREFIX + argon2Sync(password, ARGON2);
}

/** Whether `stored` is a hash of vmail's scheme, at vmail's cost. */
function isCurrent(stored: string): boolean {
  return stored.startsWith(
    `${PREFIX}$argon2id$v=19$m=${ARGON2.memoryCost},t=${ARGON2.timeCost},p=${ARGON2.parallelism}$`,
  );
}

/** A check of Dovecot's {SSHA512}-style hash: `digest(password + salt)` then the salt, in base64. */
function salted(algorithm: 'sha512' | 'sha256', size: number): (password: string, hash: string) => boolean {
  return (password, hash) => {
    const raw = Buffer.from(hash, 'base64');
    if (raw.length <= size) return false;
    const got = createHash(algorithm).update(password).update(raw.subarray(size)).digest();
    return timingSafeEqual(got, raw.subarray(0, size));
  };
}

/** Base64 as the hash forms write it (standard alphabet, padding optional): the bytes, or null. */
function base64Bytes(text: string, padded: boolean): Buffer | null {
  const ok = padded ? /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/ : /^[A-Za-z0-9+/]*$/;
  if (!ok.test(text) || (!padded && text.length % 4 === 1)) return null;
  return Buffer.from(text, 'base64');
}

/** A number written in decimal digits within [min, max], else null. */
function within(text: string | undefined, min: number, max: number): number | null {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/**
 * SHA-crypt's rounds: glibc's least is 1,000; at most 700,000, which keeps passlib's default
 * (656,000): a million costs seconds of JavaScript per guess.
 */
function shaCryptProblem(hash: string): string | null {
  const rounds = /^\$[56]\$rounds=([^$]*)\$/.exec(hash);
  if (rounds && within(rounds[1], 1000, 700_000) === null)
    return `rounds=${rounds[1].slice(0, 12)} is not 1000 to 700000`;
  return null;
}

/** The schemes a hash brought from another server may use, as Dovecot writes them (doveadm pw -s SCHEME). */
const FOREIGN: {
  prefix: string;
  form: RegExp;
  /** What is wrong with a hash of the right form (a cost out of range, a digest too short). */
  problem?: (hash: string) => string | null;
  verify: (password: string, hash: string) => boolean;
}[] = [
  {
    prefix: '{SHA512-CRYPT}',
    form: /^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/,
    problem: shaCryptProblem,
    verify: verifyCrypt,
  },
  {
    prefix: '{SHA256-CRYPT}',
    form: /^\$5\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}$/,
    problem: shaCryptProblem,
    verify: verifyCrypt,
  },
  // Salted SHA-2 (LDAP's and Dovecot's SSHA*): base64 of the digest, then the salt.
  {
    prefix: '{SSHA512}',
    form: /^[A-Za-z0-9+/]{88,340}={0,2}$/,
    problem: (h) => ((base64Bytes(h, true)?.length ?? 0) > 64 ? null : 'the digest and salt are not base64'),
    verify: salted('sha512', 64),
  },
  {
    prefix: '{SSHA256}',
    form: /^[A-Za-z0-9+/]{44,300}={0,2}$/,
    problem: (h) => ((base64Bytes(h, true)?.length ?? 0) > 32 ? null : 'the digest and salt are not base64'),
    verify: salted('sha256', 32),
  },
  {
    // vpopmail's and old Dovecots' default: weak, and kept only until the first good login.
    prefix: '{MD5-CRYPT}',
    form: /^\$1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}$/,
    verify: (password, hash) => md5Crypt(password, hash) === hash,
  },
  {
    // bcrypt's cost is a power of two: 4 is its least; past 13 (Dovecot's and PHP's defaults are
    // 5 to 12) a guess costs seconds in JavaScript.
    prefix: '{BLF-CRYPT}',
    form: /^\$2[abxy]?\$\d{2}\$[./0-9A-Za-z]{53}$/,
    problem: (h) => {
      const cost = /^\$2[abxy]?\$(\d{2})\$/.exec(h)![1];
      return within(cost, 4, 13) === null ? `the bcrypt cost ${cost} is not 04 to 13` : null;
    },
    verify: (password, hash) => bcrypt.compareSync(password, hash),
  },
];
const SCRYPT_FORM = /^scrypt\$\d{1,10}\$\d{1,10}\$\d{1,10}\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;
/** scrypt's memory is 128 * N * r bytes: vmail's own were N=16384, r=8 (16 MiB). */
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

/** What is wrong with an `scrypt$N$r$p$salt$hash` of the right form. */
function scryptProblem(stored: string): string | null {
  const [, n, r, p, salt, digest] = stored.split('$');
  const N = within(n, 2, 2 ** 20);
  if (N === null || (N & (N - 1)) !== 0) return `scrypt N=${n.slice(0, 12)} is not a power of two from 2 to 2^20`;
  const R = within(r, 1, 32);
  if (R === null) return `scrypt r=${r.slice(0, 12)} is not 1 to 32`;
  if (within(p, 1, 16) === null) return `scrypt p=${p.slice(0, 12)} is not 1 to 16`;
  if (128 * N * R > SCRYPT_MAXMEM) return `scrypt N=${N}, r=${R} needs over ${SCRYPT_MAXMEM / 1048576} MiB`;
  if (!base64Bytes(salt, true)?.length) return 'the scrypt salt is empty or not base64';
  const bytes = base64Bytes(digest, true)?.length ?? 0;
  if (bytes < 16 || bytes > 128) return 'the scrypt digest is not 16 to 128 bytes of base64';
  return null;
}

/** Argon2 as Dovecot writes it (doveadm pw -s ARGON2ID): checked natively, off the event loop. */
const ARGON2_FORMS = [
  { prefix: '{ARGON2ID}', form: /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/ },
  { prefix: '{ARGON2I}', form: /^\$argon2i\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/ },
];
/**
 * Argon2's costs a login may ask for, what real servers write: at most 64 MiB (RFC 9106's
 * second choice, and Dovecot's), 10 passes and 8 lanes (vmail writes 19 MiB, 2, 1); RFC
 * 9106's least salt (8 bytes) and a digest of 16 to 64 bytes.
 */
const ARGON2_MAX_KIB = 65_536;

function argon2Problem(hash: string, form: RegExp): string | null {
  const [, m, t, p, salt, digest] = form.exec(hash)!;
  const lanes = within(p, 1, 8);
  if (lanes === null) return `argon2 p=${p.slice(0, 12)} is not 1 to 8`;
  if (within(m, 8 * lanes, ARGON2_MAX_KIB) === null)
    return `argon2 m=${m.slice(0, 12)} is not ${8 * lanes} to ${ARGON2_MAX_KIB} (KiB)`;
  if (within(t, 1, 10) === null) return `argon2 t=${t.slice(0, 12)} is not 1 to 10`;
  if ((base64Bytes(salt, false)?.length ?? 0) < 8) return 'the argon2 salt is under 8 bytes';
  const bytes = base64Bytes(digest, false)?.length ?? 0;
  if (bytes < 16 || bytes > 64) return 'the argon2 digest is not 16 to 64 bytes';
  return null;
}

/** The schemes a hash brought in may use, for messages and the manual. */
export const HASH_SCHEMES = [...ARGON2_FORMS.map((s) => s.prefix), ...FOREIGN.map((s) => s.prefix), 'scrypt'];

/**
 * Why `stored` is no hash vmail checks (an unknown scheme, a broken form, a cost out of range,
 * a digest too short to mean anything), or null when it is one. Imports refuse such a hash and
 * logins never verify one, however it reached the store.
 */
function hashProblem(stored: string): string | null {
  const argon = ARGON2_FORMS.find((s) => stored.startsWith(s.prefix));
  if (argon) {
    const h = stored.slice(argon.prefix.length);
    return argon.form.test(h) ? argon2Problem(h, argon.form) : 'not in the form of its scheme';
  }
  const scheme = FOREIGN.find((s) => stored.startsWith(s.prefix));
  if (scheme) {
    const h = stored.slice(scheme.prefix.length);
    return scheme.form.test(h) ? (scheme.problem?.(h) ?? null) : 'not in the form of its scheme';
  }
  if (stored.startsWith('scrypt$'))
    return SCRYPT_FORM.test(stored) ? scryptProblem(stored) : 'not in the form of its scheme';
  return 'unknown';
}

/** A hash brought in as it will be stored; refused when its scheme is not one vmail can check. */
export function checkHash(input: string): string {
  const t = input.trim();
  const problem = hashProblem(t);
  if (problem) {
    const shown = `password_hash ${JSON.stringify(t.slice(0, 24))}${t.length > 24 ? '...' : ''}`;
    throw new InputError(
      problem === 'unknown'
        ? `${shown} is not a hash vmail can check: use one of ${HASH_SCHEMES.join(', ')}`
        : `${shown} is not a hash vmail can check: ${problem}`,
      'password',
    );
  }
  return t;
}

/** A hash of another scheme (or cost), replaced with vmail's own at the next good login. */
export function isForeignHash(stored: string): boolean {
  return !isCurrent(stored);
}

/** Checks a password against a hash of another scheme or cost, on the calling thread (the hash worker's). */
export function verifyForeignSync(password: string, stored: string): boolean {
  if (hashProblem(stored) !== null) return false;
  const argon = ARGON2_FORMS.find((s) => stored.startsWith(s.prefix));
  const scheme = FOREIGN.find((s) => stored.startsWith(s.prefix));
  try {
    if (argon) return argon2VerifySync(stored.slice(argon.prefix.length), password);
    if (stored.startsWith('scrypt$')) return verifyScryptSync(password, stored);
    return scheme ? scheme.verify(password, stored.slice(scheme.prefix.length)) : false;
  } catch {
    // A hash its library cannot read verifies no password: the login is refused.
    return false;
  }
}

/**
 * Checks hashes of other schemes and costs (each up to 64 MiB and seconds of CPU) on worker
 * threads of their own, started at the first one: never on libuv's pool, where they would hold
 * up every file and SQLite call, and more than one, so that one guesser does not hold up every
 * other imported account's login.
 */
const foreign = new HashPool(Math.min(4, availableParallelism()));

/**
 * Hashes for an import the daemon hashes itself (plain passwords sent by a client that did not
 * hash them): on worker threads of their own, a core left for mail, never on libuv's pool.
 */
const importHashes = new HashPool(Math.max(1, availableParallelism() - 1));

/** vmail's hash of `password`, made on the import workers. */
export function hashPasswordInWorker(password: string): Promise<string> {
  return importHashes.hash(password);
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  // A hash that checks nothing, or would cost gigabytes per guess, verifies no password.
  if (hashProblem(stored) !== null) return false;
  // vmail's own cost (19 MiB) on libuv's pool, as it is hashed; anything else on the workers.
  if (isCurrent(stored)) return argon2Verify(stored.slice(PREFIX.length), password).catch(() => false);
  return foreign.verify(password, stored);
}

/** vmail's hashes before Argon2id: `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
function verifyScryptSync(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const key = scryptSync(password, salt, expected.length, { N: n, r, p, maxmem: SCRYPT_MAXMEM + 1024 * 1024 });
  return expected.length >= 16 && timingSafeEqual(key, expected);
}

/**
 * Checks logins against stored hashes, remembering good ones in an AuthCache (auth-cache.ts:
 * an HMAC under a key that lives only in this process, as Dovecot's auth cache does), so a mail
 * client that logs in every minute costs one Argon2id, not one per login. A changed hash or a
 * wrong password always goes to the hash.
 */
export class PasswordVerifier {
  constructor(readonly cache: AuthCache = new AuthCache(100_000, AUTH_CACHE_TTL_MS)) {}

  /**
   * New passwords are stored in Unicode's composed form (NFC); a client may send the same
   * text decomposed (as macOS keyboards do), so that form is tried too. A hash made before
   * passwords were composed matches the text as typed.
   */
  async verify(account: string, password: string, storedHash: string): Promise<boolean> {
    if (this.cache.matches(account, password, storedHash)) return true;
    const composed = password.normalize('NFC');
    const ok =
      (await verifyPassword(composed, storedHash)) ||
      (composed !== password && (await verifyPassword(password, storedHash)));
    if (ok) this.cache.remember(account, password, storedHash);
    return ok;
  }
}
