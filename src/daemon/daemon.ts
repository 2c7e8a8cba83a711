// Process wiring, composition only: binds the ports, becomes the daemon's user, opens the
// store, builds the parts (change queue, apply engine, mailbox index, delivery, forward queue,
// control socket, POP3, SMTP), connects their events, and on stop lets deliveries in flight
// finish before closing everything in reverse order. SIGHUP's new settings come in by reload().
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ServiceQueue } from '../cluster/service-queue.js';
import { checkPeerSupport } from '../control/peer.js';
import type { ApplyResult, StatusView } from '../control/protocol.js';
import { ControlServer } from '../control/server.js';
import { MailboxIndex } from '../maildir/mailbox-index.js';
import { onStrayMessage } from '../maildir/maildir.js';
import { MaildirSizeFiles } from '../maildir/maildirsize.js';
import { maildirPath } from '../maildir/paths.js';
import { domainOf } from '../model/names.js';
import { Pop3Server } from '../pop3/server.js';
import { type Config, ConfigError, SERVICE_SOCKET, SETTINGS } from '../service/settings.js';
import { ArcSealer } from '../smtp/arc.js';
import { DkimKeys } from '../smtp/dkim.js';
import { ForwardQueue } from '../smtp/forward-queue.js';
import { cleanSpool, SmtpIntake } from '../smtp/intake.js';
import { LocalDelivery, LoopError, Message, RefusedError } from '../smtp/local-delivery.js';
import { SpamFilter } from '../smtp/spam-filter.js';
import { Srs } from '../smtp/srs.js';
import { withoutPassword } from '../store/location.js';
import { hashPassword, isForeignHash, PasswordVerifier } from '../store/passwords.js';
import { Store } from '../store/store.js';
import { Logger } from '../support/log.js';
import { VERSION } from '../support/package-root.js';
import { type AccountMoves, ApplyEngine } from './apply-engine.js';
import { logRequest, requestEntry, selfPeer, settingText } from './audit.js';
import { ChangeQueue } from './change-queue.js';
import { DirLock } from './dir-lock.js';
import { controlHandlers } from './handlers/table.js';
import { Listener } from './listeners.js';
import { becomeUser } from './privileges.js';
import { RowFeed } from './row-feed.js';
import { accountHealth, listDomains } from './views.js';

export interface RunningDaemon {
  config: Config;
  changes: ChangeQueue;
  ports: { pop3: number; pop3s: number | null; smtp: number };
  /** Applies the settings SIGHUP may change; says which changed and which need a restart. */
  reload(next: Config): { applied: string[]; needRestart: string[] };
  /** Calls `listener` if the daemon loses a shared store it cannot serve without. */
  onLost(listener: (why: string) => void): void;
  stop(): Promise<void>;
}

/** How long a stop waits for messages being stored and relay attempts under way. */
const STOP_BOUND_MS = 10_000;

/** The certificate and key, read now; a bad path is a configuration error. */
function readTls(config: Config): { cert: Buffer; key: Buffer } | null {
  if (!config.tlsCert || !config.tlsKey) return null;
  try {
    return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  } catch (err) {
    const as = config.user ? ` as user ${config.user}` : '';
    throw new ConfigError(
      `cannot read the TLS certificate or key${as}: ${(err as Error).message} (make both readable to the daemon's user, e.g. a certbot deploy hook that copies them to /etc/vmail)`,
    );
  }
}

export async function startDaemon(config: Config, log = new Logger(config.logLevel)): Promise<RunningDaemon> {
  // Mail, hashes and the queue are for the daemon's user and group only.
  process.umask(0o027);
  onStrayMessage((path, what) => log.warning('maildir entry skipped', { path, what, why: 'not a message file' }));
  const closers: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    // The ports first: they may need root, which the daemon then gives up.
    const pop3Port = await Listener.bind(config.pop3, 'POP3');
    closers.push(() => pop3Port.close());
    const pop3sPort = config.pop3s ? await Listener.bind(config.pop3s, 'POP3S') : null;
    if (pop3sPort) closers.push(() => pop3sPort.close());
    const smtpPort = await Listener.bind(config.smtp, 'SMTP');
    closers.push(() => smtpPort.close());
    const socketDir = dirname(config.socketPath);
    const ownSocketDir =
      socketDir !== config.dataDir && (!existsSync(socketDir) || socketDir === dirname(SERVICE_SOCKET));
    becomeUser(config.user, ownSocketDir ? [config.dataDir, socketDir] : [config.dataDir], log);
    let tls = readTls(config);

    // Who changes what is recorded from the kernel's word: no daemon runs without that.
    checkPeerSupport();
    // One daemon per data dir and per SQLite store; on PostgreSQL the mail root is shared, and
    // each daemon's own folders in it are guarded by its node name's lock (cluster/node.ts).
    if (config.store.kind === 'sqlite') {
      const lock = DirLock.take(join(config.dataDir, 'vmail.lock'), config.dataDir);
      closers.push(() => lock.release());
      if (dirname(resolve(config.store.path)) !== config.dataDir) {
        const storeLock = DirLock.take(`${config.store.path}.lock`, config.store.path);
        closers.push(() => storeLock.release());
      }
    }
    const store = await Store.open(config.dataDir, config.store, config.node);
    closers.push(() => store.close());
    // Several daemons on one PostgreSQL store: this one's place among them.
    const cluster =
      config.store.kind === 'postgres'
        ? await (await import('../cluster/node.js')).ClusterNode.join(store, config.node, VERSION, log)
        : null;
    if (cluster) closers.push(() => cluster.close());
    // Alive from now on to the others, however long the start takes: nobody takes this
    // daemon's spool while it starts (the lease is tried once it can take up the applies).
    cluster?.startHeartbeat();
    const lostListeners: ((why: string) => void)[] = [];
    const lost = (why: string) => {
      for (const l of lostListeners.splice(0)) l(why);
    };
    cluster?.on('lost', lost);
    const now = Date.now();
    // --domain hosts a domain the store does not know yet; one removed with `vmail domains
    // remove` stays removed (the config file may still name it) until `vmail domains add`.
    for (const d of config.domains) {
      if (store.removedDomains.has(d))
        log.warning('domain not added', {
          domain: d,
          why: 'it was removed with vmail domains remove: add it back with vmail domains add',
        });
      else await store.addDomain(d, now);
    }
    if (store.domains.size === 0) log.warning('no domain hosted', { fix: 'vmail domains add DOMAIN' });
    store.startChecking(log);

    const changes = new ChangeQueue(store, config.applyIntervalMs);
    closers.push(() => changes.exclusive(async () => {}).catch(() => {}));
    const engine = new ApplyEngine(changes, store, config.dataDir, log);
    // Sizes the last run saved are taken as they are; the first sweep checks them.
    // Each daemon on a shared mail root keeps its own saved sizes.
    const mailboxes = new MailboxIndex(
      log,
      join(config.dataDir, cluster ? `mailbox-index.${config.node}` : 'mailbox-index'),
      config.watchLimit,
    );
    await mailboxes.restore();
    const sizes = await mailboxes.trackAll(
      // The store's own key strings: lookups by them (100,000 per domain list) compare fastest.
      [...store.accounts].map(([address, a]) => ({ address, dir: maildirPath(config.dataDir, a.domain, a.name) })),
    );
    closers.push(() => mailboxes.stop());

    const srs = await Srs.open(config.dataDir, config.srsMaxAgeDays);
    const dkim = new DkimKeys(join(config.dataDir, 'dkim'));
    const arc = new ArcSealer(dkim, config.hostname, log, config.resolver);
    const delivery: LocalDelivery = new LocalDelivery(
      store,
      config.dataDir,
      () => queue,
      {
        naming: (address, file) => mailboxes.naming(address, file),
        added: (address, bytes) => {
          store.recordActivity(address, { lastDeliveryAt: Date.now() });
          mailboxes.added(address, bytes);
          cluster?.publishAdded(address, bytes);
        },
        changed: (address) => void mailboxes.refresh(address),
        usage: (address) => mailboxes.get(address),
      },
      srs,
      () => config.postmaster,
      Boolean(cluster),
    );
    const queue: ForwardQueue = new ForwardQueue({
      // On a shared mail root each daemon spools into its own folder, and adopts a gone one's.
      dir: cluster ? join(config.dataDir, 'queue', config.node) : join(config.dataDir, 'queue'),
      relay: config.relay,
      relayCaFile: config.relayCaFile,
      relayTimeoutMs: config.relayTimeoutMs,
      hostname: config.hostname,
      isLocal: (address): boolean => delivery.isLocal(address),
      // A copy leaves with an SRS sender on the domain that forwarded it, unless its sender is
      // one of ours (then this server is in that domain's SPF record already) or null (a bounce).
      relaySender: (from, via) => (!from || !via || delivery.isLocal(from) ? from : srs.forward(from, domainOf(via))),
      signBounce: (domain, report) => dkim.sign(domain, report),
      // Sealed by the domain that forwarded it, when that domain has a key.
      seal: async (e, data) =>
        e.via && e.client
          ? arc.seal(data, {
              domain: domainOf(e.via),
              sender: e.from,
              client: e.client,
              id: e.id,
            })
          : null,
      deliverLocal: async (to, from, data, copyId) => {
        try {
          return (await delivery.deliver(to, from, new Message([data]), copyId)) ? 'delivered' : 'unknown';
        } catch (err) {
          if (err instanceof LoopError) return 'loop';
          if (err instanceof RefusedError) return { refused: err.code, reply: err.message };
          throw err;
        }
      },
      log,
    });
    if (cluster) {
      const n = await queue.adoptLoose(join(config.dataDir, 'queue'));
      if (n) log.notice('queue adopted', { from: 'the spool of a daemon that ran alone', messages: n });
    }
    await queue.load();

    const ports = { pop3: pop3Port.port, pop3s: pop3sPort?.port ?? null, smtp: smtpPort.port };
    const status = (): StatusView => ({
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
      pop3: { port: ports.pop3 },
      pop3s: ports.pop3s === null ? null : { port: ports.pop3s },
      smtp: { port: ports.smtp },
      relay: config.relay && withoutPassword(config.relay),
      queue: { messages: queue.size, problem: queue.problem() },
      storeProblem: store.problem,
      spamFilter: filter.view(),
      domainTotals: listDomains(store, mailboxes),
      ...(cluster ? { node: cluster.id, nodes: cluster.nodes } : {}),
    });

    const filter = new SpamFilter(
      { url: config.rspamd, fail: config.rspamdFail, timeoutMs: config.rspamdTimeoutMs },
      log,
    );
    closers.push(() => filter.close());
    const self = selfPeer();
    // With several daemons, `queue list` and `queue retry` cover every daemon's spool.
    const queueAdmin = cluster
      ? new ServiceQueue(join(config.dataDir, 'queue'), cluster.id, queue, (node, id) => cluster.askRetry(node, id))
      : queue;
    const control = new ControlServer(
      controlHandlers({ dataDir: config.dataDir, store, changes, engine, mailboxes, queue: queueAdmin, dkim, status }),
      log,
      async (r) => {
        const entry = requestEntry(r);
        if (!entry) return;
        logRequest(log, entry);
        await store.audit.append(entry);
      },
    );
    await control.listen(config.socketPath);
    closers.push(() => control.close());

    const feed = new RowFeed(
      store,
      mailboxes,
      status,
      (rows) => control.notify('rows.changed', rows),
      () => control.subscribed,
    );
    cluster?.on('nodes', () => feed.statusChanged());
    changes.on('queued', (v) => control.notify('pending.queued', v));
    changes.on('cancelled', (v) => control.notify('pending.cancelled', v));
    engine.on('accounts', (moves: AccountMoves) => {
      for (const address of moves.removed) mailboxes.forget(address);
      for (const a of moves.added) {
        if (mailboxes.has(a.address)) continue;
        if (a.moved) void mailboxes.track(a.address, a.dir);
        else mailboxes.trackNew(a.address, a.dir);
      }
    });
    engine.on('applied', (r: ApplyResult) => control.notify('pending.applied', r));
    // Accounts another daemon applied: their Maildirs are made (or archived) already.
    store.onRemoteAccounts((a) => {
      for (const address of a.removed) mailboxes.forget(address);
      for (const address of a.added) {
        const rec = store.accounts.get(address);
        if (rec && !mailboxes.has(address))
          void mailboxes.track(address, maildirPath(config.dataDir, rec.domain, rec.name));
      }
    });
    if (cluster) {
      // Sizes move on every daemon: a delivery here is told to the others with its size, which
      // they count on as for their own; any other change (a POP3 delete, a file another program
      // moved) is told by address, and they list that Maildir again.
      const fromOthers = new Set<string>();
      // A watched Maildir is listed again instead: on one disk its watch has seen the file too.
      cluster.on('sizes', (sizes: { added: [string, number][]; changed: string[] }) => {
        for (const [address, bytes] of sizes.added)
          if (mailboxes.has(address) && !mailboxes.watching(address)) mailboxes.added(address, bytes);
        const relist = [...sizes.changed, ...sizes.added.map(([a]) => a).filter((a) => mailboxes.watching(a))];
        for (const address of new Set(relist)) {
          if (!mailboxes.has(address)) continue;
          fromOthers.add(address);
          void mailboxes.refresh(address).finally(() => fromOthers.delete(address));
        }
      });
      mailboxes.on('size', (address: string, _size: unknown, how?: 'counted') => {
        if (how !== 'counted' && !fromOthers.has(address)) cluster.publishChanged(address);
      });
    }
    // The audit log keeps what the retention setting says, swept at start and every hour.
    const sweepAudit = () =>
      void store.audit
        .prune(Date.now() - config.auditRetentionDays * 86_400_000)
        .then((n) => n && log.info('audit pruned', { entries: n, older_than: `${config.auditRetentionDays}d` }))
        .catch((err: Error) => log.warning('audit not pruned', { error: err.message }));
    sweepAudit();
    // Settings edited while the daemon was stopped (or the first start after vmail setup) are
    // recorded as the reloads are: which ones, and their new values.
    const settings = Object.fromEntries(SETTINGS.map((x) => [x.key, settingText(config[x.field])]));
    const before = cluster ? store.meta.nodeSettings?.[cluster.id] : store.meta.settings;
    const edited = SETTINGS.filter((x) => before?.[x.key] !== settings[x.key]).map((x) => x.key);
    if (edited.length) {
      await store.audit.append({
        at: Date.now(),
        user: self.user,
        uid: self.uid,
        pid: self.pid,
        method: 'config.start',
        params: Object.fromEntries(edited.map((k) => [k, settings[k]])),
        outcome: before ? `started with ${edited.length} setting(s) changed` : 'first start with these settings',
      });
      if (cluster) await store.saveNodeSettings(cluster.id, settings);
      else await store.saveMeta({ settings });
    }
    const auditSweep = setInterval(sweepAudit, 3_600_000);
    auditSweep.unref();
    closers.push(() => clearInterval(auditSweep));
    filter.on('state', (v) => control.notify('filter.state', v));
    // Maildir++ quota files follow the sizes of the mailboxes that have a quota.
    const quotaFiles = new MaildirSizeFiles(log);
    const writeQuota = (address: string) => {
      const a = store.accounts.get(address);
      if (a) void quotaFiles.update(maildirPath(config.dataDir, a.domain, a.name), a.quota, mailboxes.get(address));
    };
    for (const [address, a] of store.accounts) if (a.quota) writeQuota(address);
    engine.on('applied', (r: ApplyResult) => {
      for (const c of r.applied) if (c.kind === 'account' && c.action !== 'remove') writeQuota(c.address);
    });
    mailboxes.on('size', (address: string, size: { messages: number; bytes: number }) => {
      if (store.accounts.get(address)?.quota) writeQuota(address);
      // Every delivery moves a size (each daemon's, with several): nothing is built for nobody.
      if (!control.subscribed) return;
      const act = store.activity.get(address);
      control.notify('mailbox.size', {
        address,
        ...size,
        lastDeliveryAt: act?.lastDeliveryAt === undefined ? null : new Date(act.lastDeliveryAt).toISOString(),
        domainTotal: { ...mailboxes.totalIn(domainOf(address)) },
        health: accountHealth(act?.lastLoginAt, size.messages, mailboxes.oldest(address), Date.now()),
      });
    });

    const verifier = new PasswordVerifier();
    const pop3 = new Pop3Server({
      tls,
      requireTlsAuth: config.requireTlsAuth,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      idleTimeoutMs: config.pop3IdleTimeoutMs,
      authFailureDelayMs: config.authFailureDelayMs,
      shared: cluster && {
        lock: (address) => cluster.lockMailbox(address),
        unlock: (address) => cluster.unlockMailbox(address),
      },
      log,
      backend: {
        login: async (user, password) => {
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
        loggedIn: (mailbox, remote) => {
          store.recordActivity(mailbox.address, { lastLoginAt: Date.now(), lastLoginFrom: remote });
        },
        removing: (mailbox, files) => mailboxes.removing(mailbox.address, files),
        changed: (mailbox) => void mailboxes.refresh(mailbox.address),
      },
    });
    closers.push(() => pop3.close());
    engine.on('accounts', (moves: AccountMoves) => {
      for (const address of moves.removed) pop3.disconnect(address);
    });
    store.onRemoteAccounts((a) => {
      for (const address of a.removed) pop3.disconnect(address);
      for (const address of a.changed) if (store.accounts.get(address)?.suspended) pop3.disconnect(address);
    });
    // A suspension ends the account's open session, as a removal (or a rename) does; a renamed
    // account keeps its last login and delivery.
    engine.on('applied', (r: ApplyResult) => {
      for (const c of r.applied) {
        if (c.kind === 'account' && c.action === 'suspend') pop3.disconnect(c.address);
        const seen = c.action === 'rename' ? store.activity.get(c.address) : undefined;
        if (seen && c.newName) store.recordActivity(`${c.newName}@${c.domain}`, seen);
      }
    });
    // Big messages are spooled as they come; what a crash left there is no transaction's now.
    // On a shared mail root each daemon has its own spool folder.
    const spoolDir = cluster ? join(config.dataDir, 'spool', config.node) : join(config.dataDir, 'spool');
    const stale = await cleanSpool(spoolDir);
    if (stale) log.info('spool cleaned', { files: stale });
    const smtp = new SmtpIntake({
      delivery,
      filter,
      spoolDir,
      maxMessageSize: config.maxMessageSize,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      refusalDelayMs: config.authFailureDelayMs,
      tls,
      hostname: config.hostname,
      log,
    });
    closers.push(() => smtp.close(STOP_BOUND_MS));
    queue.start();
    closers.push(() => queue.stop(STOP_BOUND_MS));
    filter.start();

    closers.push(() => engine.stop());
    if (!cluster) await engine.start();
    else {
      // One daemon applies on the hour: the one holding the lease. Another takes it when that
      // one is gone, and first finishes what it left (the queue lock waits for its connection).
      const lead = () =>
        void engine.start().catch((err: Error) => log.error('apply start failed', { error: err.message }));
      cluster.on('lease', lead);
      cluster.on('retry', (id: string) => {
        if (queue.has(id)) queue.retry(id);
      });
      if (cluster.holdsLease) await engine.start();
      cluster.start();
      // Spools of daemons that are gone are taken over, each by one daemon (one rename).
      const adopt = setInterval(
        () => void adoptSpools(join(config.dataDir, 'queue'), cluster.gone(), queue, log),
        5000,
      );
      adopt.unref();
      closers.push(() => clearInterval(adopt));
    }
    // Ready: connections that came while it started, and all from now on, are served.
    pop3Port.serve((socket) => pop3.accept(socket));
    pop3sPort?.serve((socket) => pop3.accept(socket, true));
    smtpPort.serve((socket) => smtp.accept(socket));
    // A stop closes the ports before anything else: nothing new arrives while it finishes.
    closers.push(() => {
      pop3Port.close();
      pop3sPort?.close();
      smtpPort.close();
    });
    // Sizes restored from the last run are checked against their folders from now on.
    mailboxes.startSweeping(config.rescanIntervalMs);
    mailboxes.startCleaning(Math.min(10_000, config.rescanIntervalMs));
    log.notice('daemon ready', {
      version: VERSION,
      pop3: ports.pop3,
      pop3s: ports.pop3s ?? undefined,
      smtp: ports.smtp,
      socket: config.socketPath,
      user: config.user ?? undefined,
      mailboxes: `${sizes.restored} restored, ${sizes.listed} listed`,
      store: store.where,
      node: cluster ? `${cluster.id}${cluster.holdsLease ? ' (apply lease)' : ''}` : undefined,
      rspamd: config.rspamd ? `${config.rspamd} fail=${config.rspamdFail}` : undefined,
    });

    const reload = (next: Config) => {
      const applied: string[] = [];
      const needRestart: string[] = [];
      const changed = SETTINGS.filter((s) => JSON.stringify(config[s.field]) !== JSON.stringify(next[s.field]));
      for (const s of changed) (s.reloadable ? applied : needRestart).push(s.key);
      // First what may refuse (an unreadable CA file): a refused reload changes nothing.
      if (applied.includes('relay') || applied.includes('relay-timeout') || applied.includes('relay-ca-file'))
        queue.setRelay(next.relay, next.relayTimeoutMs, next.relayCaFile);
      // A certificate renewed in place (certbot) is read again even when its path is the same.
      tls = readTls(next);
      log.level = next.logLevel;
      pop3.reload({
        tls,
        requireTlsAuth: next.requireTlsAuth,
        maxConnectionsPerAddress: next.maxConnectionsPerAddress,
        idleTimeoutMs: next.pop3IdleTimeoutMs,
        authFailureDelayMs: next.authFailureDelayMs,
      });
      smtp.reload({
        tls,
        maxMessageSize: next.maxMessageSize,
        maxConnectionsPerAddress: next.maxConnectionsPerAddress,
        refusalDelayMs: next.authFailureDelayMs,
      });
      filter.configure({ url: next.rspamd, fail: next.rspamdFail, timeoutMs: next.rspamdTimeoutMs });
      for (const s of changed) if (s.reloadable) Object.assign(config, { [s.field]: next[s.field] });
      if (changed.length)
        void store.audit
          .append({
            at: Date.now(),
            user: self.user,
            uid: self.uid,
            pid: self.pid,
            method: 'config.reload',
            params: Object.fromEntries(changed.map((c) => [c.key, settingText(next[c.field])])),
            outcome: `${applied.length ? `applied ${applied.join(', ')}` : ''}${needRestart.length ? `${applied.length ? '; ' : ''}needs a restart: ${needRestart.join(', ')}` : ''}`,
          })
          .catch((err: Error) => log.error('audit not written', { method: 'config.reload', error: err.message }));
      log.notice('daemon reloaded', {
        changed: applied.join(',') || 'nothing',
        certificate: tls ? 'read again' : 'none',
        need_restart: needRestart.join(',') || undefined,
      });
      return { applied, needRestart };
    };
    return { config, changes, ports, reload, onLost: (l) => lostListeners.push(l), stop: stopAll };
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}

/** The account a POP3 user name means: `name@domain`, or `name` when one domain is hosted. */
function loginAddress(user: string, domains: string[]): string | null {
  const u = user.trim().toLowerCase();
  if (u.includes('@')) return u;
  return domains.length === 1 ? `${u}@${domains[0]}` : null;
}

/** Takes over the spool folders of the daemons in `gone` (none left behind when one moved first). */
async function adoptSpools(root: string, gone: string[], queue: ForwardQueue, log: Logger): Promise<void> {
  for (const node of gone) {
    try {
      const n = await queue.adopt(join(root, node), node);
      if (n) log.notice('queue adopted', { from: node, messages: n, why: 'that daemon is gone' });
    } catch (err) {
      log.warning('queue not adopted', { from: node, error: (err as Error).message });
    }
  }
}
