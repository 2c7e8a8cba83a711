// DKIM keys of the hosted domains (DATA_DIR/dkim/DOMAIN/SELECTOR.pem, the newest one signs),
// the DNS TXT record to publish for each, and signing of the mail vmail itself writes (the
// bounces of forwarded mail), so the original sender's provider can tell them from forgeries.
// Signing is nodemailer's (relaxed/relaxed, rsa-sha256), through its stream transport.
import { createPublicKey, generateKeyPair } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import type { DkimView } from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { mkdirDurable, writeAtomic } from '../support/durable.js';

const generate = promisify(generateKeyPair);
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

interface Key {
  selector: string;
  privateKey: string;
}

export class DkimKeys {
  private readonly keys = new Map<string, Key>();
  /** Each domain folder's modification time when its keys were read. */
  private readonly readAt = new Map<string, number>();
  private readonly signer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

  /**
   * Reads the keys in `dir`; the newest file of a domain is the one that signs. A domain's keys
   * are read again when its folder changed: daemons sharing a mail root sign with a key another
   * one made (`vmail domains dkim`) from their next message on.
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
    if (files.length)
      this.keys.set(domain, {
        selector: files[0].f.slice(0, -4),
        privateKey: readFileSync(join(folder, files[0].f), 'utf8'),
      });
    else this.keys.delete(domain);
    this.readAt.set(domain, at);
  }

  /** The key that signs for `domain` (DKIM, ARC), or null when it has none. */
  signingKey(domain: string): Readonly<Key> | null {
    this.fresh(domain);
    return this.keys.get(domain) ?? null;
  }

  /** The key that signs `domain`'s mail and its record, or null when it has none. */
  view(domain: string): DkimView | null {
    this.fresh(domain);
    const key = this.keys.get(domain);
    return key ? record(domain, key, false) : null;
  }

  /**
   * Makes a new 2048-bit RSA key for `domain` under `selector` (default: vmail and the year
   * and month, e.g. vmail202611), which signs from now on. A selector in use is refused: the
   * old key's record must stay published until mail signed with it has been delivered.
   */
  async create(domain: string, selector = defaultSelector()): Promise<DkimView> {
    const s = selector.toLowerCase();
    if (!SELECTOR.test(s))
      throw new InputError(
        `selector ${JSON.stringify(selector.slice(0, 70))}: use letters, digits and hyphens (at most 63)`,
      );
    const file = join(this.dir, domain, `${s}.pem`);
    if (existsSync(file))
      throw new InputError(`${domain} already has a key with selector ${s}: give a new one with --selector NAME`);
    const { privateKey } = await generate('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await mkdirDurable(join(this.dir, domain));
    await writeAtomic(file, privateKey);
    const key = { selector: s, privateKey };
    this.keys.set(domain, key);
    return record(domain, key, true);
  }

  /** `message` with a DKIM-Signature of `domain`'s key, or as it is when the domain has none. */
  async sign(domain: string, message: Buffer): Promise<Buffer> {
    const key = this.signingKey(domain);
    if (!key) return message;
    const info = await this.signer.sendMail({
      envelope: { from: `postmaster@${domain}`, to: [`postmaster@${domain}`] },
      raw: message,
      dkim: { domainName: domain, keySelector: key.selector, privateKey: key.privateKey },
    });
    return info.message as Buffer;
  }
}

function defaultSelector(now = new Date()): string {
  return `vmail${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The TXT record that publishes a key: its name, its value, and a zone file line. */
function record(domain: string, key: Key, created: boolean): DkimView {
  const spki = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  const value = `v=DKIM1; k=rsa; p=${spki}`;
  const name = `${key.selector}._domainkey.${domain}`;
  // A TXT string holds at most 255 octets: a longer value is written as several.
  const strings = value.match(/.{1,255}/g)!.map((part) => `"${part}"`);
  return { domain, selector: key.selector, name, value, zone: `${name}. IN TXT ( ${strings.join(' ')} )`, created };
}
