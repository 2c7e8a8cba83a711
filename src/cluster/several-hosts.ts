// The daemon as one of several sharing a PostgreSQL store and one mail root (a service of one
// daemon too, until others join). Its place among them (heartbeat, apply lease, mailbox locks,
// notifications) is the ClusterNode's (node.ts); here is what that means for the daemon's
// parts: its own spool, queue and saved sizes on the shared root, named for its node; its
// settings recorded under its node name; the applies run by the lease holder alone; and the
// sizes of Maildirs kept moving on every daemon.
import { join } from 'node:path';
import type { NodeView } from '../control/protocol.js';
import type { MailboxIndex } from '../maildir/mailbox-index.js';
import type { SharedLocks } from '../pop3/server.js';
import type { ForwardQueue } from '../smtp/forward-queue.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../support/log.js';
import { ClusterNode } from './node.js';
import type { NodeStrategy } from './node-strategy.js';
import { type QueueAdmin, ServiceQueue } from './service-queue.js';

/** How often the spools of daemons that are gone are looked for. */
const ADOPT_MS = 5000;

export class SeveralHosts implements NodeStrategy {
  readonly indexFile: string;
  readonly queueDir: string;
  readonly spoolDir: string;
  readonly sharedRoot = true;
  readonly pop3Locks: SharedLocks;
  /** DATA_DIR/queue: every daemon's spool folder. */
  private readonly queueRoot: string;
  private readonly lostListeners: ((why: string) => void)[] = [];

  private constructor(
    private readonly node: ClusterNode,
    dataDir: string,
  ) {
    this.indexFile = join(dataDir, `mailbox-index.${node.id}`);
    this.queueRoot = join(dataDir, 'queue');
    this.queueDir = join(this.queueRoot, node.id);
    this.spoolDir = join(dataDir, 'spool', node.id);
    this.pop3Locks = {
      lock: (address) => node.lockMailbox(address),
      unlock: (address) => node.unlockMailbox(address),
    };
    node.on('lost', (why: string) => {
      for (const l of this.lostListeners.splice(0)) l(why);
    });
  }

  /**
   * Joins the service as `name`, and is alive to the others from then on, however long the
   * start takes: nobody takes this daemon's spool while it starts (the lease is tried once it
   * can take up the applies).
   */
  static async join(store: Store, dataDir: string, name: string, version: string, log: Logger): Promise<SeveralHosts> {
    const node = await ClusterNode.join(store, name, version, log);
    node.startHeartbeat();
    return new SeveralHosts(node, dataDir);
  }

  statusFields(): { node: string; nodes: NodeView[] } {
    return { node: this.node.id, nodes: this.node.nodes };
  }

  readyNote(): string {
    return `${this.node.id}${this.node.holdsLease ? ' (apply lease)' : ''}`;
  }

  settingsBefore(store: Store): Record<string, string> | undefined {
    return store.meta.nodeSettings?.[this.node.id];
  }

  async saveSettings(store: Store, settings: Record<string, string>): Promise<void> {
    await store.saveNodeSettings(this.node.id, settings);
  }

  /** With several daemons, `queue list` and `queue retry` cover every daemon's spool. */
  queueAdmin(queue: ForwardQueue): QueueAdmin {
    return new ServiceQueue(this.queueRoot, this.node.id, queue, (node, id) => this.node.askRetry(node, id));
  }

  async adoptLooseSpool(queue: ForwardQueue, log: Logger): Promise<void> {
    const n = await queue.adoptLoose(this.queueRoot);
    if (n) log.notice('queue adopted', { from: 'the spool of a daemon that ran alone', messages: n });
  }

  publishAdded(address: string, bytes: number): void {
    this.node.publishAdded(address, bytes);
  }

  /**
   * Sizes move on every daemon: a delivery here is told to the others with its size, which
   * they count on as for their own; any other change (a POP3 delete, a file another program
   * moved) is told by address, and they list that Maildir again.
   */
  shareSizes(mailboxes: MailboxIndex): void {
    const fromOthers = new Set<string>();
    // A watched Maildir is listed again instead: on one disk its watch has seen the file too.
    this.node.on('sizes', (sizes: { added: [string, number][]; changed: string[] }) => {
      for (const [address, bytes] of sizes.added)
        if (mailboxes.has(address) && !mailboxes.watching(address)) mailboxes.added(address, bytes);
      const relist = [...sizes.changed, ...sizes.added.map(([a]) => a).filter((a) => mailboxes.watching(a))];
      for (const address of new Set(relist)) {
        if (!mailboxes.has(address)) continue;
        fromOthers.add(address);
        void mailboxes.refresh(address).finally(() => fromOthers.delete(address));
      }
    });
    mailboxes.on('size', (address: string, _size: unknown, how?: 'counted') => {
      if (how !== 'counted' && !fromOthers.has(address)) this.node.publishChanged(address);
    });
  }

  onNodesChanged(listener: () => void): void {
    this.node.on('nodes', listener);
  }

  onLost(listener: (why: string) => void): void {
    this.lostListeners.push(listener);
  }

  /**
   * One daemon applies on the hour: the one holding the lease. Another takes it when that one
   * is gone, and first finishes what it left (the queue lock waits for its connection). Spools
   * of daemons that are gone are taken over from now on, each by one daemon (one rename).
   */
  async startApplying(start: () => Promise<void>, queue: ForwardQueue, log: Logger): Promise<{ stop(): void }> {
    const node = this.node;
    const lead = () => void start().catch((err: Error) => log.error('apply start failed', { error: err.message }));
    node.on('lease', lead);
    node.on('retry', (id: string) => {
      if (queue.has(id)) queue.retry(id);
    });
    if (node.holdsLease) await start();
    node.start();
    const adopt = setInterval(() => void adoptSpools(this.queueRoot, node.gone(), queue, log), ADOPT_MS);
    adopt.unref();
    return { stop: () => clearInterval(adopt) };
  }

  close(): Promise<void> {
    return this.node.close();
  }
}

/** Takes over the spool folders of the daemons in `gone` (none left behind when one moved first). */
async function adoptSpools(root: string, gone: string[], queue: ForwardQueue, log: Logger): Promise<void> {
  for (const node of gone) {
    try {
      const n = await queue.adopt(join(root, node), node);
      if (n) log.notice('queue adopted', { from: node, messages: n, why: 'that daemon is gone' });
    } catch (err) {
      log.warning('queue not adopted', { from: node, error: (err as Error).message });
    }
  }
}
