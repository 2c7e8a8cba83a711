// Direct delivery (no --relay): a queued message goes to its recipient domain's MX hosts in
// preference order (dns.ts), port 25, EHLO with our host name, STARTTLS whenever offered
// (unverified, as MTAs do), or as the domain's MTA-STS policy demands (mta-sts.ts). A host that
// cannot be reached or answers 4xx passes to the next; a 5xx to the message is final. Each
// attempt tries a bounded number of hosts, as Postfix does (smtp_mx_address_limit). The SMTP is
// nodemailer's, over connections cached per MX address (mx-pool.ts); a cached connection the MX
// dropped costs the message nothing: it goes again on a fresh one. The queue that calls it is
// forward-queue.ts.
import { networkInterfaces } from 'node:os';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { domainOf } from '../model/names.js';
import type { Logger } from '../support/log.js';
import type { MxAnswer, OutboundDns } from './dns.js';
import { type MtaSts, mxMatches, type StsPolicy } from './mta-sts.js';
import { MxPool, sendOnce } from './mx-pool.js';

/** A failure no retry will cure: the message bounces now, with `status` in its DSN. */
export class PermanentFailure extends Error {
  constructor(
    message: string,
    readonly status: string,
  ) {
    super(message);
  }
}

export interface MxDeliveryOptions {
  hostname: string;
  dns: OutboundDns;
  sts: MtaSts;
  /** The address our SMTP listener is bound to: an MX there is this server (a loop). */
  listenHost: string;
  log: Logger;
  /** 25; another port only for tests that cannot bind it. */
  port?: number;
}

/** Connections one attempt makes at most (Postfix's smtp_mx_address_limit). */
const MAX_CONNECTIONS = 5;
/** MX hosts whose addresses one attempt looks up at most. */
const MAX_HOSTS = 10;

/** A message to send: its envelope, its bytes, and how long each MX host may take to answer. */
interface Outgoing {
  id: string;
  from: string;
  to: string[];
  raw: Buffer;
  timeoutMs: number;
}

interface Target {
  host: string;
  address: string;
  /** enforce: verified TLS or nothing; testing: tried so, then as opportunistic with a log line. */
  tls: 'opportunistic' | 'enforce' | 'testing';
}

export class MxDelivery {
  private readonly pool = new MxPool();

  constructor(private readonly opts: MxDeliveryOptions) {}

  /** Closes every cached connection (the queue's stop). */
  close(): void {
    this.pool.close();
  }

  /**
   * Delivers `raw` to `to` (all in one domain). Resolves with what the MX said; throws
   * PermanentFailure to bounce, or an Error whose message is the last answer to wait with.
   */
  async send(m: Outgoing): Promise<string> {
    const domain = domainOf(m.to[0]).toLowerCase();
    const answer = await this.opts.dns.mx(domain);
    if (answer.kind === 'null') throw new PermanentFailure(`${domain} accepts no mail (null MX, RFC 7505)`, '5.1.10');
    if (answer.kind === 'nxdomain') throw new PermanentFailure(`${domain} does not exist in the DNS`, '5.1.2');
    const policy = await this.opts.sts.policy(domain);
    const reasons: string[] = [];
    const tries = { connections: 0 };
    for (const target of await this.targets(domain, answer, policy, reasons)) {
      if (tries.connections >= MAX_CONNECTIONS) break;
      tries.connections++;
      const result = await this.tryTarget(target, m, domain, reasons, tries);
      if (result !== null) return result;
    }
    const tried = answer.hosts.length > MAX_HOSTS ? ` (${MAX_HOSTS} of ${answer.hosts.length} MX hosts looked at)` : '';
    throw new Error(`${reasons.at(-1) ?? `no MX host of ${domain} could be tried`}${tried}`);
  }

  /** The hosts and addresses to try, best first, MTA-STS applied; a loop back to us bounces. */
  private async targets(
    domain: string,
    answer: Exclude<MxAnswer, { kind: 'null' | 'nxdomain' }>,
    policy: StsPolicy | null,
    reasons: string[],
  ): Promise<Target[]> {
    const own = ownAddresses(this.opts.listenHost);
    const out: Target[] = [];
    for (const { name } of answer.hosts.slice(0, MAX_HOSTS)) {
      if (name === this.opts.hostname.toLowerCase())
        throw new PermanentFailure(`mail for ${domain} loops back to myself (MX ${name})`, '5.4.6');
      let tls: Target['tls'] = 'opportunistic';
      if (policy?.mode === 'enforce' || policy?.mode === 'testing') {
        if (!mxMatches(name, policy.mx)) {
          const why = `MTA-STS: ${name} is not an MX that ${domain}'s policy names`;
          if (policy.mode === 'enforce') {
            reasons.push(why);
            continue;
          }
          this.opts.log.warning('mta-sts testing failure', { domain, mx: name, reason: why });
        }
        tls = policy.mode;
      }
      const addresses = await this.opts.dns.addresses(name);
      if (addresses.length === 0) reasons.push(`${name} has no address`);
      for (const address of addresses) {
        if (own.has(address))
          throw new PermanentFailure(`mail for ${domain} loops back to myself (MX ${name}[${address}])`, '5.4.6');
        out.push({ host: name, address, tls });
      }
      if (out.length >= MAX_CONNECTIONS) break;
    }
    return out;
  }

  /** One connection: the answer on success, null to go on to the next host; throws to bounce. */
  private async tryTarget(
    t: Target,
    m: Outgoing,
    domain: string,
    reasons: string[],
    tries: { connections: number },
  ): Promise<string | null> {
    const at = `${t.host}[${t.address}]`;
    try {
      const response = await this.connect(t, t.tls !== 'opportunistic', m, tries);
      return `${at} said: ${response}`;
    } catch (err) {
      const e = err as Error & { code?: string; responseCode?: number; command?: string; response?: string };
      const tlsFault = e.code === 'ETLS' || /certificate|STARTTLS/i.test(e.message);
      if (t.tls !== 'opportunistic' && tlsFault) {
        const why = e.message.includes('upgrading connection')
          ? `MTA-STS: ${at} offers no STARTTLS`
          : `MTA-STS: ${at} has no valid TLS certificate for ${t.host}: ${e.message}`;
        if (t.tls === 'enforce') {
          reasons.push(why);
          this.opts.log.warning('mta-sts refused', { id: m.id, domain, mx: t.host, reason: why });
          return null;
        }
        this.opts.log.warning('mta-sts testing failure', { id: m.id, domain, mx: t.host, reason: why });
        return this.tryTarget({ ...t, tls: 'opportunistic' }, m, domain, reasons, tries);
      }
      const said = (e.response ?? e.message).split('\n')[0];
      const code = e.responseCode;
      // A 5xx to the message (not to the greeting or EHLO) is the domain's last word.
      if (code && code >= 500 && !['CONN', 'EHLO', 'HELO', 'STARTTLS'].includes(e.command ?? ''))
        throw new PermanentFailure(`${at} said: ${said}`, /\b5\.\d{1,3}\.\d{1,3}\b/.exec(said)?.[0] ?? '5.0.0');
      reasons.push(code ? `${at} said: ${said}` : `${at}: ${said}`);
      return null;
    }
  }

  /**
   * Sends over a cached connection to `t`; one the MX closed or broke before answering the
   * message (a reset, a timeout, a 421 at an idle connection) is followed by one fresh connection,
   * counted against the attempt's MAX_CONNECTIONS.
   */
  private async connect(t: Target, verified: boolean, m: Outgoing, tries: { connections: number }): Promise<string> {
    const timeout = m.timeoutMs;
    const options: SMTPTransport.Options = {
      host: t.address,
      port: this.opts.port ?? 25,
      secure: false,
      name: this.opts.hostname,
      requireTLS: verified,
      opportunisticTLS: !verified,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      tls: { servername: t.host, rejectUnauthorized: verified },
    };
    const key = `${t.address}|${this.opts.port ?? 25}|${t.host}|${verified}|${timeout}`;
    const envelope = { from: m.from, to: m.to, raw: m.raw };
    try {
      return await this.pool.send(key, options, envelope);
    } catch (err) {
      if (!dropped(err) || tries.connections >= MAX_CONNECTIONS) throw err;
      tries.connections++;
      this.opts.log.info('mx connection dropped', {
        id: m.id,
        mx: `${t.host}[${t.address}]`,
        error: ((err as Error).message || String(err)).split('\n')[0],
        next: 'a fresh connection',
      });
      return sendOnce(options, envelope);
    }
  }
}

/**
 * Whether a send failed because its connection went away rather than because the MX answered the
 * message: no SMTP answer at all (reset, closed, timed out) or a 421 (the MX closing the
 * connection), and not a connection that could not be made in the first place.
 */
function dropped(err: unknown): boolean {
  const e = err as { responseCode?: number; command?: string; code?: string; message?: string };
  if (e.command === 'CONN' || e.code === 'ETLS' || e.code === 'EAUTH') return false;
  // A TLS fault is the MX's setting, not a dropped connection (tryTarget judges it).
  if (/certificate|STARTTLS/i.test(e.message ?? '')) return false;
  return e.responseCode === undefined || e.responseCode === 421;
}

/** The addresses of this host that `listenHost` covers (all of its interfaces for 0.0.0.0 or ::). */
function ownAddresses(listenHost: string): Set<string> {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return new Set([listenHost]);
  const all = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) all.add(a.address);
  return all;
}
