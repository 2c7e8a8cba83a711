// The DNS lookups of direct delivery (mx-delivery.ts) and MTA-STS (mta-sts.ts): a domain's MX
// hosts (RFC 5321 section 5.1: the domain's own address when it has no MX; RFC 7505's null MX),
// a host's addresses, TXT records. Through the --resolver the admin names, else the system's,
// each query bounded in time (a server that does not answer is a temporary failure: the message
// waits). CNAMEs are followed by the resolver library (c-ares), as far as the server answers them.
import { Resolver } from 'node:dns/promises';

/** Where a domain's mail goes: its MX hosts, best first; `implicit` when it has no MX (its own A/AAAA). */
export type MxAnswer =
  | { kind: 'mx'; hosts: { name: string; preference: number }[] }
  | { kind: 'implicit'; hosts: { name: string; preference: number }[] }
  | { kind: 'null' }
  | { kind: 'nxdomain' };

/** A lookup that failed for now (a timeout, SERVFAIL, a refused query): try again later. */
export class DnsTemporaryError extends Error {}

/** Answers that mean "no such record" rather than "ask again later". */
const ABSENT = new Set(['ENODATA', 'ENOTFOUND', 'NOTFOUND']);

export class OutboundDns {
  private readonly resolver: Resolver;

  constructor(server: string | null, timeoutMs = 2000) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (server) this.resolver.setServers([server]);
  }

  /** The MX answer for `domain`; throws DnsTemporaryError when the DNS does not answer. */
  async mx(domain: string): Promise<MxAnswer> {
    let records: { exchange: string; priority: number }[];
    try {
      records = await this.resolver.resolveMx(domain);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
      if (code !== 'ENODATA') throw temporary(`MX of ${domain}`, err);
      // No MX: the domain itself, when it has an address (RFC 5321 5.1).
      const addresses = await this.addresses(domain);
      return addresses.length ? { kind: 'implicit', hosts: [{ name: domain, preference: 0 }] } : { kind: 'nxdomain' };
    }
    // RFC 7505: a single MX of "." (c-ares gives it as an empty name) says the domain takes no mail.
    if (records.some((r) => r.exchange === '' || r.exchange === '.')) return { kind: 'null' };
    const hosts = records
      .map((r) => ({ name: r.exchange.toLowerCase().replace(/\.$/, ''), preference: r.priority }))
      .sort((a, b) => a.preference - b.preference);
    return { kind: 'mx', hosts };
  }

  /** IPv4 then IPv6 addresses of `host` (none when it has none); throws DnsTemporaryError. */
  async addresses(host: string): Promise<string[]> {
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host), this.resolver.resolve6(host)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length) return found;
    for (const r of [v4, v6])
      if (r.status === 'rejected' && !ABSENT.has((r.reason as NodeJS.ErrnoException).code ?? ''))
        throw temporary(`address of ${host}`, r.reason);
    return [];
  }

  /** The TXT records of `name`, each joined into one string; [] when it has none. */
  async txt(name: string): Promise<string[]> {
    try {
      return (await this.resolver.resolveTxt(name)).map((parts) => parts.join(''));
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw temporary(`TXT of ${name}`, err);
    }
  }
}

function temporary(what: string, err: unknown): DnsTemporaryError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new DnsTemporaryError(`DNS lookup of ${what} failed: ${code}`);
}
