// The console's connection to the daemon, outside React: connects, subscribes, keeps the lists
// the screens show, follows the daemon's notifications, and reconnects by itself when the daemon
// goes away. Screens read it through the useDaemon hook.
import { ControlClient, RpcError, UnreachableError } from '../../src/control/client.js';
import type {
  AccountView,
  DomainView,
  Field,
  ForwardView,
  MailboxSize,
  MailboxSizeChange,
  Method,
  NotificationMethod,
  Notifications,
  Params,
  PendingView,
  Results,
  RowsChange,
  StatusView,
} from '../../src/control/protocol.js';
import { domainOf } from '../../src/model/names.js';

export type Connection = 'connecting' | 'connected' | 'down';

export interface DaemonSnapshot {
  connection: Connection;
  socketPath: string;
  /** Why the daemon cannot be reached, when it cannot. */
  problem: string | null;
  status: StatusView | null;
  /** Hosted domains and those being added, with their counts. */
  domains: DomainView[];
  accounts: AccountView[];
  forwards: ForwardView[];
  pending: PendingView[];
  /** Whether accounts and forwards have arrived (they follow the first frame). */
  listed: boolean;
  /** The daemon's clock minus ours, so countdowns match the daemon's apply. */
  skewMs: number;
  /** The last apply told (pending.applied): the changes it applied, and when it was told (our clock). */
  lastApply: { ids: string[]; at: number } | null;
}

const RETRY_MS = 1000;

export class DaemonSession {
  private client: ControlClient | null = null;
  private listeners = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** What the notifications said since `subscribe`, until every list has arrived. */
  private catchUp: Patch | null = null;
  private closed = false;
  snapshot: DaemonSnapshot;

  constructor(readonly socketPath: string) {
    this.snapshot = {
      connection: 'connecting',
      socketPath,
      problem: null,
      status: null,
      domains: [],
      accounts: [],
      forwards: [],
      pending: [],
      listed: false,
      skewMs: 0,
      lastApply: null,
    };
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): DaemonSnapshot => this.snapshot;

  private set(patch: Partial<DaemonSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const l of this.listeners) l();
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await ControlClient.connect(this.socketPath, 2000);
      if (this.closed) return client.close();
      this.client = client;
      const catchUp = new Patch();
      this.catchUp = catchUp;
      client.onNotification((method, params) => this.onNotification(method, params));
      client.on('close', () => {
        if (this.client !== client) return;
        this.client = null;
        this.set({ connection: 'down', problem: `the daemon at ${this.socketPath} closed the connection` });
        this.retry();
      });
      await client.call('subscribe');
      await this.refresh(catchUp);
    } catch (err) {
      this.set({ connection: 'down', problem: (err as Error).message });
      this.retry();
    }
  }

  private retry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, RETRY_MS);
  }

  /**
   * Loads everything on each connection (rows.changed keeps it current after): first the
   * status, domains and pending changes, which the first frame shows, then the accounts and
   * forwards (100,000 rows take a while).
   *
   * An answer can be older than a notification read before it: both can come in one read of
   * the socket, and the notification is handled at once while the answer's reader runs after.
   * So nothing said since `subscribe` is dropped: each row's last word (a row carries its whole
   * state) is put onto the answers once they are in.
   */
  private async refresh(catchUp: Patch): Promise<void> {
    const c = this.client;
    if (!c) return;
    const t0 = Date.now();
    const [status, pending] = await Promise.all([c.call('status'), c.call('pending.list')]);
    const skewMs = Date.parse(status.now) - Math.round((t0 + Date.now()) / 2);
    this.set({
      ...catchUp.onto({ status, domains: status.domainTotals, pending }),
      skewMs,
      connection: 'connected',
      problem: null,
    });
    const forwards = c.call('forwards.list');
    // Awaited after the accounts; a connection lost before that fails the accounts first.
    forwards.catch(() => {});
    // The accounts a page at a time: 100,000 rows in one answer would also hold its text, its
    // bytes and its rows in memory at once.
    const accounts = await c.allAccounts();
    const lists = { status, domains: status.domainTotals, pending, accounts, forwards: await forwards };
    if (this.catchUp === catchUp) this.catchUp = null;
    this.set({ ...catchUp.onto(lists), listed: true });
  }

  private onNotification<N extends NotificationMethod>(method: N, params: Notifications[N]): void {
    if (method === 'pending.applied') {
      const r = params as Notifications['pending.applied'];
      this.set({ lastApply: { ids: r.applied.map((p) => p.id), at: Date.now() } });
      return;
    }
    // Changes queued, cancelled or applied come as rows.changed; sizes as mailbox.size.
    if (method !== 'rows.changed' && method !== 'mailbox.size') return;
    const tell = (p: Patch) =>
      method === 'rows.changed' ? p.rows(params as RowsChange) : p.size(params as MailboxSizeChange);
    if (this.catchUp) tell(this.catchUp);
    this.set(tell(new Patch()).onto(this.snapshot));
  }

  /**
   * Sends a request. A rejection (bad input) comes back as its message; a daemon that went
   * away mid-request throws, so the screen can say the change may not have been queued.
   */
  async send<M extends Method>(call: { method: M; params: Params<M> }): Promise<Results[M]> {
    const c = this.client;
    if (!c) throw new UnreachableError(`not connected to the daemon at ${this.socketPath}`);
    // What it changed comes back as a rows.changed notification, just after the answer.
    return (c.call as (m: M, p: Params<M>) => Promise<Results[M]>)(call.method, call.params);
  }

  /**
   * Sends a change and answers once the lists show what the answer says changed (the
   * rows.changed notification follows the answer), so the next key acts on the rows as they are
   * now. Gives up waiting after `ms` or when the daemon goes away: the answer is what counts.
   */
  async sendShown<M extends Method>(call: { method: M; params: Params<M> }, ms = 2000): Promise<Results[M]> {
    const r = await this.send(call);
    const done = shows(r);
    if (done) await this.until(done, ms);
    return r;
  }

  private until(done: (s: DaemonSnapshot) => boolean, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let off = () => {};
      const timer = setTimeout(() => finish(), ms);
      const finish = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const check = () => {
        if (this.snapshot.connection !== 'connected' || done(this.snapshot)) finish();
      };
      off = this.subscribe(check);
      check();
    });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.client?.close();
  }
}

/**
 * One line for a failed call: the daemon's reason (and the input it is about), or that it
 * could not be reached.
 */
export function callError(err: unknown): { text: string; unreachable: boolean; field?: Field } {
  if (err instanceof RpcError) return { text: err.message, unreachable: false, field: err.data.field };
  return { text: `not sent: ${(err as Error).message}`, unreachable: true };
}

/** What the lists show once an answer's change is in them: a queued change there, a cancelled or applied one gone. */
function shows(r: unknown): ((s: DaemonSnapshot) => boolean) | null {
  if (!r || typeof r !== 'object') return null;
  const has = (s: DaemonSnapshot, id: string) => s.pending.some((p) => p.id === id);
  if ('queued' in r) {
    const id = (r as { queued: PendingView }).queued.id;
    return (s) => has(s, id);
  }
  if ('cancelled' in r) {
    const id = (r as { cancelled: PendingView }).cancelled.id;
    return (s) => !has(s, id);
  }
  if ('applied' in r) {
    const ids = new Set((r as { applied: PendingView[] }).applied.map((p) => p.id));
    return (s) => !s.pending.some((p) => ids.has(p.id));
  }
  // pending.cancel answers with the change it cancelled.
  if ('id' in r && 'appliesAt' in r) {
    const id = (r as PendingView).id;
    return (s) => !has(s, id);
  }
  return null;
}

type Row = { domain: string; name: string; address: string };

const compareRows = (a: { domain: string; name: string }, b: { domain: string; name: string }) =>
  a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** Where `row` is, or would go, in rows sorted by domain then name. */
function lowerBound(rows: readonly Row[], row: { domain: string; name: string }): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareRows(rows[mid], row) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of `address` in rows sorted by domain then name, or -1. */
export function findRow(rows: readonly Row[], address: string): number {
  const at = address.lastIndexOf('@');
  const i = lowerBound(rows, { name: address.slice(0, at), domain: address.slice(at + 1) });
  return rows[i]?.address === address ? i : -1;
}

/** A sorted list with `changed` put in place (by address) and `gone` taken out. */
function patchRows<T extends Row>(rows: T[], changed: T[], gone: string[]): T[] {
  if (changed.length === 0 && gone.length === 0) return rows;
  // Many at once (an import, an apply): one pass and one sort beat a splice each.
  if (changed.length + gone.length > 64) {
    const drop = new Set([...gone, ...changed.map((r) => r.address)]);
    return [...rows.filter((r) => !drop.has(r.address)), ...changed].sort(compareRows);
  }
  const out = rows.slice();
  for (const address of gone) {
    const i = findRow(out, address);
    if (i >= 0) out.splice(i, 1);
  }
  for (const row of changed) {
    const i = lowerBound(out, row);
    if (out[i]?.address === row.address) out[i] = row;
    else out.splice(i, 0, row);
  }
  return out;
}

/** The lists notifications patch. */
type Lists = Pick<DaemonSnapshot, 'status' | 'domains' | 'accounts' | 'forwards' | 'pending'>;

/** An account's row with the size a mailbox.size notification told. */
const sized = (row: AccountView, note: MailboxSizeChange): AccountView => ({
  ...row,
  messages: note.messages,
  bytes: note.bytes,
  used: note.bytes,
  lastDeliveryAt: note.lastDeliveryAt,
  health: note.health,
});

/**
 * What notifications said, as each row's last word. A row carries its whole state, so its last
 * word is the row as it is now, and can be put onto a list however old: one notification onto
 * the lists shown, or all of them since `subscribe` onto answers that were on their way.
 */
export class Patch {
  private readonly accounts = new Map<string, AccountView | null>();
  /** Sizes told of accounts this patch has no row for. */
  private readonly sizes = new Map<string, MailboxSizeChange>();
  private readonly forwards = new Map<string, ForwardView | null>();
  private readonly pending = new Map<string, PendingView | null>();
  private status: StatusView | null = null;
  /** Domain totals told by mailbox.size since the last status. */
  private readonly totals = new Map<string, MailboxSize>();

  rows(change: RowsChange): this {
    for (const a of change.accounts) this.account(a.address, a);
    for (const address of change.goneAccounts) this.account(address, null);
    for (const f of change.forwards) this.forwards.set(f.address, f);
    for (const address of change.goneForwards) this.forwards.set(address, null);
    for (const p of change.pending) this.pending.set(p.id, p);
    for (const id of change.gonePending) this.pending.set(id, null);
    this.status = change.status;
    this.totals.clear();
    return this;
  }

  size(note: MailboxSizeChange): this {
    const row = this.accounts.get(note.address);
    if (row) this.accounts.set(note.address, sized(row, note));
    else if (row === undefined) this.sizes.set(note.address, note);
    this.totals.set(domainOf(note.address), note.domainTotal);
    return this;
  }

  private account(address: string, row: AccountView | null): void {
    this.accounts.set(address, row);
    this.sizes.delete(address);
  }

  /** `lists` with every word of this patch put in; only the lists given come back. */
  onto<L extends Partial<Lists>>(lists: L): L {
    const out: Partial<Lists> = { ...lists };
    if (lists.accounts) {
      let accounts = patchRows(lists.accounts, ...split(this.accounts));
      if (this.sizes.size) {
        accounts = accounts.slice();
        for (const [address, note] of this.sizes) {
          const i = findRow(accounts, address);
          if (i >= 0) accounts[i] = sized(accounts[i], note);
        }
      }
      out.accounts = accounts;
    }
    if (lists.forwards) out.forwards = patchRows(lists.forwards, ...split(this.forwards));
    if (lists.pending && this.pending.size) {
      const pending = lists.pending.filter((p) => this.pending.get(p.id) !== null);
      const known = new Set(pending.map((p) => p.id));
      out.pending = pending.map((p) => this.pending.get(p.id) ?? p);
      for (const [id, p] of this.pending) if (p && !known.has(id)) out.pending.push(p);
    }
    const domains = this.status?.domainTotals ?? lists.domains ?? lists.status?.domainTotals;
    if (domains) {
      const totals = domains.map((d) => {
        const t = this.totals.get(d.domain);
        return t ? { ...d, messages: t.messages, bytes: t.bytes } : d;
      });
      if ('domains' in lists) out.domains = totals;
      const status = this.status ?? lists.status;
      if ('status' in lists && status) out.status = { ...status, domainTotals: totals };
    }
    return out as L;
  }
}

/** A patch's rows as [changed, gone]. */
function split<T>(words: Map<string, T | null>): [T[], string[]] {
  const changed: T[] = [];
  const gone: string[] = [];
  for (const [address, row] of words) {
    if (row) changed.push(row);
    else gone.push(address);
  }
  return [changed, gone];
}
