// The console's connection to the daemon, outside React: connects, subscribes, keeps the lists
// the screens show, follows the daemon's notifications, and reconnects by itself when the daemon
// goes away. Screens read it through the useDaemon hook.
import { ControlClient, RpcError, UnreachableError } from '../src/control/client.js';
import type {
  AccountView,
  DomainView,
  Field,
  ForwardView,
  Method,
  NotificationMethod,
  Notifications,
  Params,
  PendingView,
  Results,
  RowsChange,
  StatusView,
} from '../src/control/protocol.js';

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
}

const RETRY_MS = 1000;

/** The accounts loaded so far, and the last of them (pages come in list order). */
interface Loading {
  rows: AccountView[];
  last: AccountView | null;
}

export class DaemonSession {
  private client: ControlClient | null = null;
  private listeners = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | null = null;
  private loading: Loading | null = null;
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
      client.onNotification((method, params) => this.onNotification(method, params));
      client.on('close', () => {
        if (this.client !== client) return;
        this.client = null;
        this.set({ connection: 'down', problem: `the daemon at ${this.socketPath} closed the connection` });
        this.retry();
      });
      await client.call('subscribe');
      await this.refresh();
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
   */
  private async refresh(): Promise<void> {
    const c = this.client;
    if (!c) return;
    const t0 = Date.now();
    const [status, pending] = await Promise.all([c.call('status'), c.call('pending.list')]);
    const skewMs = Date.parse(status.now) - Math.round((t0 + Date.now()) / 2);
    this.set({ status, domains: status.domainTotals, pending, skewMs, connection: 'connected', problem: null });
    const forwards = c.call('forwards.list');
    // Awaited after the accounts; a connection lost before that fails the accounts first.
    forwards.catch(() => {});
    // The accounts a page at a time: 100,000 rows in one answer would also hold its text, its
    // bytes and its rows in memory at once.
    const loading: Loading = { rows: [], last: null };
    this.loading = loading;
    try {
      await c.allAccounts(undefined, (page) => {
        loading.rows = loading.rows.concat(page);
        loading.last = page.at(-1) ?? loading.last;
      });
      this.set({ accounts: loading.rows, forwards: await forwards, listed: true });
    } finally {
      if (this.loading === loading) this.loading = null;
    }
  }

  /**
   * A change that came while the accounts load: rows up to the last one loaded are changed
   * (the pages loaded are older than it); rows past it are left to the pages still to come,
   * which are newer (answers and notifications come in the order the daemon sent them).
   */
  private loadingChange(loading: Loading, change: RowsChange): void {
    const last = loading.last;
    const loaded = (row: { domain: string; name: string }) => last !== null && compareRows(row, last) <= 0;
    const split = (address: string) => {
      const at = address.lastIndexOf('@');
      return { name: address.slice(0, at), domain: address.slice(at + 1) };
    };
    loading.rows = patchRows(
      loading.rows,
      change.accounts.filter(loaded),
      change.goneAccounts.filter((a) => loaded(split(a))),
    );
  }

  private onNotification<N extends NotificationMethod>(method: N, params: Notifications[N]): void {
    if (method === 'rows.changed') {
      const change = params as RowsChange;
      if (this.loading) this.loadingChange(this.loading, change);
      this.set(withRows(this.snapshot, change));
      return;
    }
    if (method === 'mailbox.size') {
      const size = params as Notifications['mailbox.size'];
      if (this.loading) {
        const rows = this.loading.rows;
        const at = findRow(rows, size.address);
        if (at >= 0)
          rows[at] = { ...rows[at], messages: size.messages, bytes: size.bytes, lastDeliveryAt: size.lastDeliveryAt };
      }
      const i = findRow(this.snapshot.accounts, size.address);
      if (i < 0) return;
      const accounts = this.snapshot.accounts.slice();
      const old = accounts[i];
      accounts[i] = { ...old, messages: size.messages, bytes: size.bytes, lastDeliveryAt: size.lastDeliveryAt };
      // The domain's totals move by what the mailbox moved.
      const domains = this.snapshot.domains.map((d) =>
        d.domain === old.domain
          ? { ...d, messages: d.messages + size.messages - old.messages, bytes: d.bytes + size.bytes - old.bytes }
          : d,
      );
      this.set({ accounts, domains });
    }
    // Changes queued, cancelled or applied come as rows.changed too.
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

/** The lists with a rows.changed notification applied. */
export function withRows(snapshot: DaemonSnapshot, change: RowsChange): Partial<DaemonSnapshot> {
  let pending = snapshot.pending;
  if (change.pending.length || change.gonePending.length) {
    const gone = new Set(change.gonePending);
    const changed = new Map(change.pending.map((p) => [p.id, p]));
    pending = snapshot.pending.filter((p) => !gone.has(p.id)).map((p) => changed.get(p.id) ?? p);
    const known = new Set(pending.map((p) => p.id));
    pending.push(...change.pending.filter((p) => !known.has(p.id)));
  }
  return {
    accounts: patchRows(snapshot.accounts, change.accounts, change.goneAccounts),
    forwards: patchRows(snapshot.forwards, change.forwards, change.goneForwards),
    pending,
    status: change.status,
    domains: change.status.domainTotals,
  };
}
