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
import type { PendingChange } from '../model/changes.js';
import type { AccountRecord, Store } from '../store/store.js';

const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());

export function viewPending(c: PendingChange): PendingView {
  const v: PendingView = {
    id: c.id,
    domain: c.domain,
    kind: c.kind,
    action: c.action,
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

function pendingByAddress(store: Store, kind: 'account' | 'forward'): Map<string, PendingChange> {
  const out = new Map<string, PendingChange>();
  for (const p of store.pending.values()) if (p.kind === kind) out.set(`${p.name}@${p.domain}`, p);
  return out;
}

function ref(p: PendingChange | undefined): PendingRef | null {
  return p ? { id: p.id, action: p.action, appliesAt: new Date(p.appliesAt).toISOString() } : null;
}

const byAddress = <T extends { domain: string; name: string }>(a: T, b: T) =>
  a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

const DAY_MS = 86_400_000;
/** Mail this many days old still on the server is piling up. */
export const PILING_DAYS = 30;

/** An account's mail collection, as of `now`. */
function health(lastLoginAt: number | undefined, messages: number, oldest: number | null, now: number): AccountHealth {
  const days = (t: number) => Math.max(0, Math.floor((now - t) / DAY_MS));
  const oldestDays = messages > 0 && oldest !== null ? days(oldest) : null;
  return {
    lastLoginDays: lastLoginAt === undefined ? null : days(lastLoginAt),
    oldestDays,
    piling: oldestDays !== null && oldestDays >= PILING_DAYS,
    neverFetched: lastLoginAt === undefined && messages > 0,
  };
}

/** Whether an account needs attention at `staleDays`: mail that old, or no login for that long with mail waiting. */
export function isStale(h: AccountHealth, messages: number, staleDays: number): boolean {
  if (messages === 0) return false;
  return (h.oldestDays ?? 0) >= staleDays || h.lastLoginDays === null || h.lastLoginDays >= staleDays;
}

export function listAccounts(store: Store, sizes: MailboxIndex, domain?: string, now = Date.now()): AccountView[] {
  const pending = pendingByAddress(store, 'account');
  const out: AccountView[] = [];
  const view = (name: string, dom: string, address: string, active: boolean, a?: AccountRecord): AccountView => {
    const act = store.activity.get(address);
    const size = active ? sizes.get(address) : { messages: 0, bytes: 0 };
    const quota = a ? a.quota : (pending.get(address)?.quota ?? store.domains.get(dom)?.quota);
    return {
      name,
      domain: dom,
      address,
      messages: size.messages,
      bytes: size.bytes,
      active,
      pending: ref(pending.get(address)),
      createdAt: iso(a?.createdAt),
      lastLoginAt: iso(act?.lastLoginAt),
      lastLoginFrom: act?.lastLoginFrom ?? null,
      lastDeliveryAt: iso(act?.lastDeliveryAt),
      quota: quota?.bytes ?? null,
      quotaMessages: quota?.messages ?? null,
      used: size.bytes,
      suspended: a?.suspended === true,
      refuseMail: a?.refuseMail === true,
      health: health(act?.lastLoginAt, size.messages, active ? sizes.oldest(address) : null, now),
    };
  };
  for (const [address, a] of store.accounts) {
    if (domain && a.domain !== domain) continue;
    out.push(view(a.name, a.domain, address, true, a));
  }
  for (const [address, p] of pending) {
    if (p.action !== 'add' || store.accounts.has(address) || (domain && p.domain !== domain)) continue;
    out.push(view(p.name, p.domain, address, false));
  }
  return out.sort(byAddress);
}

export function listForwards(store: Store, domain?: string): ForwardView[] {
  const pending = pendingByAddress(store, 'forward');
  const out: ForwardView[] = [];
  const withDests = (p: PendingChange | undefined) => {
    const r = ref(p);
    return r && p?.destinations ? { ...r, destinations: p.destinations } : r;
  };
  for (const [address, f] of store.forwards) {
    if (domain && f.domain !== domain) continue;
    out.push({
      name: f.name,
      domain: f.domain,
      address,
      active: true,
      destinations: f.destinations,
      pending: withDests(pending.get(address)),
      expiresAt: iso(f.expiresAt),
    });
  }
  for (const [address, p] of pending) {
    if (p.action !== 'add' || store.forwards.has(address) || (domain && p.domain !== domain)) continue;
    out.push({
      name: p.name,
      domain: p.domain,
      address,
      active: false,
      destinations: p.destinations ?? [],
      pending: withDests(p),
      expiresAt: null,
    });
  }
  return out.sort(byAddress);
}

/**
 * Every hosted domain, and each whose add is pending, with its counts: accounts and forwards
 * (applied), the mail in its mailboxes, its pending changes, and its own pending add or removal.
 */
export function listDomains(store: Store, sizes: MailboxIndex): DomainView[] {
  const views = new Map<string, DomainView>();
  const view = (domain: string, hosted: boolean): DomainView => {
    let v = views.get(domain);
    if (!v) {
      v = {
        domain,
        hosted,
        accounts: 0,
        forwards: 0,
        messages: 0,
        bytes: 0,
        pending: 0,
        change: null,
        catchall: store.domains.get(domain)?.catchall ?? null,
        quota: store.domains.get(domain)?.quota?.bytes ?? null,
      };
      views.set(domain, v);
    }
    return v;
  };
  for (const d of store.domains.keys()) view(d, true);
  for (const p of store.pending.values()) {
    const v = view(p.domain, store.domains.has(p.domain));
    v.pending++;
    if (p.kind === 'domain') v.change = ref(p);
  }
  for (const [address, a] of store.accounts) {
    const v = views.get(a.domain);
    if (!v) continue;
    const size = sizes.get(address);
    v.accounts++;
    v.messages += size.messages;
    v.bytes += size.bytes;
  }
  for (const f of store.forwards.values()) {
    const v = views.get(f.domain);
    if (v) v.forwards++;
  }
  return [...views.values()].sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
}
