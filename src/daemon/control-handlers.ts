// The control socket's method table: each request's parameters (already type-checked by the
// server) become a typed, rule-checked request for the part of the daemon that serves it.

import type { StatusView } from '../control/protocol.js';
import type { Handlers } from '../control/server.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import { InputError } from '../model/errors.js';
import { clockTime } from '../model/format.js';
import {
  type Address,
  checkPassword,
  formatAddress,
  normalizeDomain,
  parseDestinations,
  parseLocalAddress,
} from '../model/names.js';
import { parseQuota } from '../model/quota.js';
import type { DkimKeys } from '../smtp/dkim.js';
import type { ForwardQueue } from '../smtp/forward-queue.js';
import { hashPassword } from '../store/passwords.js';
import type { Store } from '../store/store.js';
import type { ApplyEngine } from './apply-engine.js';
import type { ChangeQueue } from './change-queue.js';
import { isStale, listAccounts, listDomains, listForwards } from './views.js';

export interface Parts {
  store: Store;
  changes: ChangeQueue;
  engine: ApplyEngine;
  mailboxes: MailboxIndex;
  queue: ForwardQueue;
  dkim: DkimKeys;
  status: () => StatusView;
}

/** `30d`, `12h` or `0`: how long the old name of a renamed account forwards to the new one. */
function keepDuration(input: string): number {
  const m = /^(\d{1,3})([dh])$/.exec(input.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000) : Number.NaN;
  if (input.trim() === '0') return 0;
  if (!m || ms > 365 * 86_400_000)
    throw new InputError(
      `--keep-forward ${JSON.stringify(input.slice(0, 20))}: write a time like 30d or 12h (at most 365d)`,
      'name',
    );
  return ms;
}

export function controlHandlers({ store, changes, engine, mailboxes, queue, dkim, status }: Parts): Handlers {
  // A domain whose add is pending can be listed and applied now, not yet given accounts.
  const hostedDomain = (domain?: string): string | undefined => {
    const d = domain?.toLowerCase();
    if (d !== undefined && !store.domains.has(d) && changes.pendingDomain(d)?.action !== 'add')
      throw new InputError(
        `${JSON.stringify(d.slice(0, 60))} is not a domain hosted here (hosted: ${changes.domains.join(', ') || 'none'})`,
        'domain',
      );
    return d;
  };
  const address = (name: string, domain?: string): Address => {
    const d = domain?.toLowerCase() ?? (name.includes('@') ? name.slice(name.lastIndexOf('@') + 1).toLowerCase() : '');
    const adding = changes.pendingDomain(d);
    if (adding?.action === 'add' && !store.domains.has(d))
      throw new InputError(
        `${d} is not hosted yet: its add applies at ${clockTime(new Date(adding.appliesAt).toISOString())}; apply it now (vmail pending apply --domain ${d}), then add its accounts and forwards`,
        'domain',
      );
    return parseLocalAddress(name, changes.domains, domain);
  };
  const domainName = (input: string): string => {
    try {
      return normalizeDomain(input);
    } catch (err) {
      throw new InputError((err as Error).message, 'domain');
    }
  };
  const accountWithPassword = async (
    action: 'add' | 'password',
    p: { name: string; password: string; domain?: string },
  ) => {
    const a = address(p.name, p.domain);
    const password = checkPassword(p.password, a.name);
    // Refused requests are refused before the scrypt hash is paid for.
    changes.check('account', action, a);
    return changes.request({ kind: 'account', action, address: a, passwordHash: await hashPassword(password) });
  };

  return {
    status: () => status(),
    subscribe: (_p, conn) => {
      conn.subscribed = true;
      return { subscribed: true };
    },
    'accounts.list': (p) => {
      const all = listAccounts(store, mailboxes, hostedDomain(p.domain));
      if (p.stale === undefined) return all;
      const m = /^(\d{1,4})d$/.exec(p.stale.trim());
      if (!m) throw new InputError(`--stale ${JSON.stringify(p.stale.slice(0, 20))}: write days like 30d`);
      // The stalest and biggest first: what to look at first.
      return all
        .filter((a) => isStale(a.health, a.messages, Number(m[1])))
        .sort((a, b) => (b.health.oldestDays ?? 0) - (a.health.oldestDays ?? 0) || b.bytes - a.bytes);
    },
    'accounts.add': (p) => accountWithPassword('add', p),
    'accounts.passwd': (p) => accountWithPassword('password', p),
    'accounts.remove': (p) =>
      changes.request({ kind: 'account', action: 'remove', address: address(p.name, p.domain) }),
    'accounts.quota': (p) => {
      const quota = parseQuota(p.quota, p.messages);
      return changes.request({ kind: 'account', action: 'quota', address: address(p.name, p.domain), quota });
    },
    'accounts.suspend': (p) =>
      changes.request({
        kind: 'account',
        action: 'suspend',
        address: address(p.name, p.domain),
        refuseMail: p.refuseMail === true,
      }),
    'accounts.rename': (p) => {
      const a = address(p.name, p.domain);
      const to = parseLocalAddress(p.newName, [a.domain], a.domain);
      if (to.domain !== a.domain)
        throw new InputError(`a rename keeps the domain: give the new name without @${to.domain}`, 'name');
      return changes.request({
        kind: 'account',
        action: 'rename',
        address: a,
        newName: to.name,
        keepForwardMs: p.keepForward === undefined ? 0 : keepDuration(p.keepForward),
      });
    },
    'accounts.resume': (p) =>
      changes.request({ kind: 'account', action: 'resume', address: address(p.name, p.domain) }),
    'forwards.list': (p) => listForwards(store, hostedDomain(p.domain)),
    'forwards.add': (p) => {
      const a = address(p.name, p.domain);
      return changes.request({
        kind: 'forward',
        action: 'set',
        address: a,
        destinations: parseDestinations(p.destinations, formatAddress(a)),
      });
    },
    'forwards.remove': (p) =>
      changes.request({ kind: 'forward', action: 'remove', address: address(p.name, p.domain) }),
    'domains.list': () => listDomains(store, mailboxes),
    'domains.add': (p) => changes.request({ kind: 'domain', action: 'add', domain: domainName(p.domain) }),
    'domains.remove': (p) =>
      changes.request({ kind: 'domain', action: 'remove', domain: domainName(p.domain), withAccounts: p.withAccounts }),
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
    'domains.quota': (p) =>
      changes.request({
        kind: 'domain',
        action: 'quota',
        domain: domainName(p.domain),
        quota: parseQuota(p.quota, p.messages),
      }),
    'domains.catchall': (p) => {
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
      return changes.request({ kind: 'domain', action: 'catchall', domain: d, catchall: target });
    },
    'pending.list': (p) => changes.list(hostedDomain(p.domain)),
    'pending.cancel': (p) => changes.cancel(String(p.id)),
    'pending.apply': (p) => engine.apply({ domain: hostedDomain(p.domain) }),
    'queue.list': () => queue.list(),
    'queue.retry': (p) => queue.retry(String(p.id)),
  };
}
