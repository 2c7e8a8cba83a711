// The mailboxes' sizes and what follows them: the mailbox index (saved sizes restored, every
// Maildir tracked, swept and watched), kept in step with the other daemons' deliveries, and
// the caches that follow each mailbox (Maildir++ quota files, last login and delivery).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import { MailboxIndex } from '../../maildir/mailbox-index.js';
import { MaildirSizeFiles } from '../../maildir/maildirsize.js';
import { maildirPath } from '../../maildir/paths.js';
import type { Config } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { MailboxLifecycle } from '../mailbox-lifecycle.js';
import type { Started } from './stops.js';

/** New Maildirs watched as they are made, when one apply adds no more than this many. */
const WATCH_AT_ONCE = 100;

export interface Mailboxes extends Started {
  index: MailboxIndex;
  /** How many mailboxes' sizes were restored from the last run, and how many listed. */
  counts: { restored: number; listed: number };
  /** Checks the restored sizes against their folders from now on, and cleans what they leave. */
  startSweeping(): void;
}

/** The mailbox index, its sizes restored and every account's Maildir tracked. */
export async function startMailboxes(
  config: Config,
  store: Store,
  node: NodeStrategy,
  lifecycle: MailboxLifecycle,
  log: Logger,
): Promise<Mailboxes> {
  // Sizes the last run saved are taken as they are; the first sweep checks them.
  const index = new MailboxIndex(log, node.indexFile, config.watchLimit);
  await index.restore();
  // The store's own key strings: lookups by them (100,000 per domain list) compare fastest.
  // Made one at a time as the index takes them: no list of 100,000 paths is held beside it.
  function* mailboxes() {
    for (const [address, a] of store.accounts) yield { address, dir: maildirPath(config.dataDir, a.domain, a.name) };
  }
  const counts = await index.trackAll(mailboxes());
  lifecycle.subscribe({
    changed: (moves) => {
      for (const address of moves.removed) index.forget(address);
      // A bulk apply leaves its new (empty) Maildirs to the next sweep, which lists and watches
      // them: another program's change there is seen within --rescan-interval, as past the watch limit.
      const watchNow = moves.added.length <= WATCH_AT_ONCE;
      for (const a of moves.added) {
        if (index.has(a.address)) continue;
        if (a.moved) void index.track(a.address, a.dir);
        else index.trackNew(a.address, a.dir, watchNow);
      }
    },
  });
  node.shareSizes(index);
  return {
    index,
    counts,
    startSweeping: () => {
      index.startSweeping(config.rescanIntervalMs);
      index.startCleaning(Math.min(10_000, config.rescanIntervalMs));
    },
    stop: () => index.stop(),
  };
}

/**
 * Keeps the caches of each mailbox: a mailbox with a quota has its Maildir++ quota file follow
 * its size, and a renamed account keeps its last login and delivery.
 */
export function keepMailboxCaches(
  config: Config,
  store: Store,
  index: MailboxIndex,
  lifecycle: MailboxLifecycle,
  log: Logger,
): void {
  const quotaFiles = new MaildirSizeFiles(log);
  const writeQuota = (address: string) => {
    const a = store.accounts.get(address);
    if (a) void quotaFiles.update(maildirPath(config.dataDir, a.domain, a.name), a.quota, index.get(address));
  };
  for (const [address, a] of store.accounts) if (a.quota) writeQuota(address);
  lifecycle.subscribe({
    applied: (r) => {
      for (const c of r.applied) {
        if (c.kind !== 'account' || c.action === 'remove') continue;
        const a = store.accounts.get(c.address);
        // No quota and no quota file (every new account of a bulk add): nothing to write or remove.
        if (a && !a.quota && !existsSync(join(maildirPath(config.dataDir, a.domain, a.name), 'maildirsize'))) continue;
        writeQuota(c.address);
      }
      for (const c of r.applied) {
        const seen = c.action === 'rename' ? store.activity.get(c.address) : undefined;
        if (seen && c.newName) store.recordActivity(`${c.newName}@${c.domain}`, seen);
      }
    },
  });
  index.on('size', (address: string) => {
    if (store.accounts.get(address)?.quota) writeQuota(address);
  });
}
