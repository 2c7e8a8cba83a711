// The control methods for domains: list them, queue a domain's add, removal, quota or catch-all,
// make or show its DKIM key (at once: not a queued change), and the DNS records it needs, made
// and looked up.

import type { DkimAlgorithm } from '../../control/protocol.js';
import type { Handlers } from '../../control/server.js';
import { domainRecords } from '../../model/dns-records.js';
import { InputError } from '../../model/errors.js';
import { parseQuota } from '../../model/quota.js';
import { checkRecords, checkReverse, makeResolver } from '../../service/dns-check.js';
import { listDomains } from '../views.js';
import { domainName, type Parts } from './context.js';

type DomainMethod =
  | 'domains.list'
  | 'domains.add'
  | 'domains.remove'
  | 'domains.dkim'
  | 'domains.dns'
  | 'domains.check'
  | 'domains.quota'
  | 'domains.catchall';

export function domainHandlers({
  store,
  changes,
  mailboxes,
  dkim,
  status,
  resolver,
}: Pick<Parts, 'store' | 'changes' | 'mailboxes' | 'dkim' | 'status' | 'resolver'>): Pick<Handlers, DomainMethod> {
  const hosted = (domain: string) => {
    const d = domainName(domain);
    if (!store.domains.has(d))
      throw new InputError(
        `${d} is not a domain hosted here (hosted: ${changes.domains.join(', ') || 'none'})`,
        'domain',
      );
    return d;
  };
  /** The records of a hosted domain, from this daemon's name, listeners and DKIM key. */
  const records = (domain: string) => {
    const s = status();
    return domainRecords(domain, {
      hostname: s.hostname,
      ports: {
        pop3s: s.pop3s?.port ?? null,
        pop3: s.pop3.port,
        submissions: s.submissions?.port ?? null,
        submission: s.submission?.port ?? null,
      },
      dkim: dkim.views(domain).map((k) => ({ name: k.name, value: k.value })),
    });
  };
  return {
    'domains.list': () => listDomains(store, mailboxes),
    'domains.add': (p, conn) =>
      changes.request({ kind: 'domain', action: 'add', domain: domainName(p.domain) }, conn.peer.user),
    'domains.remove': (p, conn) =>
      changes.request(
        { kind: 'domain', action: 'remove', domain: domainName(p.domain), withAccounts: p.withAccounts },
        conn.peer.user,
      ),
    // Not a queued change: the key signs nothing until the domain's bounces are signed with it,
    // and the record has to be published first either way.
    'domains.dns': (p) => records(hosted(p.domain)),
    'domains.check': async (p) => {
      const d = hosted(p.domain);
      const r = makeResolver(resolver());
      const host = status().hostname;
      const [checked, reverse] = await Promise.all([checkRecords(r, records(d), host), checkReverse(r, host)]);
      return [...checked, reverse];
    },
    'domains.dkim': (p) => {
      const d = hosted(p.domain);
      const algorithm = dkimAlgorithm(p.algorithm);
      return p.selector === undefined
        ? (dkim.view(d, algorithm) ?? dkim.create(d, undefined, algorithm))
        : dkim.create(d, p.selector, algorithm);
    },
    'domains.quota': (p, conn) =>
      changes.request(
        {
          kind: 'domain',
          action: 'quota',
          domain: domainName(p.domain),
          quota: parseQuota(p.quota, p.messages),
        },
        conn.peer.user,
      ),
    'domains.catchall': (p, conn) => {
      const d = domainName(p.domain);
      const t = p.target.trim().toLowerCase();
      let target: string | null = null;
      if (t !== 'none') {
        const name = t.endsWith(`@${d}`) ? t.slice(0, -d.length - 1) : t;
        if (!changes.willReceive(`${name}@${d}`))
          throw new InputError(
            `${JSON.stringify(t.slice(0, 80))} is not an account or forward of ${d}: name one (or none)`,
            'target',
          );
        target = name;
      }
      return changes.request({ kind: 'domain', action: 'catchall', domain: d, catchall: target }, conn.peer.user);
    },
  };
}

/** The algorithm a request names (default rsa), or a clear error. */
function dkimAlgorithm(a: string | undefined): DkimAlgorithm {
  const v = (a ?? 'rsa').toLowerCase();
  if (v === 'rsa' || v === 'ed25519') return v;
  throw new InputError(`algorithm ${JSON.stringify(v.slice(0, 40))}: use rsa or ed25519`);
}
