// The accounts' logins, one check for POP3 and submission: the password against the store's
// hash (a hash brought from another server becomes vmail's own at the first good login), and
// one throttle per client address, so guesses on one port slow the other as well. Good logins
// are remembered in the auth cache (--auth-cache; store/auth-cache.ts), whose entries hold the
// stored hash in their HMAC: a password changed here or on another daemon sharing the store
// never matches an old entry. An account's entry is also forgotten when it is changed,
// suspended, renamed or removed (here or on another daemon), and the live account row is read
// at each login, so a suspended or removed account is refused on a cache hit as well.

import { maildirPath } from '../../maildir/paths.js';
import { asciiAddress } from '../../model/names.js';
import { AuthThrottle } from '../../pop3/auth-throttle.js';
import type { Mailbox } from '../../pop3/session.js';
import type { Config } from '../../service/settings.js';
import { AUTH_CACHE_TTL_MS, AuthCache } from '../../store/auth-cache.js';
import { hashPassword, isForeignHash, PasswordVerifier } from '../../store/passwords.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { ChangeQueue } from '../change-queue.js';
import type { MailboxLifecycle } from '../mailbox-lifecycle.js';

export interface Logins {
  throttle: AuthThrottle;
  /** Good logins remembered, for the metrics (hits, misses, entries). */
  cache: AuthCache;
  /** The account `user` names when `password` is its own (suspended or not), else null. */
  check(user: string, password: string): Promise<Mailbox | null>;
}

export function accountLogins(
  config: Config,
  store: Store,
  changes: ChangeQueue,
  lifecycle: MailboxLifecycle,
  log: Logger,
): Logins {
  const cache = new AuthCache(config.authCacheSize, AUTH_CACHE_TTL_MS);
  const verifier = new PasswordVerifier(cache);
  lifecycle.subscribe({
    // Removed or renamed (the old name), suspended: here or on another daemon.
    changed: (c) => {
      for (const address of [...c.removed, ...c.suspended]) cache.forget(address);
    },
    // Any account change applied here (a password, a suspension, a rename's new name).
    applied: (result) => {
      for (const c of result.applied) if (c.kind === 'account') cache.forget(c.address);
    },
  });
  return {
    throttle: new AuthThrottle(config.authFailureDelayMs),
    cache,
    check: async (user, password) => {
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
    },
  };
}

/** The account a user name means: `name@domain`, or `name` when one domain is hosted. */
function loginAddress(user: string, domains: string[]): string | null {
  const u = user.trim().toLowerCase();
  if (u.includes('@')) return asciiAddress(u);
  return domains.length === 1 ? `${u}@${domains[0]}` : null;
}
