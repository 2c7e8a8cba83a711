// The control socket's method table: each request's parameters (already type-checked by the
// server) become a typed, rule-checked request for the part of the daemon that serves it.

import { isAbsolute } from 'node:path';
import type { QueueAdmin } from '../cluster/service-queue.js';
import type { ImportResult, LogEntryView, StatusView } from '../control/protocol.js';
import type { ControlConnection, Handlers } from '../control/server.js';
import { inspectMaildir } from '../import-export/maildir.js';
import { checkUidlFormat, writeDovecotUidlist } from '../maildir/dovecot-uidlist.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import { maildirPath } from '../maildir/paths.js';
import type { PendingChange } from '../model/changes.js';
import { InputError } from '../model/errors.js';
import { clockTime } from '../model/format.js';
import {
  type Address,
  checkPassword,
  domainOf,
  formatAddress,
  normalizeDomain,
  parseDestinations,
  parseLocalAddress,
} from '../model/names.js';
import { parseQuota } from '../model/quota.js';
import { parseSince } from '../model/schedule.js';
import type { DkimKeys } from '../smtp/dkim.js';
import { checkHash, hashPassword, hashPasswordInWorker } from '../store/passwords.js';
import type { Store } from '../store/store.js';
import type { ApplyEngine } from './apply-engine.js';
import type { ChangeQueue, ChangeRequest } from './change-queue.js';
import { isStale, listAccounts, listDomains, listForwards } from './views.js';

export interface Parts {
  dataDir: string;
  store: Store;
  changes: ChangeQueue;
  engine: ApplyEngine;
  mailboxes: MailboxIndex;
  queue: QueueAdmin;
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

/** Dovecot's default pop3_uidl_format: the UID and UIDVALIDITY in 8 hex digits each. */
const DOVECOT_UIDL_FORMAT = '%08Xu%08Xv';

/** The most rows one import may send ahead on a connection. */
const MAX_IMPORT_ROWS = 200_000;
/** The most bytes of rows one import may send ahead (as JSON): the CSV file's own limit. */
const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

export function controlHandlers({ dataDir, store, changes, engine, mailboxes, queue, dkim, status }: Parts): Handlers {
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
    const d = domain?.toLowerCase() ?? (name.includes('@') ? domainOf(name).toLowerCase() : '');
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
    conn: ControlConnection,
  ) => {
    const a = address(p.name, p.domain);
    const password = checkPassword(p.password, a.name);
    // Refused requests are refused before the password hash is paid for.
    changes.check('account', action, a);
    return changes.request(
      { kind: 'account', action, address: a, passwordHash: await hashPassword(password) },
      conn.peer.user,
    );
  };

  /** One import row as the change it asks for; a plain password is hashed later, in parallel. */
  const importRequest = (
    r: Record<string, unknown>,
    domain: string | undefined,
    source: PendingChange['importFrom'] | Error | null,
  ): ChangeRequest | { plain: string; req: ChangeRequest } => {
    if (source instanceof Error) throw new InputError(source.message, 'name');
    const text = (k: string) =>
      typeof r[k] === 'string' && (r[k] as string).trim() !== '' ? (r[k] as string) : undefined;
    const name = text('name');
    if (!name) throw new InputError('no name or address', 'name');
    const a = address(name, domain);
    const forward = Array.isArray(r.forward) ? r.forward.filter((d): d is string => typeof d === 'string') : [];
    const password = text('password');
    const hash = text('passwordHash');
    if (password !== undefined && hash !== undefined)
      throw new InputError('give a password or a password_hash, not both', 'password');
    if (password === undefined && hash === undefined) {
      if (!forward.length) throw new InputError('give a password, a password_hash or forward destinations', 'password');
      if (text('quota')) throw new InputError('a forward has no quota: give a password to make it an account', 'quota');
      return {
        kind: 'forward',
        action: 'set',
        address: a,
        destinations: parseDestinations(forward, formatAddress(a)),
      };
    }
    if (forward.length)
      throw new InputError(
        'a name is an account or a forward: give a password or forward destinations, not both',
        'name',
      );
    const quota = text('quota') === undefined ? undefined : parseQuota(text('quota')!);
    const req: ChangeRequest = {
      kind: 'account',
      action: 'add',
      address: a,
      passwordHash: '',
      quota,
      ...(source ? { importFrom: source } : {}),
    };
    if (hash !== undefined) return { ...req, passwordHash: checkHash(hash) };
    return { plain: checkPassword(password, a.name), req };
  };

  return {
    status: () => status(),
    subscribe: (_p, conn) => {
      conn.subscribed = true;
      return { subscribed: true };
    },
    'accounts.list': (p) => {
      const offset = pageBound('offset', p.offset, 0);
      const limit = pageBound('limit', p.limit, Number.MAX_SAFE_INTEGER);
      if (p.stale === undefined)
        return listAccounts(store, mailboxes, hostedDomain(p.domain), Date.now(), { after: p.after, offset, limit });
      if (p.after !== undefined) throw new InputError('--after pages the list in its own order: not with --stale');
      const all = listAccounts(store, mailboxes, hostedDomain(p.domain));
      const m = /^(\d{1,4})d$/.exec(p.stale.trim());
      if (!m) throw new InputError(`--stale ${JSON.stringify(p.stale.slice(0, 20))}: write days like 30d`);
      // The stalest and biggest first: what to look at first.
      return all
        .filter((a) => isStale(a.health, a.messages, Number(m[1])))
        .sort((a, b) => (b.health.oldestDays ?? 0) - (a.health.oldestDays ?? 0) || b.bytes - a.bytes)
        .slice(offset, offset + limit);
    },
    'accounts.add': (p, conn) => accountWithPassword('add', p, conn),
    'accounts.passwd': (p, conn) => accountWithPassword('password', p, conn),
    'accounts.remove': (p, conn) =>
      changes.request({ kind: 'account', action: 'remove', address: address(p.name, p.domain) }, conn.peer.user),
    'accounts.quota': (p, conn) => {
      const quota = parseQuota(p.quota, p.messages);
      return changes.request(
        { kind: 'account', action: 'quota', address: address(p.name, p.domain), quota },
        conn.peer.user,
      );
    },
    'accounts.suspend': (p, conn) =>
      changes.request(
        {
          kind: 'account',
          action: 'suspend',
          address: address(p.name, p.domain),
          refuseMail: p.refuseMail === true,
        },
        conn.peer.user,
      ),
    'accounts.rename': (p, conn) => {
      const a = address(p.name, p.domain);
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
      changes.request({ kind: 'account', action: 'resume', address: address(p.name, p.domain) }, conn.peer.user),
    'accounts.import': async (p, conn) => {
      conn.staged.push(...p.rows);
      conn.stagedBytes += JSON.stringify(p.rows).length;
      if (conn.staged.length > MAX_IMPORT_ROWS || conn.stagedBytes > MAX_IMPORT_BYTES) {
        const rows = conn.staged.length;
        conn.staged = [];
        conn.stagedBytes = 0;
        throw new InputError(
          rows > MAX_IMPORT_ROWS
            ? `an import may have at most ${MAX_IMPORT_ROWS} rows: split the file`
            : `an import may send at most ${MAX_IMPORT_BYTES / 1048576} MB of rows: split the file`,
        );
      }
      const dryRun = p.dryRun === true;
      if (p.more) return { rows: conn.staged.length, queued: [], refused: [], dryRun, done: false };
      const rows = conn.staged;
      conn.staged = [];
      conn.stagedBytes = 0;
      if (p.total !== undefined && rows.length !== p.total)
        throw new InputError(
          `the import had ${p.total} rows but ${rows.length} arrived on this connection (was it replaced midway?): nothing was queued; send it again`,
        );
      const domain = hostedDomain(p.domain);
      const uidlFormat = checkUidlFormat(p.uidlFormat ?? DOVECOT_UIDL_FORMAT);
      const uidls = p.uidls ?? 'dovecot';
      if (uidls !== 'dovecot' && uidls !== 'names') throw new InputError('uidls: dovecot or names');
      // Rows that bring mail: their Maildir must be there, and readable by the daemon.
      const sources = await Promise.all(
        rows.map(async (r): Promise<PendingChange['importFrom'] | Error | null> => {
          if (typeof r.maildir !== 'string' || !r.maildir) return null;
          if (!isAbsolute(r.maildir))
            return new Error(`maildir ${JSON.stringify(r.maildir.slice(0, 80))}: give an absolute path`);
          try {
            const found = await inspectMaildir(r.maildir, [dataDir, store.where]);
            return {
              maildir: r.maildir,
              move: p.move === true,
              uidlFormat,
              uidls,
              messages: found.messages,
              uidlsKept: uidls === 'names' || found.uidlist,
            };
          } catch (err) {
            return err as Error;
          }
        }),
      );
      const reqs = rows.map((r, i) => {
        try {
          return importRequest(r, domain, sources[i]);
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          return err;
        }
      });
      // Plain passwords are hashed only for a real import, on worker threads of their own (not
      // libuv's pool, which every delivery's fsync needs meanwhile).
      const ready = await Promise.all(
        reqs.map(async (r) => {
          if (!(r instanceof Error) && 'plain' in r)
            return dryRun ? r.req : { ...r.req, passwordHash: await hashPasswordInWorker(r.plain) };
          return r;
        }),
      );
      const out = await changes.requestMany(ready as (ChangeRequest | Error)[], conn.peer.user, {
        dryRun,
        all: p.skipBad !== true,
      });
      const rowNumber = (i: number) => (typeof rows[i].row === 'number' ? (rows[i].row as number) : i + 1);
      return {
        rows: rows.length,
        queued: out.queued,
        refused: out.refused.map(({ index, error }) => ({
          row: rowNumber(index),
          name: String(rows[index].name ?? '').slice(0, 100),
          error,
        })),
        dryRun,
        done: out.done,
      } satisfies ImportResult;
    },
    'forwards.list': (p) => listForwards(store, hostedDomain(p.domain)),
    'forwards.add': (p, conn) => {
      const a = address(p.name, p.domain);
      return changes.request(
        {
          kind: 'forward',
          action: 'set',
          address: a,
          destinations: parseDestinations(p.destinations, formatAddress(a)),
        },
        conn.peer.user,
      );
    },
    'forwards.remove': (p, conn) =>
      changes.request({ kind: 'forward', action: 'remove', address: address(p.name, p.domain) }, conn.peer.user),
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
    'pending.list': (p) => changes.list(hostedDomain(p.domain)),
    'pending.cancel': (p) => changes.cancel(String(p.id), p.part),
    'pending.apply': (p, conn) => engine.apply({ domain: hostedDomain(p.domain), by: conn.peer }),
    'queue.list': () => queue.list(),
    'queue.retry': (p) => queue.retry(String(p.id)),
    'export.passwd': (p) => {
      const d = hostedDomain(p.domain);
      return [...store.accounts.values()]
        .filter((a) => !d || a.domain === d)
        .map((a) => ({ address: `${a.name}@${a.domain}`, passwordHash: a.passwordHash }))
        .sort((x, y) => (x.address < y.address ? -1 : 1));
    },
    'export.uidlists': async (p) => {
      const d = hostedDomain(p.domain);
      let maildirs = 0;
      let messages = 0;
      for (const a of store.accounts.values()) {
        if (d && a.domain !== d) continue;
        messages += await writeDovecotUidlist(maildirPath(dataDir, a.domain, a.name));
        maildirs++;
      }
      return { maildirs, messages };
    },
    'log.list': async (p): Promise<LogEntryView[]> => {
      const since = p.since === undefined ? undefined : parseSince(p.since, Date.now());
      const limit = Math.min(Math.max(1, Math.floor(p.limit ?? 1000)), 100_000);
      const entries = await store.audit.query({ since, user: p.user, address: p.address?.trim().toLowerCase(), limit });
      return entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    },
  };
}

/** A page's offset or length: a whole number from 0, or `otherwise` when not given. */
function pageBound(what: 'offset' | 'limit', v: number | undefined, otherwise: number): number {
  if (v === undefined) return otherwise;
  if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`--${what} ${v}: write a whole number from 0`);
  return v;
}
