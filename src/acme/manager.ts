// Certificates by ACME (RFC 8555) through acme-client: one certificate for the host name and the
// names the admin lists, ordered with HTTP-01 (the --http front answers the tokens of the order
// in flight, and only those), kept in DATA_DIR/acme/ (files.ts), renewed when a third of its
// lifetime is left. A new certificate is handed to `install` (POP3S, STLS, STARTTLS and
// submission take it for their next handshakes; sessions open keep theirs). A failed order is
// logged with the ACME server's problem detail and tried again with backoff; the certificate in
// use stays until a new one is in hand.

import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import * as acme from 'acme-client';
import type { Logger } from '../support/log.js';
import { AcmeFiles, type Held, type KeyPair } from './files.js';

export interface AcmeOptions {
  directoryUrl: string;
  email: string;
  /** A PEM file of the CA that signs the ACME server's own certificate (a private server). */
  caFile: string | null;
  /** The names the certificate covers, the host name first. */
  names: string[];
  dataDir: string;
  log: Logger;
}

/** The first wait after a failed order; each further failure doubles it, up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 30_000;
const RETRY_MAX_MS = 6 * 3600_000;
/** The longest a timer is set for (setTimeout's limit is 24.8 days): the plan is looked at again then. */
const TIMER_MAX_MS = 24 * 3600_000;
/** A token as ACME makes them (base64url, RFC 8555 section 8.3: at least 128 bits). */
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

export class AcmeManager {
  private readonly files: AcmeFiles;
  /** The key authorizations of the order in flight, by token. */
  private readonly tokens = new Map<string, string>();
  private held: Held | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  private listener: (pair: KeyPair) => void = () => {};

  constructor(private readonly opts: AcmeOptions) {
    this.files = new AcmeFiles(opts.dataDir);
    const settings = (acme.axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
    // Our own backoff retries a whole order; acme-client's would hold one request for a minute.
    settings.retryMaxAttempts = 1;
    settings.retryDefaultDelay = 1;
    if (opts.caFile) acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(opts.caFile) });
  }

  /** Makes the folder and reads the certificate kept there (served from the start), if any. */
  async load(): Promise<KeyPair | null> {
    await this.files.prepare();
    try {
      this.held = await this.files.certificate();
    } catch (err) {
      this.opts.log.warning('acme certificate kept is not used', {
        path: `${this.files.dir}/certificate.pem`,
        why: (err as Error).message,
      });
    }
    return this.held ? { cert: this.held.cert, key: this.held.key } : null;
  }

  /** Starts ordering (now, when there is no certificate for the names) and renewing. */
  start(listener: (pair: KeyPair) => void): void {
    this.listener = listener;
    this.plan();
  }

  /** The key authorization for `token` while its order is in flight, else null. */
  challenge(token: string): string | null {
    if (!TOKEN.test(token)) return null;
    return this.tokens.get(token) ?? null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {
      // The order's failure was logged where it failed; a stop does not wait for another.
    });
  }

  /** When the next order is due: now without a certificate for every name, else at 2/3 of its life. */
  private plan(): void {
    if (this.stopped) return;
    const h = this.held;
    const covers = h !== null && this.opts.names.every((n) => h.names.includes(n));
    const due = covers ? h.notAfter - (h.notAfter - h.notBefore) / 3 : Date.now();
    if (covers) this.opts.log.info('acme renewal planned', { at: new Date(due).toISOString(), serial: h.serial });
    this.after(due - Date.now());
  }

  private after(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(ms, TIMER_MAX_MS));
    this.timer = setTimeout(() => {
      this.timer = null;
      if (wait < ms) return this.plan();
      this.running = this.order().finally(() => {
        this.running = null;
      });
    }, wait);
    this.timer.unref();
  }

  private async order(): Promise<void> {
    const { log, names } = this.opts;
    log.notice('acme order', { names: names.join(','), server: this.opts.directoryUrl });
    try {
      // acme-client's forge CSR and its step-by-step calls, not crypto.createCsr and auto():
      // those parse the CSR with @peculiar/asn1-schema, of which this install holds two copies
      // ("Cannot get schema for 'CertificationRequest'"). The key is RSA 2048.
      const [key, csr] = await acme.forge.createCsr({ commonName: names[0], altNames: names });
      const chain = await this.issue(csr);
      if (this.stopped) return;
      const held = await this.files.saveCertificate(key, chain);
      this.held = held;
      this.failures = 0;
      log.notice('acme certificate installed', {
        names: held.names.join(','),
        serial: held.serial,
        not_after: new Date(held.notAfter).toISOString(),
      });
      this.listener({ cert: held.cert, key: held.key });
      this.plan();
    } catch (err) {
      this.tokens.clear();
      this.failures++;
      const retry = Math.min(RETRY_FIRST_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
      log.error('acme order failed', {
        names: names.join(','),
        problem: problemOf(err),
        attempt: this.failures,
        retry_in_s: Math.round(retry / 1000),
        serving: this.held ? `serial ${this.held.serial} until ${new Date(this.held.notAfter).toISOString()}` : 'none',
      });
      this.after(retry);
    }
  }

  /** One order: the account, the HTTP-01 challenges (answered by the --http front), the chain. */
  private async issue(csr: Buffer): Promise<string> {
    const client = new acme.Client({ directoryUrl: this.opts.directoryUrl, accountKey: await this.accountKey() });
    await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${this.opts.email}`] });
    const order = await client.createOrder({ identifiers: this.opts.names.map((value) => ({ type: 'dns', value })) });
    try {
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue;
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) throw new Error(`the ACME server offers no http-01 challenge for ${authz.identifier.value}`);
        this.tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }
    } finally {
      this.tokens.clear();
    }
    return client.getCertificate(await client.finalizeOrder(order, csr));
  }

  /** The account key kept, or a new one (ECDSA P-256) kept from now on. */
  private async accountKey(): Promise<Buffer> {
    const kept = await this.files.accountKey();
    if (kept) return kept;
    const key = await acme.crypto.createPrivateEcdsaKey();
    await this.files.saveAccountKey(key);
    this.opts.log.notice('acme account key made', { path: `${this.files.dir}/account.key` });
    return key;
  }
}

/** What went wrong, in one line: the ACME server's problem detail when it sent one. */
function problemOf(err: unknown): string {
  const e = err as Error & { response?: { data?: { type?: string; detail?: string } } };
  const doc = e.response?.data;
  const text = doc?.detail ? `${doc.type ?? 'problem'}: ${doc.detail}` : e.message || String(err);
  return text.replace(/\s+/g, ' ').slice(0, 500);
}
