// How this daemon stands among others, asked in one place instead of in branches: alone on its
// data dir with a SQLite store (single-host.ts), or one of the daemons sharing a PostgreSQL
// store and one mail root, however many run (several-hosts.ts). Every
// difference between the two lives behind this interface: the file names each daemon keeps for
// itself on a shared root, where the settings it started with are recorded, who may apply, the
// status's `node` field, and what the others must hear of this daemon's mailboxes.
import type { NodeView } from '../control/protocol.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import type { SharedLocks } from '../pop3/server.js';
import type { ForwardQueue } from '../smtp/forward-queue.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../support/log.js';
import type { QueueAdmin } from './service-queue.js';

export interface NodeStrategy {
  /** Where the mailbox index saves its sizes: each daemon on a shared mail root keeps its own. */
  readonly indexFile: string;
  /** The forward queue's spool: on a shared mail root each daemon spools into its own folder. */
  readonly queueDir: string;
  /** Where big messages are spooled as they come: on a shared mail root, one folder per daemon. */
  readonly spoolDir: string;
  /** Whether other daemons deliver into the same Maildirs (quota checks then hold room first). */
  readonly sharedRoot: boolean;
  /** The POP3 mailbox locks other daemons honour, or null when no other daemon serves them. */
  readonly pop3Locks: SharedLocks | null;
  /** The status's `node` and `nodes`, or nothing when the daemon runs alone. */
  statusFields(): { node?: string; nodes?: NodeView[] };
  /** The node as `daemon ready` logs it (its name, and whether it holds the apply lease). */
  readyNote(): string | undefined;
  /** The settings recorded at this daemon's last start. */
  settingsBefore(store: Store): Record<string, string> | undefined;
  /** Records the settings this daemon started with. */
  saveSettings(store: Store, settings: Record<string, string>): Promise<void>;
  /** The forward queue as `queue list` and `queue retry` see it: this daemon's, or the service's. */
  queueAdmin(queue: ForwardQueue): QueueAdmin;
  /** Takes into this daemon's spool what a start without company left in the shared one. */
  adoptLooseSpool(queue: ForwardQueue, log: Logger): Promise<void>;
  /** Tells the other daemons that a message of `bytes` was delivered to `address` here. */
  publishAdded(address: string, bytes: number): void;
  /** Keeps `mailboxes`' sizes moving with the other daemons' deliveries and changes, and tells them this one's. */
  shareSizes(mailboxes: MailboxIndex): void;
  /** Calls `listener` when a daemon of the service comes, goes or takes the apply lease. */
  onNodesChanged(listener: () => void): void;
  /** Calls `listener` once if the daemon loses a shared store it cannot serve without. */
  onLost(listener: (why: string) => void): void;
  /**
   * Starts the applies (`start`: the apply engine's start) where this daemon may run them, and
   * whatever else waits for the daemon to be ready; resolves to how to stop that.
   */
  startApplying(start: () => Promise<void>, queue: ForwardQueue, log: Logger): Promise<{ stop(): void }>;
  /** Leaves the others, if any. */
  close(): Promise<void>;
}
