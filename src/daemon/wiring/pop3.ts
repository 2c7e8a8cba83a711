// POP3: the server that lets each account read its Maildir, its logins checked against the
// store (a hash brought from another server becomes vmail's own at the first good login), its
// deletions told to the mailbox index. A removed, renamed or suspended account's open session
// ends when the MailboxLifecycle says so.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { MailboxIndex } from '../../maildir/mailbox-index.js';
import { maildirPath } from '../../maildir/paths.js';
import { asciiAddress } from '../../model/names.js';
import { Pop3Server } from '../../pop3/server.js';
import { metrics } from '../../service/metrics.js';
import type { Config } from '../../service/settings.js';
import { hashPassword, isForeignHash, PasswordVerifier } from '../../store/passwords.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { ChangeQueue } from '../change-queue.js';
import type { MailboxLifecycle } from '../mailbox-lifecycle.js';
import type { Started } from './stops.js';

export interface Pop3 extends Started {
  pop3: Pop3Server;
}

/** The POP3 server (it serves once the ports hand it connections). */
export function startPop3(
  config: Config,
  parts: { store: Store; changes: ChangeQueue; index: MailboxIndex; node: NodeStrategy; lifecycle: MailboxLifecycle },
  tls: { cert: Buffer; key: Buffer } | null,
  log: Logger,
): Pop3 {
  const { store, changes, index } = parts;
  const verifier = new PasswordVerifier();
  const login = async (user: string, password: string) => {
    const address = loginAddress(user, changes.domains);
    const account = address ? store.accounts.get(address) : undefined;
    if (!address || !account) return null;
    if (!(await verifier.verify(address, password, account.passwordHash))) return null;
    // A hash brought from another server becomes vmail's own at the first good login.
    if (isForeignHash(account.passwordHash))
      void hashPassword(password.normalize('NFC'))
        .then((hash) => store.rehash(address, account.passwordHash, hash))
        .then((done) => done && log.info('password rehashed', { user: address, scheme: 'argon2id' }))
        .catch((err: Error) => log.warning('password not rehashed', { user: address, error: err.message }));
    const mailbox = { address, dir: maildirPath(config.dataDir, account.domain, account.name) };
    return account.suspended ? { ...mailbox, suspended: true } : mailbox;
  };
  const pop3 = new Pop3Server({
    tls,
    requireTlsAuth: config.requireTlsAuth,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    idleTimeoutMs: config.pop3IdleTimeoutMs,
    authFailureDelayMs: config.authFailureDelayMs,
    shared: parts.node.pop3Locks,
    log,
    backend: {
      login: async (user, password) => {
        const mailbox = await login(user, password);
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

/** The account a POP3 user name means: `name@domain`, or `name` when one domain is hosted. */
function loginAddress(user: string, domains: string[]): string | null {
  const u = user.trim().toLowerCase();
  if (u.includes('@')) return asciiAddress(u);
  return domains.length === 1 ? `${u}@${domains[0]}` : null;
}
