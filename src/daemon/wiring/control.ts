// The control socket: the method handlers (handlers/) served to the CLI and the consoles,
// every request recorded in the audit log, and the notifications that keep an open console
// current (live rows, the queue of changes, applies, the filter's state, mailbox sizes).
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { StatusView } from '../../control/protocol.js';
import { ControlServer } from '../../control/server.js';
import type { MailboxIndex } from '../../maildir/mailbox-index.js';
import { domainOf } from '../../model/names.js';
import type { Config } from '../../service/settings.js';
import type { DkimKeys } from '../../smtp/dkim.js';
import type { ForwardQueue } from '../../smtp/forward-queue.js';
import type { SendLimit } from '../../smtp/send-limit.js';
import type { SpamFilter } from '../../smtp/spam-filter.js';
import { withoutPassword } from '../../store/location.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { VERSION } from '../../support/package-root.js';
import type { ApplyEngine } from '../apply-engine.js';
import { logRequest, requestEntry } from '../audit.js';
import type { ChangeQueue } from '../change-queue.js';
import { controlHandlers } from '../handlers/table.js';
import type { MailboxLifecycle } from '../mailbox-lifecycle.js';
import { RowFeed } from '../row-feed.js';
import { accountHealth, listDomains } from '../views.js';
import type { PortNumbers } from './ports.js';
import type { Started } from './stops.js';

/** The daemon's parts the control socket reads and drives. */
export interface ControlParts {
  store: Store;
  node: NodeStrategy;
  changes: ChangeQueue;
  engine: ApplyEngine;
  lifecycle: MailboxLifecycle;
  index: MailboxIndex;
  queue: ForwardQueue;
  dkim: DkimKeys;
  filter: SpamFilter;
  limit: SendLimit;
  ports: PortNumbers;
}

export interface Control extends Started {
  /** Tells subscribed consoles of each mailbox's new size (after the caches that follow it). */
  tellSizes(): void;
  /** The status `vmail status` shows (and systemd's STATUS= line sums up). */
  status(): StatusView;
}

/** The control socket, listening, and the notifications its subscribers get. */
export async function startControl(config: Config, parts: ControlParts, log: Logger): Promise<Control> {
  const { store, node, changes, index } = parts;
  const status = statusOf(config, parts);
  const control = new ControlServer(
    controlHandlers({
      dataDir: config.dataDir,
      store,
      changes,
      engine: parts.engine,
      mailboxes: index,
      queue: node.queueAdmin(parts.queue),
      dkim: parts.dkim,
      sending: parts.limit,
      status,
      // The running config: a reload that changes the resolver is used from the next check on.
      resolver: () => config.resolver,
    }),
    log,
    async (r) => {
      const entry = requestEntry(r);
      if (!entry) return;
      logRequest(log, entry);
      await store.audit.append(entry);
    },
  );
  await control.listen(config.socketPath);

  const feed = new RowFeed(
    store,
    index,
    status,
    (rows) => control.notify('rows.changed', rows),
    () => control.subscribed,
  );
  node.onNodesChanged(() => feed.statusChanged());
  changes.on('queued', (v) => control.notify('pending.queued', v));
  changes.on('cancelled', (v) => control.notify('pending.cancelled', v));
  parts.lifecycle.subscribe({ applied: (r) => control.notify('pending.applied', r) });
  parts.filter.on('state', (v) => control.notify('filter.state', v));
  return {
    status,
    tellSizes: () => {
      index.on('size', (address: string, size: { messages: number; bytes: number }) => {
        // Every delivery moves a size (each daemon's, with several): nothing is built for nobody.
        if (!control.subscribed) return;
        const act = store.activity.get(address);
        control.notify('mailbox.size', {
          address,
          ...size,
          lastDeliveryAt: act?.lastDeliveryAt === undefined ? null : new Date(act.lastDeliveryAt).toISOString(),
          domainTotal: { ...index.totalIn(domainOf(address)) },
          health: accountHealth(act?.lastLoginAt, size.messages, index.oldest(address), Date.now(), address),
        });
      });
    },
    stop: () => control.close(),
  };
}

/** The daemon's status as `vmail status` and the consoles show it. */
function statusOf(config: Config, parts: ControlParts): () => StatusView {
  const { store, changes, engine, queue, ports } = parts;
  // The running config (a reload changes it in place): STLS is offered once a certificate is set.
  const tls = () => Boolean((config.tlsCert && config.tlsKey) || config.acme);
  return () => ({
    version: VERSION,
    domains: changes.domains,
    now: new Date().toISOString(),
    nextApplyAt: new Date(changes.nextApplyAt()).toISOString(),
    applyIntervalSeconds: config.applyIntervalMs / 1000,
    lastApplyAt: store.meta.lastApplyAt ? new Date(store.meta.lastApplyAt).toISOString() : null,
    lastApplyError: engine.lastApplyError,
    pending: store.pending.size,
    accounts: store.accounts.size,
    forwards: store.forwards.size,
    dataDir: config.dataDir,
    hostname: config.hostname,
    pop3: { port: ports.pop3, stls: tls() },
    pop3s: ports.pop3s === null ? null : { port: ports.pop3s },
    tlsLogins: config.requireTlsAuth ?? tls(),
    smtp: { port: ports.smtp },
    http: ports.http === null ? null : { port: ports.http },
    https: ports.https === null ? null : { port: ports.https },
    submission: ports.submission === null ? null : { port: ports.submission },
    submissions: ports.submissions === null ? null : { port: ports.submissions },
    metrics: ports.metrics === null ? null : { port: ports.metrics },
    relay: config.relay && withoutPassword(config.relay),
    queue: { messages: queue.size, problem: queue.problem() },
    storeProblem: store.problem,
    spamFilter: parts.filter.view(),
    domainTotals: listDomains(store, parts.index),
    ...parts.node.statusFields(),
  });
}
