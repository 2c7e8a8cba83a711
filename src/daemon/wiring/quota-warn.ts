// Quota warnings (--quota-warn): every size the mailbox index reports for an account with a
// quota is checked against the percentages (maildir/quota-warning.ts), and a warning written
// there is counted by the index and told to the other daemons as a delivery is.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { MailboxIndex, MailboxSize } from '../../maildir/mailbox-index.js';
import { maildirPath } from '../../maildir/paths.js';
import { QuotaWarnings } from '../../maildir/quota-warning.js';
import type { Config } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { Started } from './stops.js';

export function startQuotaWarnings(
  config: Config,
  store: Store,
  index: MailboxIndex,
  node: NodeStrategy,
  log: Logger,
): Started {
  const warnings = new QuotaWarnings({
    dataDir: config.dataDir,
    thresholds: () => config.quotaWarn,
    mailbox: (address) => {
      const a = store.accounts.get(address);
      return a
        ? { dir: maildirPath(config.dataDir, a.domain, a.name), domain: a.domain, quota: a.quota ?? null }
        : null;
    },
    naming: (address, file) => index.naming(address, file),
    added: (address, bytes) => {
      index.added(address, bytes);
      node.publishAdded(address, bytes);
    },
    log,
  });
  const onSize = (address: string, size: MailboxSize) => {
    if (store.accounts.get(address)?.quota) void warnings.sized(address, size);
  };
  index.on('size', onSize);
  return {
    stop: async () => {
      index.off('size', onSize);
      await warnings.idle();
    },
  };
}
