// The forward queue of a whole service. Each daemon spools into DATA_DIR/queue/NODE/ on the
// shared mail root, so any daemon lists every daemon's messages from their descriptions there,
// and asks the one holding a message to try it now (a notification through the store): an admin
// sees and drives the service's queue from whichever host they are on.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueView } from '../control/protocol.js';
import { NotFoundError } from '../model/errors.js';
import type { ForwardQueue } from '../smtp/forward-queue.js';
import { queueView, readSpool } from '../smtp/queue-spool.js';

/** The forward queue as `queue list` and `queue retry` see it: one daemon's, or a service's. */
export interface QueueAdmin {
  list(): QueueView[] | Promise<QueueView[]>;
  retry(id: string): QueueView | Promise<QueueView>;
}

export class ServiceQueue implements QueueAdmin {
  constructor(
    /** DATA_DIR/queue: one folder per daemon. */
    private readonly root: string,
    private readonly node: string,
    private readonly queue: ForwardQueue,
    /** Asks daemon `node` to try its message `id` now. */
    private readonly askRetry: (node: string, id: string) => Promise<void>,
  ) {}

  /** This daemon's messages, then every other daemon's, oldest first. */
  async list(): Promise<QueueView[]> {
    const mine = this.queue.list().map((v) => ({ ...v, node: this.node }));
    const others = await Promise.all(
      (await this.others()).map(async (node) =>
        (await readSpool(join(this.root, node))).map((e) => queueView(e, node)),
      ),
    );
    return [...mine, ...others.flat()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async retry(id: string): Promise<QueueView> {
    if (this.queue.has(id)) return { ...this.queue.retry(id), node: this.node };
    const found = (await this.list()).find((v) => v.id === id);
    if (!found?.node) throw new NotFoundError(`no queued message has id ${JSON.stringify(id)}: see vmail queue list`);
    await this.askRetry(found.node, id);
    return { ...found, nextAttemptAt: new Date().toISOString() };
  }

  /** The other daemons' spool folders (a gone daemon's stays until another adopts it). */
  private async others(): Promise<string[]> {
    // No queue folder yet (no daemon has spooled there), or one this daemon cannot read: the list
    // then holds this daemon's own messages (from memory) only; no message is touched.
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory() && e.name !== this.node).map((e) => e.name);
  }
}
