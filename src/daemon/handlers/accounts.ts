// The control methods for accounts: list them (a page, or the stale ones), and queue an add, a
// password, a removal, a quota, a suspension, a resumption or a rename. Imports are in
// import-export.ts.

import { ListAnswer } from '../../control/list-answer.js';
import type { AccountView } from '../../control/protocol.js';
import type { ControlConnection, Handlers } from '../../control/server.js';
import { InputError, NotFoundError } from '../../model/errors.js';
import { checkPassword, formatAddress, parseLocalAddress } from '../../model/names.js';
import { parseQuota } from '../../model/quota.js';
import { hashPassword } from '../../store/passwords.js';
import { accountPieces, isStale, listAccounts } from '../views.js';
import { hostedDomain, localAddress, type Names, type Parts } from './context.js';

type AccountMethod =
  | 'accounts.list'
  | 'accounts.add'
  | 'accounts.passwd'
  | 'accounts.remove'
  | 'accounts.quota'
  | 'accounts.suspend'
  | 'accounts.rename'
  | 'accounts.resume'
  | 'accounts.limits';

export function accountHandlers(
  parts: Pick<Parts, 'store' | 'changes' | 'mailboxes' | 'sending'>,
): Pick<Handlers, AccountMethod> {
  const { store, changes, sending } = parts;
  const marked = (rows: AccountView[]) =>
    rows.map((a) => (sending.reached(a.address) ? { ...a, sendLimitReached: true } : a));
  return {
    'accounts.limits': (p) => {
      const address = formatAddress(localAddress(parts, p.name, p.domain));
      if (!store.accounts.has(address)) throw new NotFoundError(`no account ${address}: see vmail accounts list`);
      const c = sending.count(address);
      return {
        address,
        limit: c.limit,
        windowSeconds: c.windowMs / 1000,
        sent: c.sent,
        reached: c.reached,
        freesAt: c.freesAt === null ? null : new Date(c.freesAt).toISOString(),
      };
    },
    'accounts.list': (p) => {
      if (p.stale !== undefined) return marked(staleAccounts(parts, { ...p, stale: p.stale }));
      // Written a piece at a time: a whole list of 100,000 rows never sits in memory at once.
      const next = accountPieces(store, parts.mailboxes, hostedDomain(parts, p.domain), Date.now(), {
        after: p.after,
        offset: pageBound('offset', p.offset, 0),
        limit: pageBound('limit', p.limit, Number.MAX_SAFE_INTEGER),
      });
      return new ListAnswer(() => {
        const rows = next();
        return rows && marked(rows);
      });
    },
    'accounts.add': (p, conn) => accountWithPassword(parts, 'add', p, conn),
    'accounts.passwd': (p, conn) => accountWithPassword(parts, 'password', p, conn),
    'accounts.remove': (p, conn) =>
      changes.request(
        { kind: 'account', action: 'remove', address: localAddress(parts, p.name, p.domain) },
        conn.peer.user,
      ),
    'accounts.quota': (p, conn) => {
      const quota = parseQuota(p.quota, p.messages);
      return changes.request(
        { kind: 'account', action: 'quota', address: localAddress(parts, p.name, p.domain), quota },
        conn.peer.user,
      );
    },
    'accounts.suspend': (p, conn) =>
      changes.request(
        {
          kind: 'account',
          action: 'suspend',
          address: localAddress(parts, p.name, p.domain),
          refuseMail: p.refuseMail === true,
        },
        conn.peer.user,
      ),
    'accounts.rename': (p, conn) => {
      const a = localAddress(parts, p.name, p.domain);
      const to = parseLocalAddress(p.newName, [a.domain], a.domain);
      if (to.domain !== a.domain)
        throw new InputError(`a rename keeps the domain: give the new name without @${to.domain}`, 'name');
      return changes.request(
        {
          kind: 'account',
          action: 'rename',
          address: a,
          newName: to.name,
          keepForwardMs: p.keepForward === undefined ? 0 : keepDuration(p.keepForward),
        },
        conn.peer.user,
      );
    },
    'accounts.resume': (p, conn) =>
      changes.request(
        { kind: 'account', action: 'resume', address: localAddress(parts, p.name, p.domain) },
        conn.peer.user,
      ),
  };
}

/** Queues an account's add or new password, with the password's hash. */
async function accountWithPassword(
  parts: Names,
  action: 'add' | 'password',
  p: { name: string; password: string; domain?: string },
  conn: ControlConnection,
) {
  const a = localAddress(parts, p.name, p.domain);
  const password = checkPassword(p.password, a.name);
  // Refused requests are refused before the password hash is paid for.
  parts.changes.check('account', action, a);
  return parts.changes.request(
    { kind: 'account', action, address: a, passwordHash: await hashPassword(password) },
    conn.peer.user,
  );
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

/** A page's offset or length: a whole number from 0, or `otherwise` when not given. */
function pageBound(what: 'offset' | 'limit', v: number | undefined, otherwise: number): number {
  if (v === undefined) return otherwise;
  if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`--${what} ${v}: write a whole number from 0`);
  return v;
}

/** One page of the account list, or the stale ones. */
/** The accounts needing attention (`stale`: days, like 30d), stalest first, or one page of them. */
function staleAccounts(
  parts: Pick<Parts, 'store' | 'changes' | 'mailboxes'>,
  p: { domain?: string; stale: string; offset?: number; limit?: number; after?: string },
): AccountView[] {
  const { store, mailboxes } = parts;
  const offset = pageBound('offset', p.offset, 0);
  const limit = pageBound('limit', p.limit, Number.MAX_SAFE_INTEGER);
  if (p.after !== undefined) throw new InputError('--after pages the list in its own order: not with --stale');
  const all = listAccounts(store, mailboxes, hostedDomain(parts, p.domain));
  const m = /^(\d{1,4})d$/.exec(p.stale.trim());
  if (!m) throw new InputError(`--stale ${JSON.stringify(p.stale.slice(0, 20))}: write days like 30d`);
  // The stalest and biggest first: what to look at first.
  return all
    .filter((a) => isStale(a.health, a.messages, Number(m[1])))
    .sort((a, b) => (b.health.oldestDays ?? 0) - (a.health.oldestDays ?? 0) || b.bytes - a.bytes)
    .slice(offset, offset + limit);
}
