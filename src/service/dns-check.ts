// `vmail domains check`: each record `domains dns` names (src/model/dns-records.ts) looked up
// through --resolver (or the system's DNS), found `ok`, `missing` or `wrong` with what was
// there; and the reverse DNS of this server's address against its name, since many receivers
// refuse mail from a host whose PTR does not name it back.
import { Resolver } from 'node:dns/promises';
import type { CheckedRecord, DnsRecord } from '../model/dns-records.js';

type CheckStatus = CheckedRecord['status'];

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'NOTFOUND', 'NODATA']);

/** The DNS client: the resolver named by --resolver (HOST or HOST:PORT), else the system's. */
export function makeResolver(resolver: string | null, timeoutMs = 3000): Resolver {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (resolver) r.setServers([resolver]);
  return r;
}

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** Runs a lookup; a name with no such record is null, other failures (timeouts) are thrown. */
async function look<T>(lookup: () => Promise<T>): Promise<T | null> {
  try {
    return await lookup();
  } catch (err) {
    if (NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
}

/** The TXT strings at `name`, each record's strings joined (RFC 7208 3.3). */
async function txt(r: Resolver, name: string): Promise<string[]> {
  return ((await look(() => r.resolveTxt(name))) ?? []).map((parts) => parts.join(''));
}

/** The IPv4 and IPv6 addresses of `name`. */
async function addresses(r: Resolver, name: string): Promise<string[]> {
  const [v4, v6] = await Promise.all([look(() => r.resolve4(name)), look(() => r.resolve6(name))]);
  return [...(v4 ?? []), ...(v6 ?? [])];
}

/** Whether a record's data is what `domains dns` asks for: judged by what matters in it. */
async function judge(r: Resolver, rec: DnsRecord, host: string): Promise<{ status: CheckStatus; found: string }> {
  const verdict = (found: string[], ok: (f: string) => boolean) => ({
    status: (found.length === 0 ? 'missing' : found.some(ok) ? 'ok' : 'wrong') as CheckStatus,
    found: found.join(' | '),
  });
  if (rec.type === 'MX') {
    const mx = (await look(() => r.resolveMx(rec.name))) ?? [];
    return verdict(
      mx.map((m) => `${m.priority} ${bare(m.exchange)}`),
      (f) => f.split(' ')[1] === host,
    );
  }
  if (rec.type === 'SRV') {
    const srv = (await look(() => r.resolveSrv(rec.name))) ?? [];
    const [, , port, target] = rec.value.split(' ');
    return verdict(
      srv.map((s) => `${s.priority} ${s.weight} ${s.port} ${bare(s.name) || '.'}`),
      // Target "." is "no such service here" (RFC 2782): its port means nothing.
      (f) => f.split(' ')[3] === (bare(target) || '.') && (target === '.' || f.split(' ')[2] === port),
    );
  }
  if (rec.type === 'CNAME') {
    // A CNAME to this server, or an address record with this server's address, both do.
    const cname = (await look(() => r.resolveCname(rec.name))) ?? [];
    if (cname.length) return verdict(cname.map(bare), (f) => f === host);
    const [mine, theirs] = await Promise.all([addresses(r, host), addresses(r, rec.name)]);
    return verdict(theirs, (a) => mine.includes(a));
  }
  const found = await txt(r, rec.name);
  const tag = rec.value.split(';')[0].split(' ')[0]; // v=spf1, v=DKIM1, v=DMARC1, v=STSv1, v=TLSRPTv1
  const mine = found.filter((f) => f.toLowerCase().startsWith(tag.toLowerCase()));
  if (tag === 'v=spf1')
    return verdict(mine, (f) => {
      const terms = f.toLowerCase().split(/\s+/);
      return (
        terms.includes(`a:${host}`) || terms.includes(`+a:${host}`) || terms.includes('mx') || terms.includes('+mx')
      );
    });
  if (tag === 'v=DKIM1') {
    const key = (v: string) => /(?:^|;)\s*p=([^;]*)/.exec(v)?.[1].replace(/\s+/g, '') ?? '';
    return verdict(mine, (f) => key(f) === key(rec.value));
  }
  // DMARC, MTA-STS and TLS-RPT: any record of the kind is the domain's own choice.
  return verdict(mine, () => true);
}

/** Each record looked up; a lookup that fails (a timeout) says so as the record's `found`. */
export async function checkRecords(
  r: Resolver,
  records: readonly DnsRecord[],
  hostname: string,
): Promise<CheckedRecord[]> {
  const host = bare(hostname);
  return Promise.all(
    records.map(async (rec) => {
      try {
        return { ...rec, ...(await judge(r, rec, host)) };
      } catch (err) {
        return { ...rec, status: 'missing' as const, found: `lookup failed: ${(err as Error).message}` };
      }
    }),
  );
}

/**
 * The reverse DNS of this server's addresses: `ok` when every address's PTR names `hostname`
 * back, `missing` when the name has no address or an address no PTR, `wrong` otherwise.
 */
export async function checkReverse(r: Resolver, hostname: string): Promise<CheckedRecord> {
  const host = bare(hostname);
  const rec: DnsRecord = {
    type: 'PTR',
    name: host,
    value: `${host}.`,
    purpose: "reverse DNS: each address of this server names it back (set at your hosting provider's panel)",
  };
  try {
    const ips = await addresses(r, host);
    if (ips.length === 0) return { ...rec, status: 'missing', found: `${host} has no address` };
    const names = await Promise.all(
      ips.map(async (ip) => ({ ip, ptr: ((await look(() => r.reverse(ip))) ?? []).map(bare) })),
    );
    const found = names.map((n) => `${n.ip} -> ${n.ptr.join(', ') || 'none'}`).join(' | ');
    if (names.some((n) => n.ptr.length === 0)) return { ...rec, status: 'missing', found };
    return { ...rec, status: names.every((n) => n.ptr.includes(host)) ? 'ok' : 'wrong', found };
  } catch (err) {
    return { ...rec, status: 'missing', found: `lookup failed: ${(err as Error).message}` };
  }
}
