// Password hashes: scrypt with a per-account random salt. Passwords are never stored or sent back.
import { createHmac, randomBytes, type ScryptOptions, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
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
