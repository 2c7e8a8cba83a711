// The control methods for domains: list them, queue a domain's add, removal, quota or catch-all,
// and make or show its DKIM key (at once: not a queued change).

import type { Handlers } from '../../control/server.js';
import { InputError } from '../../model/errors.js';
import { parseQuota } from '../../model/quota.js';
import { listDomains } from '../views.js';
import { domainName, type Parts } from './context.js';

type DomainMethod =
  | 'domains.list'
  | 'domains.add'
  | 'domains.remove'
  | 'domains.dkim'
  | 'domains.quota'
  | 'domains.catchall';

export function domainHandlers({
  store,
  changes,
  mailboxes,
  dkim,
}: Pick<Parts, 'store' | 'changes' | 'mailboxes' | 'dkim'>): Pick<Handlers, DomainMethod> {
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
    'domains.dkim': (p) => {
      const d = domainName(p.domain);
      if (!store.domains.has(d))
        throw new InputError(
          `${d} is not a domain hosted here (hosted: ${changes.domains.join(', ') || 'none'})`,
          'domain',
        );
      return p.selector === undefined ? (dkim.view(d) ?? dkim.create(d)) : dkim.create(d, p.selector);
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
