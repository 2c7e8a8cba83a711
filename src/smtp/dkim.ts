// DKIM keys of the hosted domains (DATA_DIR/dkim/DOMAIN/SELECTOR.pem; of each algorithm the
// newest key signs), the DNS TXT record to publish for each, and signing of the mail vmail
// itself writes or takes from its accounts (bounces, submitted mail), so the recipient's
// provider can tell them from forgeries. Signing is mailauth's (relaxed/relaxed): rsa-sha256,
// and ed25519-sha256 (RFC 8463) as a second signature when the domain also has such a key,
// both in one pass over the message, on a worker thread (dkim-worker.ts).
import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DkimAlgorithm, DkimView } from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { mkdirDurable, writeAtomic } from '../support/durable.js';
import { DKIM_WORKER } from '../support/package-root.js';
import { WorkerPool } from '../support/worker-pool.js';
import type { loadDkimSign } from './mailauth-keys.js';

const generate = promisify(generateKeyPair);
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** The algorithms a key may have, in the order their signatures are written. */
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa', 'ed25519'];

interface Key {
  selector: string;
  privateKey: string;
  algorithm: DkimAlgorithm;
}

type MailauthSign = Awaited<ReturnType<typeof loadDkimSign>>;
type SignOptions = Parameters<MailauthSign>[1] & { signingDomain: string };

/** What dkim-worker.ts is given: the message and mailauth's options for it. */
export interface DkimJob {
  message: Uint8Array;
  options: SignOptions;
}
/** What it answers: the signature fields to put on top, or why there are none. */
export type DkimAnswer = { id: number } & (
  | { signatures: string; error?: undefined }
  | { error: string; signatures?: undefined }
);

/**
 * The signing workers, shared by every DkimKeys of the process. Up to two (one on a machine of
 * two cores, so the event loop keeps the other): a signature takes under a millisecond, and
 * more workers would only take cores from the sessions. A message still being signed after 30
 * s (a 25 MB one takes about 0.1 s) fails alone, and its worker is replaced.
 */
const signing = new WorkerPool<DkimJob, DkimAnswer>(
  DKIM_WORKER,
  Math.max(1, Math.min(2, availableParallelism() - 1)),
  'DKIM signing',
  30_000,
);

export class DkimKeys {
  /** A domain's signing keys: the newest of each algorithm, RSA first. */
  private readonly keys = new Map<string, Key[]>();
  /** Each domain folder's modification time when its keys were read. */
  private readonly readAt = new Map<string, number>();

  /**
   * Reads the keys in `dir`; the newest file of each algorithm of a domain is the one that
   * signs. A domain's keys are read again when its folder changed: daemons sharing a mail root
   * sign with a key another one made (`vmail domains dkim`) from their next message on.
   */
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const domain of readdirSync(dir)) this.fresh(domain);
  }

  /** Reads `domain`'s keys again if its folder changed since they were read. */
  private fresh(domain: string): void {
    const folder = join(this.dir, domain);
    let at: number;
    try {
      at = statSync(folder).mtimeMs;
    } catch (err) {
      // No folder: the domain has no key (a name that is no domain's has none either).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR')
        throw err;
      this.keys.delete(domain);
      this.readAt.delete(domain);
      return;
    }
    if (this.readAt.get(domain) === at) return;
    const files = readdirSync(folder)
      .filter((f) => f.endsWith('.pem'))
      .map((f) => ({ f, at: statSync(join(folder, f)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    const newest = new Map<DkimAlgorithm, Key>();
    for (const { f } of files) {
      const privateKey = readFileSync(join(folder, f), 'utf8');
      const algorithm = keyType(privateKey);
      // A file that is no key, or a key of another type (an admin's), signs nothing: mail
      // is signed with the keys that work rather than held up by one that cannot.
      if (algorithm && !newest.has(algorithm))
        newest.set(algorithm, { selector: f.slice(0, -4), privateKey, algorithm });
    }
    const keys = DKIM_ALGORITHMS.flatMap((a) => newest.get(a) ?? []);
    if (keys.length) this.keys.set(domain, keys);
    else this.keys.delete(domain);
    this.readAt.set(domain, at);
  }

  /** The RSA key that signs for `domain` (ARC seals are RSA only, RFC 8617), or null. */
  signingKey(domain: string): Readonly<Key> | null {
    this.fresh(domain);
    return this.keys.get(domain)?.find((k) => k.algorithm === 'rsa') ?? null;
  }

  /** The key of `algorithm` that signs `domain`'s mail and its record, or null when it has none. */
  view(domain: string, algorithm: DkimAlgorithm = 'rsa'): DkimView | null {
    this.fresh(domain);
    const key = this.keys.get(domain)?.find((k) => k.algorithm === algorithm);
    return key ? record(domain, key, false) : null;
  }

  /** Every key that signs `domain`'s mail (RSA first) with its record. */
  views(domain: string): DkimView[] {
    this.fresh(domain);
    return (this.keys.get(domain) ?? []).map((k) => record(domain, k, false));
  }

  /**
   * Makes a new key for `domain` (2048-bit RSA, or ed25519) under `selector` (default: vmail
   * and the year and month, e.g. vmail202611, with an `e` for ed25519), which signs from now
   * on. A selector in use is refused: the old key's record must stay published until mail
   * signed with it has been delivered.
   */
  async create(domain: string, selector?: string, algorithm: DkimAlgorithm = 'rsa'): Promise<DkimView> {
    const s = (selector ?? defaultSelector(algorithm)).toLowerCase();
    if (!SELECTOR.test(s))
      throw new InputError(`selector ${JSON.stringify(s.slice(0, 70))}: use letters, digits and hyphens (at most 63)`);
    const file = join(this.dir, domain, `${s}.pem`);
    if (existsSync(file))
      throw new InputError(`${domain} already has a key with selector ${s}: give a new one with --selector NAME`);
    const pair = algorithm === 'ed25519' ? await generate('ed25519') : await generate('rsa', { modulusLength: 2048 });
    const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await mkdirDurable(join(this.dir, domain));
    await writeAtomic(file, privateKey);
    const key = { selector: s, privateKey, algorithm };
    this.keys.set(domain, [...(this.keys.get(domain) ?? []).filter((k) => k.algorithm !== algorithm), key]);
    this.keys.get(domain)!.sort((a, b) => DKIM_ALGORITHMS.indexOf(a.algorithm) - DKIM_ALGORITHMS.indexOf(b.algorithm));
    return record(domain, key, true);
  }

  /** `message` with a DKIM-Signature for each of `domain`'s keys, or as it is when it has none. */
  async sign(domain: string, message: Buffer): Promise<Buffer> {
    this.fresh(domain);
    const keys = this.keys.get(domain);
    if (!keys?.length) return message;
    const signatureData = keys.map((k) => ({
      signingDomain: domain,
      selector: k.selector,
      privateKey: k.privateKey,
      algorithm: `${k.algorithm}-sha256`,
      canonicalization: 'relaxed/relaxed',
    }));
    // The signer reads signatureData alone (the top-level key fields its types ask for are
    // mailauth's index.js wrapper's); given as the types want, with the first key on top.
    // The worker loads mailauth when it starts, and parses each key once (mailauth-keys.ts).
    // One copy of the message, moved to the worker: a Buffer is often a view into a larger
    // buffer, which a message to a worker would copy whole, and more than once.
    const bytes = new Uint8Array(message);
    const { signatures, error } = await signing.run(
      // The time of t= given, not read by mailauth twice (once for the header it signs, once
      // for the one it writes), which a second's turn between the two made wrong.
      { message: bytes, options: { ...signatureData[0], signatureData, signTime: new Date() } },
      [bytes.buffer],
    );
    if (error !== undefined) throw new Error(error);
    return Buffer.concat([Buffer.from(signatures), message]);
  }
}

/** The algorithm of a PEM private key vmail can sign with, or null. */
function keyType(pem: string): DkimAlgorithm | null {
  try {
    const t = createPrivateKey(pem).asymmetricKeyType as DkimAlgorithm;
    return DKIM_ALGORITHMS.includes(t) ? t : null;
  } catch {
    // Not a key (or not one Node reads): the caller skips the file.
    return null;
  }
}

function defaultSelector(algorithm: DkimAlgorithm, now = new Date()): string {
  const month = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  return `vmail${month}${algorithm === 'ed25519' ? 'e' : ''}`;
}

/**
 * The TXT record that publishes a key: its name, its value, and a zone file line. An RSA key
 * is published as its SubjectPublicKeyInfo; an ed25519 key as its 32 bare octets (RFC 8463).
 */
function record(domain: string, key: Key, created: boolean): DkimView {
  const der = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' });
  // An ed25519 SPKI is a fixed 12-octet prefix and the 32-octet key.
  const p = (key.algorithm === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
  const value = `v=DKIM1; k=${key.algorithm}; p=${p}`;
  const name = `${key.selector}._domainkey.${domain}`;
  // A TXT string holds at most 255 octets: a longer value is written as several.
  const strings = value.match(/.{1,255}/g)!.map((part) => `"${part}"`);
  return {
    domain,
    selector: key.selector,
    algorithm: key.algorithm,
    name,
    value,
    zone: `${name}. IN TXT ( ${strings.join(' ')} )`,
    created,
  };
}
