// Submission (ports 587 and 465): the accounts' mail clients send through it. Logins are the
// POP3 ones (logins.ts: one check, one throttle, the same log lines); a message is signed with
// its sender's domain's DKIM key and goes into the outgoing queue (the forward queue), counted
// against --send-limit in DATA_DIR/sending/.
import { join } from 'node:path';
import { judgedLogin, plaintextAllowed } from '../../pop3/auth-throttle.js';
import type { Config } from '../../service/settings.js';
import type { DkimKeys } from '../../smtp/dkim.js';
import type { ForwardQueue } from '../../smtp/forward-queue.js';
import { SendLimit } from '../../smtp/send-limit.js';
import { Submission } from '../../smtp/submission.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { Logins } from './logins.js';
import { STOP_BOUND_MS, type Started } from './stops.js';

export interface Submitting extends Started {
  submission: Submission;
}

/** The sending limit, with the counts the last run left in DATA_DIR/sending/. */
export function buildSendLimit(config: Config, log: Logger): SendLimit {
  const limit = new SendLimit(join(config.dataDir, 'sending'), config.sendLimit);
  limit.load((file, why) => log.warning('send count unreadable', { file, why, counted: 'nothing' }));
  return limit;
}

/** Whether `account` may send as `address`: itself, or a forward (an alias) that reaches it. */
export function maySendAs(store: Store, account: string, address: string): boolean {
  const a = address.toLowerCase();
  if (a === account) return true;
  const forward = store.forwards.get(a);
  if (!forward || (forward.expiresAt !== undefined && forward.expiresAt <= Date.now())) return false;
  return forward.destinations.some((d) => d.toLowerCase() === account);
}

export function startSubmission(
  config: Config,
  parts: { store: Store; queue: ForwardQueue; dkim: DkimKeys; logins: Logins; limit: SendLimit },
  tls: { cert: Buffer; key: Buffer } | null,
  log: Logger,
): Submitting {
  const submission = new Submission({
    hostname: config.hostname,
    tls,
    maxMessageSize: config.maxMessageSize,
    maxConnections: config.maxConnections,
    // Read at each connection: a reload changes `config` in place.
    maxPerAddress: () => config.maxConnectionsPerAddress,
    login: judgedLogin(parts.logins.throttle, 'submission', log, (user, password) =>
      parts.logins.check(user, password),
    ),
    plaintextAllowed: (remote) =>
      plaintextAllowed(config.requireTlsAuth, Boolean(config.tlsCert || config.acme), remote),
    maySendAs: (account, address) => maySendAs(parts.store, account, address),
    sign: (domain, message) => parts.dkim.sign(domain, message),
    queue: parts.queue,
    limit: parts.limit,
    log,
  });
  const stop = async () => {
    await submission.close(STOP_BOUND_MS);
    // The counts of the last messages are written after their 250: written before the stop ends.
    await parts.limit.flush();
  };
  return { submission, stop };
}
