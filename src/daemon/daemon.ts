// The daemon's start, as a table of contents: each step is a small function in wiring/ that
// builds one feature (ports, store and node, applies, mailboxes, delivery and the forward
// queue, intake, control, POP3), connects it to what came before, and hands back how to stop
// it. A stop runs those in reverse: the ports close first, deliveries and relay attempts in
// flight finish (within STOP_BOUND_MS), and the store closes last. SIGHUP's new settings come
// in by reload() (wiring/reload.ts).

import { checkPeerSupport } from '../control/peer.js';
import type { StatusView } from '../control/protocol.js';
import { onStrayMessage } from '../maildir/maildir.js';
import { metrics, serveMetrics } from '../service/metrics.js';
import type { Config } from '../service/settings.js';
import { Logger } from '../support/log.js';
import { VERSION } from '../support/package-root.js';
import { watchTrail } from '../support/trail.js';
import type { ChangeQueue } from './change-queue.js';
import { becomeDaemonUser } from './privileges.js';
import { pop3Clients } from './views.js';
import { loadAcme } from './wiring/acme.js';
import { buildApply, startApplying } from './wiring/apply.js';
import { recordStartSettings, startAuditPruning } from './wiring/audit-log.js';
import { startControl } from './wiring/control.js';
import { buildDelivery, preloadSending } from './wiring/delivery.js';
import { startHttp } from './wiring/http.js';
import { buildFilter, startSmtp } from './wiring/intake.js';
import { accountLogins } from './wiring/logins.js';
import { keepMailboxCaches, startMailboxes } from './wiring/mailboxes.js';
import { startPop3 } from './wiring/pop3.js';
import { bindPorts, type PortNumbers, readTls } from './wiring/ports.js';
import { startQuotaWarnings } from './wiring/quota-warn.js';
import { installTls, type Reload, reloader } from './wiring/reload.js';
import { STOP_BOUND_MS, Stops } from './wiring/stops.js';
import { openStore } from './wiring/store.js';
import { buildSendLimit, startSubmission } from './wiring/submission.js';
import { startTrail } from './wiring/trail.js';

export interface RunningDaemon {
  config: Config;
  changes: ChangeQueue;
  ports: PortNumbers;
  /** What `vmail status` shows. */
  status(): StatusView;
  /** Applies the settings SIGHUP may change; says which changed and which need a restart. */
  reload: Reload;
  /** Calls `listener` if the daemon loses a shared store it cannot serve without. */
  onLost(listener: (why: string) => void): void;
  stop(): Promise<void>;
}

export async function startDaemon(config: Config, log = new Logger(config.logLevel)): Promise<RunningDaemon> {
  // Mail, hashes and the queue are for the daemon's user and group only.
  process.umask(0o027);
  onStrayMessage((path, what) => log.warning('maildir entry skipped', { path, what, why: 'not a message file' }));
  const stops = new Stops();
  try {
    // The ports first: they may need root, which the daemon then gives up.
    const ports = stops.add(await bindPorts(config));
    becomeDaemonUser(config, log);
    // The certificate: the files given, or the one ACME keeps in the data dir (maybe none yet).
    const acme = stops.add(await loadAcme(config, log));
    const tls = readTls(config) ?? acme.current();
    // Who changes what is recorded from the kernel's word: no daemon runs without that.
    checkPeerSupport();
    // The store, and this daemon's place beside others (its node strategy).
    const { store, node } = stops.add(await openStore(config, log));
    // The trail records from here; it stops (writing what it holds) just before the store closes.
    stops.add(startTrail(config, store, log));
    // Each mailbox's POP3 clients, for the accounts' health (clients that fight).
    const unwatch = watchTrail((n) => pop3Clients.note(n.event, n.address, n.client, n.detail?.uidl, n.at));
    stops.add({ stop: async () => unwatch() });
    // The applies and the MailboxLifecycle they raise. Its subscribers, in the order they hear
    // each change: the mailbox index, the consoles, the caches, the POP3 sessions.
    const apply = stops.add(buildApply(config, store, log));
    const { changes, engine, lifecycle } = apply;
    const mailboxes = stops.add(await startMailboxes(config, store, node, lifecycle, log));
    const { index } = mailboxes;
    // Where mail goes (a Maildir here, or the forward queue), then what takes it in.
    const { delivery, queue, dkim } = await buildDelivery(config, store, index, node, log);
    const { filter } = stops.add(buildFilter(config, log));
    const limit = buildSendLimit(config, log);
    const control = stops.add(
      await startControl(
        config,
        { store, node, changes, engine, lifecycle, index, queue, dkim, filter, limit, ports: ports.numbers },
        log,
      ),
    );
    // The audit log kept to its retention, with the settings this start runs with.
    stops.add(startAuditPruning(config, store, log));
    await recordStartSettings(config, store, node);
    // A size moves the quota file first, then the consoles hear of it.
    keepMailboxCaches(config, store, index, lifecycle, log);
    stops.add(startQuotaWarnings(config, store, index, node, log));
    control.tellSizes();
    const logins = accountLogins(config, store, changes, lifecycle, log);
    const { pop3 } = stops.add(startPop3(config, { store, index, node, lifecycle, logins }, tls, log));
    const { smtp } = stops.add(await startSmtp(config, { delivery, filter, node }, tls, log));
    const { http } = stops.add(startHttp(config, store, ports.numbers, (token) => acme.challenge(token), tls, log));
    const { submission } = stops.add(startSubmission(config, { store, queue, dkim, logins, limit }, tls, log));
    // Sending, filtering and applying start once every part that follows them is there.
    queue.start();
    stops.add({ stop: () => queue.stop(STOP_BOUND_MS) });
    filter.start();
    stops.add(await startApplying(apply, node, queue, log));
    // The metrics (--metrics only) read the queue and the size index at each scrape, never the Maildirs.
    const scrapes = stops.add(
      await serveMetrics(config.metrics !== null, {
        queue: () => queue.list().map((q) => Date.parse(q.createdAt)),
        domains: () =>
          [...store.domains.keys()].map((d) => ({
            domain: d,
            mailboxes: store.accounts.countIn(d),
            ...index.totalIn(d),
          })),
        authCache: () => logins.cache,
      }),
    );
    // Ready: connections that came while it started, and all from now on, are served.
    stops.add(
      ports.serve({
        pop3: (socket, implicitTls) => pop3.accept(metrics.pop3Socket(socket), implicitTls),
        smtp: (s) => smtp.accept(s),
        http: (s) => http.accept(s),
        https: (s) => http.accept(s, true),
        submission: (socket, implicitTls) => submission.accept(socket, implicitTls),
        metrics: (s) => scrapes.accept(s),
      }),
    );
    mailboxes.startSweeping();
    preloadSending(log); // what only sending needs, loaded after ready: the first forward finds it
    // ACME orders once --http answers its challenges; each certificate goes to every TLS server.
    acme.start((pair) => installTls(config, { pop3, smtp, submission, http }, pair));
    log.notice('daemon ready', {
      version: VERSION,
      pop3: ports.numbers.pop3,
      pop3s: ports.numbers.pop3s ?? undefined,
      smtp: ports.numbers.smtp,
      http: ports.numbers.http ?? undefined,
      https: ports.numbers.https ?? undefined,
      submission: ports.numbers.submission ?? undefined,
      submissions: ports.numbers.submissions ?? undefined,
      metrics: ports.numbers.metrics ?? undefined,
      socket: config.socketPath,
      user: config.user ?? undefined,
      mailboxes: `${mailboxes.counts.restored} restored, ${mailboxes.counts.listed} listed`,
      store: store.where,
      node: node.readyNote(),
      rspamd: config.rspamd ? `${config.rspamd} fail=${config.rspamdFail}` : undefined,
    });
    return {
      config,
      changes,
      ports: ports.numbers,
      status: control.status,
      reload: reloader(
        config,
        { store, queue, pop3, smtp, submission, http, limit, filter, acmeTls: () => acme.current() },
        log,
      ),
      onLost: (listener) => node.onLost(listener),
      stop: () => stops.stopAll(),
    };
  } catch (err) {
    await stops.stopAll().catch(() => {
      // The start's own error is the one to report; a part that fails to stop after it adds nothing.
    });
    throw err;
  }
}
