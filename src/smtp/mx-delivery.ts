// Direct delivery (no --relay): a queued message goes to its recipient domain's MX hosts in
// preference order (dns.ts), port 25, EHLO with our host name, STARTTLS whenever offered
// (unverified, as MTAs do), or as the domain's MTA-STS policy demands (mta-sts.ts). A host that
// cannot be reached or answers 4xx passes to the next; a 5xx to the message is final. Each
// attempt tries a bounded number of hosts, as Postfix does (smtp_mx_address_limit). The SMTP is
// nodemailer's, one connection per host tried. The queue that calls it is forward-queue.ts.
import { networkInterfaces } from 'node:os';
import nodemailer from 'nodemailer';
import { domainOf } from '../model/names.js';
import type { Logger } from '../support/log.js';
import type { MxAnswer, OutboundDns } from './dns.js';
import { type MtaSts, mxMatches, type StsPolicy } from './mta-sts.js';

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
  constructor(private readonly opts: MxDeliveryOptions) {}

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
    let connections = 0;
    for (const target of await this.targets(domain, answer, policy, reasons)) {
      if (connections >= MAX_CONNECTIONS) break;
      connections++;
      const result = await this.tryTarget(target, m, domain, reasons);
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
  private async tryTarget(t: Target, m: Outgoing, domain: string, reasons: string[]): Promise<string | null> {
    const at = `${t.host}[${t.address}]`;
    try {
      const response = await this.connect(t, t.tls !== 'opportunistic', m);
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
        return this.tryTarget({ ...t, tls: 'opportunistic' }, m, domain, reasons);
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

  private async connect(t: Target, verified: boolean, m: Outgoing): Promise<string> {
    const timeout = m.timeoutMs;
    const transport = nodemailer.createTransport({
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
    });
    try {
      const info = await transport.sendMail({
        envelope: { from: m.from || (false as unknown as string), to: m.to },
        raw: m.raw,
      });
      return info.response;
    } finally {
      transport.close();
    }
  }
}

/** The addresses of this host that `listenHost` covers (all of its interfaces for 0.0.0.0 or ::). */
function ownAddresses(listenHost: string): Set<string> {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return new Set([listenHost]);
  const all = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) all.add(a.address);
  return all;
}
