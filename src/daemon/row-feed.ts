// Live rows for subscribed clients: every write to the store names what it touched; within one
// moment those are gathered, and one `rows.changed` notification carries each touched row as the
// lists now show it, so an open console stays current without fetching 100,000 rows again.
import type { RowsChange, StatusView } from '../control/protocol.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import type { Store, Touched } from '../store/store.js';
import { accountRow, forwardRow, viewPending } from './views.js';

/** How long logins are gathered into one notification. */
const LOGINS_MS = 1000;

export class RowFeed {
  private readonly addresses = new Set<string>();
  private readonly pending = new Set<string>();
  private scheduled = false;
  private loginTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly sizes: MailboxIndex,
    private readonly status: () => StatusView,
    private readonly send: (rows: RowsChange) => void,
    /** Whether anyone listens: when nobody does, nothing is gathered. */
    private readonly wanted: () => boolean,
  ) {
    store.onTouch((t) => this.touch(t));
  }

  /** Sends the status alone (it changed without a row: a daemon of the service came or went). */
  statusChanged(): void {
    this.touch({ addresses: [], pending: [] });
  }

  private touch(t: Touched): void {
    if (!this.wanted()) return;
    for (const a of t.addresses) this.addresses.add(a);
    for (const id of t.pending) this.pending.add(id);
    if (this.scheduled) return;
    // Logins (hundreds a second on a busy server) are gathered for a second; they also go with
    // any write's notification before that.
    if (t.loginOnly) {
      this.loginTimer ??= setTimeout(() => this.flush(), LOGINS_MS).unref();
      return;
    }
    this.scheduled = true;
    // Writes committed together (an import, an apply's chunk) go out as one notification.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    const rows: RowsChange = {
      accounts: [],
      forwards: [],
      pending: [],
      goneAccounts: [],
      goneForwards: [],
      gonePending: [],
      status: this.status(),
    };
    const now = Date.now();
    for (const address of this.addresses) {
      const account = accountRow(this.store, this.sizes, address, now);
      if (account) rows.accounts.push(account);
      else rows.goneAccounts.push(address);
      const forward = forwardRow(this.store, address);
      if (forward) rows.forwards.push(forward);
      else rows.goneForwards.push(address);
    }
    for (const id of this.pending) {
      const p = this.store.pending.get(id);
      if (p) rows.pending.push(viewPending(p));
      else rows.gonePending.push(id);
    }
    this.addresses.clear();
    this.pending.clear();
    this.send(rows);
  }
}
