// The DNS lookups of direct delivery (mx-delivery.ts) and MTA-STS (mta-sts.ts): a domain's MX
// hosts (RFC 5321 section 5.1: the domain's own address when it has no MX; RFC 7505's null MX),
// a host's addresses, TXT records. Through the --resolver the admin names, else the system's,
// each query bounded in time (a server that does not answer is a temporary failure: the message
// waits). CNAMEs are followed by the resolver library (c-ares), as far as the server answers them.
//
// Answers are kept in memory (AnswerCache below), as a caching resolver would keep them, so a
// queue sending to one domain does not ask four questions per message: addresses for their TTL;
// MX and TXT answers, and "no such record", for UNTIMED_MS at most (Node's resolver gives no TTL
// for them). A failure (timeout, SERVFAIL) is never kept: the next message asks again.
import { Resolver } from 'node:dns/promises';

/** How long an answer whose TTL the resolver does not give (MX, TXT, none) is kept at most. */
const UNTIMED_MS = 30_000;
/**
 * The longest an answer is kept, whatever its TTL says: a TTL of 2^31-1 s (a zone's mistake, or
 * a hostile one's) would otherwise keep a moved host's old address for the daemon's whole life.
 * Caching resolvers cap it the same way (unbound's cache-max-ttl: a day); an hour here.
 */
const MAX_KEPT_MS = 3_600_000;
/** Answers kept at most: past it the oldest goes (a queue to many domains asks again). */
const MAX_ANSWERS = 10_000;

/** Answers by question, each until it expires; bounded. */
class AnswerCache {
  private readonly answers = new Map<string, { value: unknown; until: number }>();

  constructor(private readonly now: () => number) {}

  /** The kept answer to `key`, else `ask()`'s, kept for the milliseconds `ttlMs` gives (0: not kept). */
  async get<T>(key: string, ask: () => Promise<T>, ttlMs: (value: T) => number): Promise<T> {
    const kept = this.answers.get(key);
    if (kept && kept.until > this.now()) return kept.value as T;
    if (kept) this.answers.delete(key);
    const value = await ask();
    const ms = Math.min(ttlMs(value), MAX_KEPT_MS);
    if (ms > 0) {
      if (this.answers.size >= MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(key, { value, until: this.now() + ms });
    }
    return value;
  }
}

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
  private readonly cache: AnswerCache;

  constructor(server: string | null, timeoutMs = 2000, now: () => number = Date.now) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (server) this.resolver.setServers([server]);
    this.cache = new AnswerCache(now);
  }

  /** The MX answer for `domain`; throws DnsTemporaryError when the DNS does not answer. */
  mx(domain: string): Promise<MxAnswer> {
    return this.cache.get(`mx ${domain.toLowerCase()}`, () => this.askMx(domain), untimed);
  }

  private async askMx(domain: string): Promise<MxAnswer> {
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
    const key = `a ${host.toLowerCase()}`;
    const found = await this.cache.get(
      key,
      () => this.askAddresses(host),
      (a) => (a.ttlS === null ? UNTIMED_MS : a.ttlS * 1000),
    );
    return found.addresses;
  }

  /** The addresses and their shortest TTL (null when there are none: how long is not known). */
  private async askAddresses(host: string): Promise<{ addresses: string[]; ttlS: number | null }> {
    const ttl = { ttl: true } as const;
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host, ttl), this.resolver.resolve6(host, ttl)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length) return { addresses: found.map((r) => r.address), ttlS: Math.min(...found.map((r) => r.ttl)) };
    for (const r of [v4, v6])
      if (r.status === 'rejected' && !ABSENT.has((r.reason as NodeJS.ErrnoException).code ?? ''))
        throw temporary(`address of ${host}`, r.reason);
    return { addresses: [], ttlS: null };
  }

  /** The TXT records of `name`, each joined into one string; [] when it has none. */
  txt(name: string): Promise<string[]> {
    return this.cache.get(`txt ${name.toLowerCase()}`, () => this.askTxt(name), untimed);
  }

  private async askTxt(name: string): Promise<string[]> {
    try {
      return (await this.resolver.resolveTxt(name)).map((parts) => parts.join(''));
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw temporary(`TXT of ${name}`, err);
    }
  }
}

/** How long an answer without a TTL is kept. */
const untimed = () => UNTIMED_MS;

function temporary(what: string, err: unknown): DnsTemporaryError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new DnsTemporaryError(`DNS lookup of ${what} failed: ${code}`);
}
