// What the control socket answers for accounts, forwards and changes: applied rows, pending
// adds, their pending change, live mailbox sizes and recent activity, in one shape for the CLI
// and the console. The password hash of a pending change never leaves the daemon.
import type {
  AccountHealth,
  AccountView,
  DomainView,
  ForwardView,
  PendingRef,
  PendingView,
} from '../control/protocol.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import { type PendingChange, partsOf } from '../model/changes.js';
import { Pop3Clients } from '../model/pop3-clients.js';
import type { AccountRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

/** The last time iso() formatted, and its text: rows applied together share their times (a bulk import's 100,000). */
let lastTime = Number.NaN;
let lastText = '';
const iso = (t: number | undefined) => {
  if (t === undefined) return null;
  if (t !== lastTime) {
    lastText = new Date(t).toISOString();
    lastTime = t;
  }
  return lastText;
};

export function viewPending(c: PendingChange): PendingView {
  const v: PendingView = {
    id: c.id,
    domain: c.domain,
    kind: c.kind,
    action: c.action,
    parts: partsOf(c),
    name: c.name,
    address: c.kind === 'domain' ? c.domain : `${c.name}@${c.domain}`,
    requestedAt: new Date(c.requestedAt).toISOString(),
    requestedBy: c.requestedBy ?? null,
    appliesAt: new Date(c.appliesAt).toISOString(),
  };
  if (c.destinations) v.destinations = c.destinations;
  if (c.withAccounts) v.withAccounts = true;
  if (c.quota !== undefined) v.quota = c.quota;
  if (c.suspended !== undefined) v.suspended = c.suspended;
  if (c.refuseMail) v.refuseMail = true;
  if (c.catchall !== undefined) v.catchall = c.catchall;
  if (c.newName !== undefined) Object.assign(v, { newName: c.newName, keepForwardMs: c.keepForwardMs ?? 0 });
  if (c.importFrom) {
    const { maildir, messages, uidlsKept, move, uidls } = c.importFrom;
    v.importFrom = { maildir, messages, uidlsKept, move, uidls };
  }
  return v;
}

function ref(p: PendingChange | undefined): PendingRef | null {
  return p ? { id: p.id, action: p.action, parts: partsOf(p), appliesAt: new Date(p.appliesAt).toISOString() } : null;
}

const byAddress = <T extends { domain: string; name: string }>(a: T, b: T) =>
  a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

const DAY_MS = 86_400_000;
/** Mail this many days old still on the server is piling up. */
export const PILING_DAYS = 30;

/** The POP3 clients of each mailbox, followed from the trail's events (daemon.ts feeds it). */
export const pop3Clients = new Pop3Clients();

/** An account's mail collection, as of `now`. */
export function accountHealth(
  lastLoginAt: number | undefined,
  messages: number,
  oldest: number | null,
  now: number,
  address?: string,
): AccountHealth {
  const clients = address === undefined ? null : pop3Clients.health(address, now);
  const days = (t: number) => Math.max(0, Math.floor((now - t) / DAY_MS));
  const oldestDays = messages > 0 && oldest !== null ? days(oldest) : null;
  return {
    lastLoginDays: lastLoginAt === undefined ? null : days(lastLoginAt),
    oldestDays,
    piling: oldestDays !== null && oldestDays >= PILING_DAYS,
    neverFetched: lastLoginAt === undefined && messages > 0,
    clients: clients?.count ?? 0,
    clientsNote: clients?.note ?? null,
    deletedUnseen: clients?.unseenDeleted ?? {},
  };
}

/** Whether an account needs attention at `staleDays`: mail that old, or no login for that long with mail waiting. */
export function isStale(h: AccountHealth, messages: number, staleDays: number): boolean {
  if (messages === 0) return false;
  return (h.oldestDays ?? 0) >= staleDays || h.lastLoginDays === null || h.lastLoginDays >= staleDays;
}

/** The pending change of `kind` to `address`, if any. */
function pendingFor(store: Store, kind: 'account' | 'forward', address: string): PendingChange | undefined {
  const p = store.pending.forAddress(address);
  return p?.kind === kind ? p : undefined;
}

/** An account's row: applied, or its add pending; null when it is neither. */
export function accountRow(store: Store, sizes: MailboxIndex, address: string, now = Date.now()): AccountView | null {
  const a: AccountRecord | undefined = store.accounts.get(address);
  const p = pendingFor(store, 'account', address);
  const named = a ?? (p?.action === 'add' ? p : undefined);
  if (!named) return null;
  const active = a !== undefined;
  const act = store.activity.get(address);
  const size = active ? sizes.get(address) : { messages: 0, bytes: 0 };
  const quota = a ? a.quota : (p?.quota ?? store.domains.get(named.domain)?.quota);
  return {
    name: named.name,
    domain: named.domain,
    address,
    messages: size.messages,
    bytes: size.bytes,
    active,
    pending: ref(p),
    createdAt: iso(a?.createdAt),
    lastLoginAt: iso(act?.lastLoginAt),
    lastLoginFrom: act?.lastLoginFrom ?? null,
    lastDeliveryAt: iso(act?.lastDeliveryAt),
    quota: quota?.bytes ?? null,
    quotaMessages: quota?.messages ?? null,
    used: size.bytes,
    suspended: a?.suspended === true,
    refuseMail: a?.refuseMail === true,
    health: accountHealth(act?.lastLoginAt, size.messages, active ? sizes.oldest(address) : null, now, address),
  };
}

/** A forward's row: applied, or its add pending; null when it is neither. */
export function forwardRow(store: Store, address: string): ForwardView | null {
  const f = store.forwards.get(address);
  const p = pendingFor(store, 'forward', address);
  const r = ref(p);
  const pending = r && p?.destinations ? { ...r, destinations: p.destinations } : r;
  if (f)
    return {
      name: f.name,
      domain: f.domain,
      address,
      active: true,
      destinations: f.destinations,
      pending,
      expiresAt: iso(f.expiresAt),
    };
  if (p?.action !== 'add') return null;
  return {
    name: p.name,
    domain: p.domain,
    address,
    active: false,
    destinations: p.destinations ?? [],
    pending,
    expiresAt: null,
  };
}

/** Addresses of `kind` with a row: applied, then pending adds. */
function* addressesOf(store: Store, kind: 'account' | 'forward', domain?: string): Generator<string> {
  const applied = kind === 'account' ? store.accounts : store.forwards;
  for (const [address, r] of applied) if (!domain || r.domain === domain) yield address;
  for (const p of store.pending.values())
    if (p.kind === kind && p.action === 'add' && (!domain || p.domain === domain)) {
      const address = `${p.name}@${p.domain}`;
      if (!applied.has(address)) yield address;
    }
}

/** Each store's account rows in list order, as `domain NUL name` (which sorts as domain, then name). */
const accountOrders = new WeakMap<Store, { keys: string[] | null }>();

/** The account rows' keys in list order, sorted again only after a write touched them. */
function accountOrder(store: Store): string[] {
  let order = accountOrders.get(store);
  if (!order) {
    const o: { keys: string[] | null } = { keys: null };
    store.onTouch((t) => {
      if (!t.loginOnly) o.keys = null;
    });
    accountOrders.set(store, o);
    order = o;
  }
  if (!order.keys) {
    const keys: string[] = [];
    for (const address of addressesOf(store, 'account')) {
      const at = address.lastIndexOf('@');
      keys.push(`${address.slice(at + 1)}\0${address.slice(0, at)}`);
    }
    order.keys = keys.sort();
  }
  return order.keys;
}

/** Where `key` is, or would go, in sorted `keys`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Part of a list: the rows after `after` (an address) if given, then from `offset`, at most `limit`. */
export interface Page {
  after?: string;
  offset?: number;
  limit?: number;
}

/**
 * The account rows in list order (by domain, then name), of one domain or all, or one page of
 * them: a page costs its own rows, not the whole list's.
 */
export function listAccounts(
  store: Store,
  sizes: MailboxIndex,
  domain?: string,
  now = Date.now(),
  page: Page = {},
): AccountView[] {
  const all: AccountView[] = [];
  const next = accountPieces(store, sizes, domain, now, page);
  for (let p = next(); p; p = next()) for (const row of p) all.push(row);
  return all;
}

/**
 * Rows a piece of a whole-list answer holds: its JSON text (some 500 bytes a row) stays under
 * V8's large-object size (128 KB), so each piece dies young, in the cheap collection, and the
 * whole list leaves no pile of large strings for the next full collection to find.
 */
const PIECE_ROWS = 200;

/**
 * The same rows as listAccounts, made a piece at a time by each call of the function returned
 * (null at the end): a whole list of 100,000 is sent without all its rows in memory at once.
 * It walks the order as it was at the call; a row changed meanwhile is sent as it is when its
 * piece is made, and one gone by then is left out.
 */
export function accountPieces(
  store: Store,
  sizes: MailboxIndex,
  domain?: string,
  now = Date.now(),
  { after, offset = 0, limit = Number.MAX_SAFE_INTEGER }: Page = {},
): () => AccountView[] | null {
  const keys = accountOrder(store);
  // A domain's rows are one run of the order.
  let from = domain ? lowerBound(keys, `${domain}\0`) : 0;
  const to = domain ? lowerBound(keys, `${domain}\u0001`) : keys.length;
  if (after !== undefined) {
    const at = after.lastIndexOf('@');
    const key = `${after.slice(at + 1)}\0${after.slice(0, at)}`;
    const i = lowerBound(keys, key);
    from = Math.max(from, keys[i] === key ? i + 1 : i);
  }
  let i = from + offset;
  let left = limit;
  return () => {
    if (i >= to || left <= 0) return null;
    const out: AccountView[] = [];
    for (; i < to && out.length < Math.min(left, PIECE_ROWS); i++) {
      const key = keys[i];
      const nul = key.indexOf('\0');
      const row = accountRow(store, sizes, `${key.slice(nul + 1)}@${key.slice(0, nul)}`, now);
      if (row) out.push(row);
    }
    left -= out.length;
    return out;
  };
}

export function listForwards(store: Store, domain?: string): ForwardView[] {
  const out: ForwardView[] = [];
  for (const address of addressesOf(store, 'forward', domain)) {
    const row = forwardRow(store, address);
    if (row) out.push(row);
  }
  return out.sort(byAddress);
}

/**
 * Every hosted domain, and each whose add is pending, with its counts: accounts and forwards
 * (applied), the mail in its mailboxes, its pending changes, and its own pending add or removal.
 */
export function listDomains(store: Store, sizes: MailboxIndex): DomainView[] {
  // Every count is kept per domain as rows come and go: this costs the domains, not the accounts.
  const view = (domain: string, hosted: boolean): DomainView => {
    const total = sizes.totalIn(domain);
    return {
      domain,
      hosted,
      accounts: store.accounts.countIn(domain),
      forwards: store.forwards.countIn(domain),
      messages: total.messages,
      bytes: total.bytes,
      pending: store.pending.countIn(domain),
      change: ref(store.pending.forDomain(domain)),
      catchall: store.domains.get(domain)?.catchall ?? null,
      quota: store.domains.get(domain)?.quota?.bytes ?? null,
    };
  };
  const names = new Set([...store.domains.keys(), ...store.pending.domains()]);
  return [...names].sort().map((d) => view(d, store.domains.has(d)));
}
