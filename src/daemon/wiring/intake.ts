// Mail intake: the spam filter (rspamd) that judges each message, and the SMTP intake that
// takes mail in, spooling big messages as they come, and hands it to delivery. On a stop the
// intake lets the messages being stored finish (within STOP_BOUND_MS) before it closes.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { Config } from '../../service/settings.js';
import { cleanSpool, SmtpIntake } from '../../smtp/intake.js';
import type { LocalDelivery } from '../../smtp/local-delivery.js';
import { SpamFilter } from '../../smtp/spam-filter.js';
import type { Logger } from '../../support/log.js';
import { STOP_BOUND_MS, type Started } from './stops.js';

export interface Filter extends Started {
  filter: SpamFilter;
}

/** The spam filter, as configured; it starts checking rspamd with the intake. */
export function buildFilter(config: Config, log: Logger): Filter {
  const filter = new SpamFilter(
    { url: config.rspamd, fail: config.rspamdFail, timeoutMs: config.rspamdTimeoutMs },
    log,
  );
  return { filter, stop: () => filter.close() };
}

export interface Intake extends Started {
  smtp: SmtpIntake;
}

/** The SMTP intake, after the spool is cleaned. */
export async function startSmtp(
  config: Config,
  parts: { delivery: LocalDelivery; filter: SpamFilter; node: NodeStrategy },
  tls: { cert: Buffer; key: Buffer } | null,
  log: Logger,
): Promise<Intake> {
  // Big messages are spooled as they come; what a crash left there is no transaction's now.
  // On a shared mail root each daemon has its own spool folder.
  const spoolDir = parts.node.spoolDir;
  const stale = await cleanSpool(spoolDir);
  if (stale) log.info('spool cleaned', { files: stale });
  const smtp = new SmtpIntake({
    delivery: parts.delivery,
    filter: parts.filter,
    spoolDir,
    maxMessageSize: config.maxMessageSize,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    refusalDelayMs: config.authFailureDelayMs,
    tls,
    hostname: config.hostname,
    log,
  });
  return { smtp, stop: () => smtp.close(STOP_BOUND_MS) };
}
