// SIGHUP's new settings: those that can change while the daemon runs are handed to the parts
// that hold them (the relay, TLS, limits, the log level, rspamd); the others are named as
// needing a restart. A reload the relay's CA file refuses changes nothing.

import type { HttpFront } from '../../http/server.js';
import type { Pop3Server } from '../../pop3/server.js';
import { type Config, SETTINGS } from '../../service/settings.js';
import type { ForwardQueue } from '../../smtp/forward-queue.js';
import type { SmtpIntake } from '../../smtp/intake.js';
import type { SendLimit } from '../../smtp/send-limit.js';
import type { SpamFilter } from '../../smtp/spam-filter.js';
import type { Submission } from '../../smtp/submission.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { recordReload } from './audit-log.js';
import { readTls } from './ports.js';

export type Reload = (next: Config) => { applied: string[]; needRestart: string[] };

type TlsParts = { pop3: Pop3Server; smtp: SmtpIntake; submission: Submission; http: HttpFront };

/**
 * Puts a new certificate (ACME's, issued or renewed) into every TLS server, with the running
 * settings: the next handshake (POP3S, STLS, STARTTLS, submission) presents it; sessions open
 * keep the TLS they have.
 */
export function installTls(config: Config, parts: TlsParts, tls: { cert: Buffer; key: Buffer } | null): void {
  parts.pop3.reload({
    tls,
    requireTlsAuth: config.requireTlsAuth,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    idleTimeoutMs: config.pop3IdleTimeoutMs,
    authFailureDelayMs: config.authFailureDelayMs,
  });
  parts.smtp.reload({
    tls,
    maxMessageSize: config.maxMessageSize,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    refusalDelayMs: config.authFailureDelayMs,
  });
  parts.submission.reload({ tls, maxMessageSize: config.maxMessageSize });
  parts.http.reload(tls);
}

/** The daemon's reload: `config` is the running one, changed in place by each reload. */
export function reloader(
  config: Config,
  parts: {
    store: Store;
    queue: ForwardQueue;
    pop3: Pop3Server;
    smtp: SmtpIntake;
    submission: Submission;
    http: HttpFront;
    limit: SendLimit;
    filter: SpamFilter;
    /** The ACME certificate in use, when --acme orders it (not a file SIGHUP reads). */
    acmeTls: () => { cert: Buffer; key: Buffer } | null;
  },
  log: Logger,
): Reload {
  return (next) => {
    const applied: string[] = [];
    const needRestart: string[] = [];
    const changed = SETTINGS.filter((s) => JSON.stringify(config[s.field]) !== JSON.stringify(next[s.field]));
    for (const s of changed) (s.reloadable ? applied : needRestart).push(s.key);
    // First what may refuse (an unreadable CA file): a refused reload changes nothing.
    if (applied.includes('relay') || applied.includes('relay-timeout') || applied.includes('relay-ca-file'))
      parts.queue.setRelay(next.relay, next.relayTimeoutMs, next.relayCaFile);
    // A certificate renewed in place (certbot) is read again even when its path is the same.
    const tls = readTls(next) ?? parts.acmeTls();
    log.level = next.logLevel;
    installTls(next, parts, tls);
    parts.limit.limit = next.sendLimit;
    parts.filter.configure({ url: next.rspamd, fail: next.rspamdFail, timeoutMs: next.rspamdTimeoutMs });
    for (const s of changed) if (s.reloadable) Object.assign(config, { [s.field]: next[s.field] });
    if (changed.length) recordReload(parts.store, next, changed, applied, needRestart, log);
    log.notice('daemon reloaded', {
      changed: applied.join(',') || 'nothing',
      certificate: tls ? 'read again' : 'none',
      need_restart: needRestart.join(',') || undefined,
    });
    return { applied, needRestart };
  };
}
