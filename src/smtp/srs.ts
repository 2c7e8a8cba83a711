// The Sender Rewriting Scheme for mail forwarded to other servers. A copy relayed with the
// original sender's envelope address fails SPF at the next hop (this server is not in the
// sender domain's SPF record), and DMARC follows; so it leaves with an address on the hosted
// domain that forwarded it, `SRS0=HHHH=TT=orig-domain=orig-local@hosted-domain`, which only
// this server can make (HHHH is an HMAC with a secret kept in the data dir) and which stops
// working after some days (TT is the day it was made). A bounce sent back to that address is
// routed to the original sender. The format is libsrs2's and postsrsd's: base32 day stamp
// modulo 1024, a base64 HMAC-SHA1 cut to 4 characters, compared without regard to case.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAtomic } from '../fs/durable.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY_MS = 86_400_000;
/** Day stamps repeat every 1024 days (two base32 characters). */
const STAMP_CYCLE = 1024;
const HASH_LENGTH = 4;
const SECRET_FILE = 'srs-secret';

/** What an SRS0 address on a hosted domain comes to. */
export type SrsReversal = { ok: true; address: string } | { ok: false; reason: string };

export class Srs {
  constructor(
    private readonly secret: Buffer,
    /** How many days an address made by forward() is honoured. */
    private readonly maxAgeDays: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The secret in DATA_DIR/srs-secret, made (32 random bytes, owner-only) the first time. It
   * must stay the same across restarts, or the bounces of mail already forwarded are refused.
   */
  static async open(dataDir: string, maxAgeDays: number): Promise<Srs> {
    const file = join(dataDir, SECRET_FILE);
    const read = () => {
      const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
      if (secret.length < 16) throw new Error(`${file} holds no usable secret: remove it to make a new one`);
      return secret;
    };
    try {
      return new Srs(read(), maxAgeDays);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Made once: of daemons starting together on a new data dir, the first to link it wins and all use its secret.
    const secret = randomBytes(32);
    return new Srs((await createAtomic(file, `${secret.toString('hex')}\n`)) ? secret : read(), maxAgeDays);
  }

  /** The envelope sender for a copy of mail from `sender` that `domain` forwards elsewhere. */
  forward(sender: string, domain: string, at = this.now()): string {
    const i = sender.lastIndexOf('@');
    if (i <= 0) return sender;
    const local = sender.slice(0, i);
    const host = sender.slice(i + 1);
    const stamp = dayStamp(at);
    return `SRS0=${this.hash(stamp, host, local)}=${stamp}=${host}=${local}@${domain}`;
  }

  /** Whether a local part is one forward() makes (and reverse() should judge). */
  static isSrs(local: string): boolean {
    return /^srs0[=+-]/i.test(local);
  }

  /** The original sender an SRS0 local part stands for, or why it is refused. */
  reverse(local: string): SrsReversal {
    const m = /^srs0[=+-]([^=]+)=([^=]{2})=([^=]+)=(.+)$/i.exec(local);
    if (!m) return { ok: false, reason: 'not a valid SRS address' };
    const [, hash, stamp, host, user] = m;
    const expected = this.hash(stamp.toUpperCase(), host, user);
    const a = Buffer.from(hash.toLowerCase());
    const b = Buffer.from(expected.toLowerCase());
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return { ok: false, reason: 'SRS address hash does not match' };
    const made = stampValue(stamp);
    if (made < 0) return { ok: false, reason: 'not a valid SRS address' };
    const age = (dayNumber(this.now()) - made + STAMP_CYCLE) % STAMP_CYCLE;
    if (age > this.maxAgeDays) return { ok: false, reason: `SRS address expired (made ${age} days ago)` };
    return { ok: true, address: `${user}@${host}` };
  }

  private hash(stamp: string, host: string, local: string): string {
    return createHmac('sha1', this.secret)
      .update(`${stamp}${host}${local}`.toLowerCase())
      .digest('base64')
      .slice(0, HASH_LENGTH);
  }
}

function dayNumber(at: number): number {
  return Math.floor(at / DAY_MS) % STAMP_CYCLE;
}

function dayStamp(at: number): string {
  const d = dayNumber(at);
  return BASE32[d >> 5] + BASE32[d & 31];
}

function stampValue(stamp: string): number {
  const hi = BASE32.indexOf(stamp[0].toUpperCase());
  const lo = BASE32.indexOf(stamp[1].toUpperCase());
  return hi < 0 || lo < 0 ? -1 : (hi << 5) | lo;
}
