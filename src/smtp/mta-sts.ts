// MTA-STS (RFC 8461): a domain that publishes `_mta-sts.DOMAIN TXT "v=STSv1; id=..."` and a
// policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt says which MX hosts may take its mail
// and whether they must (enforce), should (testing) or need not (none) do so over TLS with a
// valid certificate. The policy is fetched with its certificate verified (the system's CAs and
// NODE_EXTRA_CA_CERTS), bounded (64 KB, 10 s, no redirects), and cached in DATA_DIR/mta-sts/ for
// its max_age, so a restart keeps it; a new TXT id fetches it again. A fetch that fails keeps a
// cached policy that has not expired (RFC 8461 section 5.1), else the domain has no policy.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../support/log.js';
import type { OutboundDns } from './dns.js';

export interface StsPolicy {
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  maxAgeS: number;
}

interface Cached {
  id: string;
  policy: StsPolicy;
  expiresAt: number;
}

const MAX_POLICY_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
/** RFC 8461 3.2: max_age is at most 31557600 s (a year). */
const MAX_AGE_S = 31_557_600;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

/** Whether MX host `host` matches a policy `mx:` pattern (`*.` stands for exactly one label). */
export function mxMatches(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    const pat = p.toLowerCase().replace(/\.$/, '');
    if (!pat.startsWith('*.')) return h === pat;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === pat.slice(2);
  });
}

/** The policy in `text`, or an Error saying what is wrong with it. */
export function parsePolicy(text: string): StsPolicy | Error {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) continue;
    fields.set(m[1], [...(fields.get(m[1]) ?? []), m[2]]);
  }
  if (fields.get('version')?.[0] !== 'STSv1') return new Error('its version is not STSv1');
  const mode = fields.get('mode')?.[0];
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return new Error(`its mode ${mode} is not known`);
  const maxAge = fields.get('max_age')?.[0] ?? '';
  if (!/^\d{1,10}$/.test(maxAge)) return new Error('it has no valid max_age');
  const mx = fields.get('mx') ?? [];
  if (mode !== 'none' && mx.length === 0) return new Error('it names no mx');
  return { mode, mx, maxAgeS: Math.min(Number(maxAge), MAX_AGE_S) };
}

export class MtaSts {
  private readonly memory = new Map<string, Cached>();
  /**
   * Domains found to have no policy file, so that a domain without MTA-STS (most of them) costs
   * no file read per message; a policy stored (store) takes its domain out. Bounded: emptied when full.
   */
  private readonly noFile = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly dns: OutboundDns,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The policy of `domain` to deliver by, or null (none: opportunistic TLS). A DNS failure
   * falls back on the cached policy; nothing here throws.
   */
  async policy(domain: string): Promise<StsPolicy | null> {
    const name = domain.toLowerCase();
    // A name that cannot be a domain never becomes a file name (no "/", no "..").
    if (!DOMAIN.test(name)) return null;
    const cached = await this.cached(name);
    let id: string | null;
    try {
      const ids = (await this.dns.txt(`_mta-sts.${name}`))
        .filter((t) => /^v=STSv1\s*(;|$)/.test(t))
        .map((t) => /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/.exec(t)?.[1] ?? null);
      // RFC 8461 3.1: not exactly one valid record means no (new) policy.
      id = ids.length === 1 ? ids[0] : null;
    } catch (err) {
      this.log.warning('mta-sts lookup failed', { domain: name, error: (err as Error).message });
      return cached?.policy ?? null;
    }
    if (id === null) return cached?.policy ?? null;
    // Remembered without a file, yet the domain names a policy: a daemon sharing the folder may
    // have stored it since. Read it again, or a blocked fetch would send in plain text.
    const known = cached ?? (this.noFile.delete(name) ? await this.cached(name) : null);
    return this.refresh(name, id, known);
  }

  /** The policy `id` names: the known one if it is that one, else fetched (the known one if that fails). */
  private async refresh(name: string, id: string, cached: Cached | null): Promise<StsPolicy | null> {
    if (cached && cached.id === id) return cached.policy;
    try {
      const policy = await this.fetch(name);
      const entry = { id, policy, expiresAt: this.now() + policy.maxAgeS * 1000 };
      await this.store(name, entry);
      this.log.info('mta-sts policy', { domain: name, id, mode: policy.mode, mx: policy.mx.join(' ') });
      return policy;
    } catch (err) {
      this.log.warning('mta-sts policy fetch failed', {
        domain: name,
        error: (err as Error).message,
        using: cached ? 'the cached policy' : 'no policy',
      });
      return cached?.policy ?? null;
    }
  }

  private async cached(name: string): Promise<Cached | null> {
    let entry = this.memory.get(name) ?? null;
    if (!entry) {
      if (this.noFile.has(name)) return null;
      try {
        entry = JSON.parse(await readFile(join(this.dir, `${name}.json`), 'utf8')) as Cached;
      } catch {
        // None cached (or a torn file): fetched again, and the file not read again until then.
        if (this.noFile.size >= 10_000) this.noFile.clear();
        this.noFile.add(name);
        return null;
      }
    }
    if (typeof entry?.expiresAt !== 'number' || entry.expiresAt <= this.now()) return null;
    this.memory.set(name, entry);
    return entry;
  }

  private async store(name: string, entry: Cached): Promise<void> {
    this.memory.set(name, entry);
    this.noFile.delete(name);
    try {
      await mkdir(this.dir, { recursive: true });
      const tmp = join(this.dir, `${name}.json.tmp`);
      await writeFile(tmp, JSON.stringify(entry));
      await rename(tmp, join(this.dir, `${name}.json`));
    } catch (err) {
      // Kept in memory still; only a restart fetches it again.
      this.log.warning('mta-sts cache write failed', { domain: name, error: (err as Error).message });
    }
  }

  /** GET the policy: 200 only (a redirect is a failure), 64 KB at most, 10 s at most. */
  private fetch(name: string): Promise<StsPolicy> {
    const host = `mta-sts.${name}`;
    const lookup: LookupFunction = (hostname, options, cb) => {
      this.dns.addresses(hostname).then(
        (all) => {
          if (!all.length) return cb(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
          if (options.all) return cb(null, all.map((address) => ({ address, family: isIP(address) })) as never);
          cb(null, all[0], isIP(all[0]));
        },
        (err: Error) => cb(err as NodeJS.ErrnoException, ''),
      );
    };
    return new Promise((resolve, reject) => {
      const req = request(
        { host, path: '/.well-known/mta-sts.txt', servername: host, lookup, timeout: FETCH_TIMEOUT_MS, agent: false },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`https://${host}/.well-known/mta-sts.txt answered ${res.statusCode}`));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLICY_BYTES) {
              req.destroy(new Error(`the policy is over ${MAX_POLICY_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const policy = parsePolicy(Buffer.concat(chunks).toString('utf8'));
            if (policy instanceof Error) reject(new Error(`the policy is not valid: ${policy.message}`));
            else resolve(policy);
          });
          res.on('error', reject);
        },
      );
      const deadline = setTimeout(() => req.destroy(new Error('the policy fetch took over 10 s')), FETCH_TIMEOUT_MS);
      req.on('close', () => clearTimeout(deadline));
      req.on('timeout', () => req.destroy(new Error('the policy server stopped answering')));
      req.on('error', reject);
      req.end();
    });
  }
}
