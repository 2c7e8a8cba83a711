// POP3: the server that lets each account read its Maildir, its logins checked against the
// store (logins.ts, shared with submission), its
// deletions told to the mailbox index. A removed, renamed or suspended account's open session
// ends when the MailboxLifecycle says so.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { MailboxIndex } from '../../maildir/mailbox-index.js';
import { Pop3Server } from '../../pop3/server.js';
import { metrics } from '../../service/metrics.js';
import type { Config } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { MailboxLifecycle } from '../mailbox-lifecycle.js';
import type { Logins } from './logins.js';
import type { Started } from './stops.js';

export interface Pop3 extends Started {
  pop3: Pop3Server;
}

/** The POP3 server (it serves once the ports hand it connections). */
export function startPop3(
  config: Config,
  parts: {
    store: Store;
    index: MailboxIndex;
    node: NodeStrategy;
    lifecycle: MailboxLifecycle;
    logins: Logins;
  },
  tls: { cert: Buffer; key: Buffer } | null,
  log: Logger,
): Pop3 {
  const { store, index } = parts;
  const pop3 = new Pop3Server({
    tls,
    requireTlsAuth: config.requireTlsAuth,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    idleTimeoutMs: config.pop3IdleTimeoutMs,
    authFailureDelayMs: config.authFailureDelayMs,
    throttle: parts.logins.throttle,
    shared: parts.node.pop3Locks,
    log,
    backend: {
      login: async (user, password) => {
        const mailbox = await parts.logins.check(user, password);
        metrics.pop3Login(mailbox !== null && !('suspended' in mailbox));
        return mailbox;
      },
      loggedIn: (mailbox, remote) => {
        store.recordActivity(mailbox.address, { lastLoginAt: Date.now(), lastLoginFrom: remote });
      },
      removing: (mailbox, files) => index.removing(mailbox.address, files),
      changed: (mailbox) => void index.refresh(mailbox.address),
    },
  });
  // A removal (or a rename) ends the account's open session, and so does a suspension.
  parts.lifecycle.subscribe({
    changed: (changes) => {
      for (const address of changes.removed) pop3.disconnect(address);
      for (const address of changes.suspended) pop3.disconnect(address);
    },
  });
  return { pop3, stop: () => pop3.close() };
}
