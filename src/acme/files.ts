// What ACME keeps in DATA_DIR/acme/ (0700): the account key (account.key) and the certificate
// in use with its key (certificate.pem: the private key, then the chain, in ONE file, so a
// crash can never pair a new key with an old certificate). Both are written whole or not at all
// (durable.ts rule 1, mode 0600); a rename replaces a planted symlink instead of writing through
// it, and nothing here is read through a symlink (O_NOFOLLOW): such a file counts as absent and
// is replaced by the next write.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirDurable, sweepTemps, writeAtomic } from '../support/durable.js';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

/** A certificate read back: the pair to serve, its names and its lifetime. */
export interface Held extends KeyPair {
  names: string[];
  notBefore: number;
  notAfter: number;
  serial: string;
}

/** The largest file read back (a chain of a few certificates and a key is a few KB). */
const MAX_FILE = 256 * 1024;
const PRIVATE_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/;
const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export class AcmeFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'acme');
  }

  /** Makes the folder (0700); a symlink or a file in its place is refused. Sweeps temps a crash left. */
  async prepare(): Promise<void> {
    let st: Stats | null = null;
    try {
      st = await lstat(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st && !st.isDirectory())
      throw new Error(`${this.dir} is not a folder (a symlink is not followed): move it away`);
    if (!st) await mkdirDurable(this.dir, 0o700);
    await sweepTemps(this.dir, 0);
  }

  /** The account key, or null when there is none (or a symlink stands in its place). */
  accountKey(): Promise<Buffer | null> {
    return readNoFollow(join(this.dir, 'account.key'));
  }

  saveAccountKey(key: Buffer): Promise<void> {
    return writeAtomic(join(this.dir, 'account.key'), key, { mode: 0o600 });
  }

  /** The certificate kept, or null when there is none or it does not hold together (logged by the caller). */
  async certificate(): Promise<Held | null> {
    const bytes = await readNoFollow(join(this.dir, 'certificate.pem'));
    return bytes ? parseHeld(bytes.toString('utf8')) : null;
  }

  /** Keeps the new key and chain together, replacing the one before whole. */
  async saveCertificate(key: Buffer, chain: string): Promise<Held> {
    const text = `${key.toString('utf8').trim()}\n${chain.trim()}\n`;
    const held = parseHeld(text);
    await writeAtomic(join(this.dir, 'certificate.pem'), text, { mode: 0o600 });
    return held;
  }
}

/** The file's bytes; null when it is missing or a symlink (ELOOP with O_NOFOLLOW). */
async function readNoFollow(path: string): Promise<Buffer | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_FILE) return null;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** The key and chain of one PEM text, checked to belong together; throws when they do not. */
export function parseHeld(text: string): Held {
  const key = PRIVATE_KEY.exec(text)?.[0];
  const certs = text.match(CERTIFICATE) ?? [];
  const [first] = certs;
  if (!key || !first) throw new Error('no private key and certificate in it');
  const leaf = new X509Certificate(first);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not match the certificate');
  const names = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
  return {
    key: Buffer.from(`${key}\n`),
    cert: Buffer.from(`${certs.join('\n')}\n`),
    names,
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
    serial: leaf.serialNumber,
  };
}
