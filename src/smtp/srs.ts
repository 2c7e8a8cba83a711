// The Sender Rewriting Scheme for mail forwarded to other servers. A copy relayed with the
// original sender's envelope address fails SPF at the next hop (this server is not in the
// sender domain's SPF record), and DMARC follows; so it leaves with an address on the hosted
// domain that forwarded it, `SRS0=HHHH=TT=orig-domain=orig-local@hosted-domain`, which only
// this server can make (HHHH is an HMAC with a secret kept in the data dir) and which stops
// working after some days (TT is the day it was made). A bounce sent back to that address is
// routed to the original sender. The format is libsrs2's and postsrsd's: base32 day stamp
// modulo 1024, a base64 HMAC-SHA1 of the lowercased stamp, domain and local part, cut to 8
// characters and compared case-sensitively: 64^8 (2.8e14) values, so a forgery takes 1.4e14
// tries on average (postsrsd reads them with `hash-length = 8`). libsrs2's default of 4
// characters compared without case left about 2 million, a minute's guessing. Addresses
// made with those 4 characters before the upgrade are honoured, case-sensitively, until
// they expire, and only in a data dir that had them (the upgrade day is kept beside the secret).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAtomic } from '../support/durable.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY_MS = 86_400_000;
/** Day stamps repeat every 1024 days (two base32 characters). */
const STAMP_CYCLE = 1024;
const HASH_LENGTH = 8;
const LEGACY_HASH_LENGTH = 4;
const SECRET_FILE = 'srs-secret';
/** When this data dir's SRS hashes became 8 characters (ms since the epoch; 0: always were). */
const LONG_SINCE_FILE = 'srs-long-hash-since';

/** RFC 5321's Dot-string (RFC 6531's with UTF-8): a local part that needs no quotes. */
const DOT_STRING =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+)*$/u;

/**
 * A sender in its plain form: a quoted local part whose content is a Dot-string is that
 * Dot-string ("alice"@x is alice@x, RFC 5322 3.4.1); null when the quotes are needed ("a b",
 * "a@b", "a(b)"), a local part that no SRS address can carry and a relay would re-parse.
 */
export function plainSender(address: string): string | null {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  if (!local.startsWith('"')) return address;
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(local);
  const content = m ? m[1].replace(/\\(.)/g, '$1') : '';
  return DOT_STRING.test(content) ? content + (at < 0 ? '' : address.slice(at)) : null;
}

/** What an SRS0 address on a hosted domain comes to. */
export type SrsReversal = { ok: true; address: string } | { ok: false; reason: string };

export class Srs {
  constructor(
    private readonly secret: Buffer,
    /** How many days an address made by forward() is honoured. */
    private readonly maxAgeDays: number,
    private readonly now: () => number = Date.now,
    /** When 4-character hashes stopped being made here (0: never made; none honoured). */
    private readonly legacyUntil = 0,
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
    let secret: Buffer;
    let made = false;
    try {
      secret = read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Made once: of daemons starting together on a new data dir, the first to link it wins
      // and all use its secret.
      const mine = randomBytes(32);
      secret = (await createAtomic(file, `${mine.toString('hex')}\n`)) ? mine : read();
      made = true;
    }
    const sinceFile = join(dataDir, LONG_SINCE_FILE);
    const readSince = () => {
      const since = Number(readFileSync(sinceFile, 'utf8').trim());
      if (!Number.isSafeInteger(since) || since < 0) throw new Error(`${sinceFile} holds no time: remove it`);
      return since;
    };
    let since: number;
    try {
      since = readSince();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // A secret that was here already made 4-character hashes until now; a new one never did.
      since = made ? 0 : Date.now();
      if (!(await createAtomic(sinceFile, `${since}\n`))) since = readSince();
    }
    return new Srs(secret, maxAgeDays, Date.now, since);
  }

  /**
   * The envelope sender for a copy of mail from `sender` that `domain` forwards elsewhere.
   * A sender no SRS address can carry leaves as it is when it is a plain address (a domain
   * literal: bob@[192.0.2.1]), and as the null sender when it is not (a quoted local part
   * queued before intake refused them): never as something a relay would read otherwise.
   */
  forward(sender: string, domain: string, at = this.now()): string {
    const i = sender.lastIndexOf('@');
    if (i <= 0) return sender;
    const local = sender.slice(0, i);
    const host = sender.slice(i + 1);
    if (!DOT_STRING.test(local)) return '';
    if (host.startsWith('[')) return sender;
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
    const made = stampValue(stamp);
    if (made < 0) return { ok: false, reason: 'not a valid SRS address' };
    const now = this.now();
    const age = (dayNumber(now) - made + STAMP_CYCLE) % STAMP_CYCLE;
    // A 4-character hash only from before the upgrade (made on its day or earlier), and only
    // while such an address can still be within its age.
    const legacy =
      hash.length === LEGACY_HASH_LENGTH &&
      this.legacyUntil > 0 &&
      age >= Math.floor(now / DAY_MS) - Math.floor(this.legacyUntil / DAY_MS);
    const length = legacy ? LEGACY_HASH_LENGTH : HASH_LENGTH;
    // Case-sensitive: base64's upper and lower case letters are different values.
    const a = Buffer.from(hash);
    const b = Buffer.from(this.hash(stamp.toUpperCase(), host, user, length));
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return { ok: false, reason: 'SRS address hash does not match' };
    if (age > this.maxAgeDays) return { ok: false, reason: `SRS address expired (made ${age} days ago)` };
    return { ok: true, address: `${user}@${host}` };
  }

  private hash(stamp: string, host: string, local: string, length = HASH_LENGTH): string {
    return createHmac('sha1', this.secret)
      .update(`${stamp}${host}${local}`.toLowerCase())
      .digest('base64')
      .slice(0, length);
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
