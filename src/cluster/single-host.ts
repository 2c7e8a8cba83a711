// The daemon alone on its data dir (a SQLite store, which no other daemon opens): the spool,
// the queue and the saved sizes have the data dir's plain names, the settings it started with
// are the store's own, it applies on every tick, and there is nobody to tell anything.
import { join } from 'node:path';
import type { ForwardQueue } from '../smtp/forward-queue.js';
import type { Store } from '../store/store.js';
import type { NodeStrategy } from './node-strategy.js';
import type { QueueAdmin } from './service-queue.js';

export class SingleHost implements NodeStrategy {
  readonly indexFile: string;
  readonly queueDir: string;
  readonly spoolDir: string;
  readonly sharedRoot = false;
  readonly pop3Locks = null;

  constructor(dataDir: string) {
    this.indexFile = join(dataDir, 'mailbox-index');
    this.queueDir = join(dataDir, 'queue');
    this.spoolDir = join(dataDir, 'spool');
  }

  statusFields(): Record<string, never> {
    return {};
  }

  readyNote(): undefined {
    return undefined;
  }

  settingsBefore(store: Store): Record<string, string> | undefined {
    return store.meta.settings;
  }

  async saveSettings(store: Store, settings: Record<string, string>): Promise<void> {
    await store.saveMeta({ settings });
  }

  queueAdmin(queue: ForwardQueue): QueueAdmin {
    return queue;
  }

  async adoptLooseSpool(): Promise<void> {
    // The data dir's spool is this daemon's own already.
  }

  publishAdded(): void {
    // No other daemon counts this one's Maildirs.
  }

  shareSizes(): void {
    // No other daemon changes these Maildirs, nor counts them.
  }

  onNodesChanged(): void {
    // The service is this daemon alone: it never changes.
  }

  onLost(): void {
    // A SQLite file is not a connection that can be lost.
  }

  async startApplying(start: () => Promise<void>): Promise<{ stop(): void }> {
    await start();
    return { stop: () => {} };
  }

  async close(): Promise<void> {
    // Nothing was joined.
  }
}
