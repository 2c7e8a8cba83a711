// A mailbox's life once its change is real, in one place. An account comes, goes, is renamed or
// suspended by an apply on this daemon (apply-engine.ts) or by one another daemon sharing the
// store committed (the store's change log); either way the daemon's parts that keep something
// of each mailbox hear it here, from one event, in the order they subscribed:
//   the mailbox index (sizes, watches), the consoles (control notifications), the caches
//   (Maildir++ quota files, last login and delivery), then the POP3 sessions.
// These are step 3 ("memory") of files -> commit -> memory: the Maildirs are in place and the
// rows committed before any subscriber hears of them (apply-engine.ts says why that order).
import type { ApplyResult } from '../control/protocol.js';
import { maildirPath } from '../maildir/paths.js';
import type { RemoteAccounts, Store } from '../store/store.js';
import type { AccountMoves, ApplyEngine } from './apply-engine.js';

/** Accounts that came, went or were suspended: their Maildirs and rows are in place already. */
export interface MailboxChanges extends AccountMoves {
  /** Accounts still here, suspended now: their open sessions end. */
  suspended: string[];
}

/** A part of the daemon that keeps something of each mailbox. */
export interface MailboxSubscriber {
  /**
   * Accounts came, went or were suspended: after each committed chunk of a local apply (its
   * suspensions once the apply is over), and after each commit of another daemon's.
   */
  changed?(changes: MailboxChanges): void;
  /** A local apply is over: what it applied and what failed (what the consoles show). */
  applied?(result: ApplyResult): void;
}

export class MailboxLifecycle {
  private readonly subscribers: MailboxSubscriber[] = [];

  constructor(
    engine: ApplyEngine,
    private readonly store: Store,
    private readonly dataDir: string,
  ) {
    engine.on('accounts', (moves: AccountMoves) => this.changed({ ...moves, suspended: [] }));
    engine.on('applied', (result: ApplyResult) => {
      for (const s of this.subscribers) s.applied?.(result);
      // A suspension ends the account's open session once the whole apply is over, as a
      // removal (or a rename) did at its chunk's commit.
      const suspended = result.applied
        .filter((c) => c.kind === 'account' && c.action === 'suspend')
        .map((c) => c.address);
      if (suspended.length) this.changed({ added: [], removed: [], suspended });
    });
    // Accounts another daemon applied: their Maildirs are made (or archived) already.
    store.onRemoteAccounts((a) => this.changed(this.fromOthers(a)));
  }

  /** Adds `subscriber` after those already there: it hears each change after them. */
  subscribe(subscriber: MailboxSubscriber): void {
    this.subscribers.push(subscriber);
  }

  private changed(changes: MailboxChanges): void {
    for (const s of this.subscribers) s.changed?.(changes);
  }

  /**
   * What another daemon's commit means here: its new accounts' Maildirs may hold mail already
   * (an import, a rename, deliveries on that daemon), so they are listed as a moved one's are.
   */
  private fromOthers(a: RemoteAccounts): MailboxChanges {
    const added: MailboxChanges['added'] = [];
    for (const address of a.added) {
      const rec = this.store.accounts.get(address);
      if (rec) added.push({ address, dir: maildirPath(this.dataDir, rec.domain, rec.name), moved: true });
    }
    const suspended = a.changed.filter((address) => this.store.accounts.get(address)?.suspended);
    return { added, removed: a.removed, suspended };
  }
}
