// Process wiring, composition only: opens the store, builds the parts (change queue, apply
// engine, mailbox index, delivery, forward queue, control socket, POP3, SMTP), connects their
// events, and stops them all in reverse order.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { ApplyResult, StatusView } from '../control/protocol.js';
import { ControlServer } from '../control/server.js';
import { MailboxIndex } from '../maildir/mailbox-index.js';
import { maildirPath } from '../maildir/paths.js';
import { InputError } from '../model/errors.js';
import { VERSION } from '../package-root.js';
import { Pop3Server } from '../pop3/server.js';
import { ForwardQueue } from '../smtp/forward-queue.js';
import { SmtpIntake } from '../smtp/intake.js';
import { LocalDelivery, LoopError, Message } from '../smtp/local-delivery.js';
import { PasswordVerifier } from '../store/passwords.js';
import { Store } from '../store/store.js';
import { ApplyEngine } from './apply-engine.js';
import { ChangeQueue } from './change-queue.js';
import { controlHandlers } from './control-handlers.js';

export interface DaemonOptions {
  log?: (line: string) => void;
}

export interface RunningDaemon {
  config: Config;
  changes: ChangeQueue;
  mailboxes: MailboxIndex;
  ports: { pop3: number | null; pop3s: number | null; smtp: number | null };
  stop(): Promise<void>;
}

export async function startDaemon(config: Config, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Mail, hashes and the queue are for the daemon's user and group only.
  process.umask(0o027);
  const store = await Store.open(config.dataDir);
  const closers: (() => Promise<void> | void)[] = [() => store.close()];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const now = Date.now();
    for (const d of config.domains) await store.addDomain(d, now);
    if (store.domains.size === 0) throw new InputError('no domain is hosted: start the daemon with --domain NAME');
    store.startChecking(log);

    const changes = new ChangeQueue(store, config.applyIntervalMs);
    closers.push(() => changes.exclusive(async () => {}));
    const engine = new ApplyEngine(changes, store, config.dataDir, log);
    const mailboxes = new MailboxIndex(log);
    await Promise.all(
      [...store.accounts.values()].map((a) =>
        mailboxes.track(`${a.name}@${a.domain}`, maildirPath(config.dataDir, a.domain, a.name)),
      ),
    );
    mailboxes.startSweeping(config.rescanIntervalMs);
    mailboxes.startCleaning(Math.min(10_000, config.rescanIntervalMs));
    closers.push(() => mailboxes.stop());

    const delivery: LocalDelivery = new LocalDelivery(store, config.dataDir, () => queue, {
      naming: (address, file) => mailboxes.naming(address, file),
      added: (address, bytes) => {
        store.recordActivity(address, { lastDeliveryAt: Date.now() });
        mailboxes.added(address, bytes);
      },
      changed: (address) => void mailboxes.refresh(address),
    });
    const queue: ForwardQueue = new ForwardQueue({
      dir: join(config.dataDir, 'queue'),
      relay: config.relay,
      relayTimeoutMs: config.relayTimeoutMs,
      hostname: hostname() || 'localhost',
      isLocal: (address): boolean => delivery.isLocal(address),
      deliverLocal: async (to, from, data, copyId) => {
        try {
          return (await delivery.deliver(to, from, new Message([data]), copyId)) ? 'delivered' : 'unknown';
        } catch (err) {
          if (err instanceof LoopError) return 'loop';
          throw err;
        }
      },
      log,
    });
    await queue.load();

    const ports = { pop3: null as number | null, pop3s: null as number | null, smtp: null as number | null };
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
      hostname: hostname() || 'localhost',
      pop3: { port: ports.pop3 },
      pop3s: ports.pop3s === null ? null : { port: ports.pop3s },
      smtp: { port: ports.smtp },
      relay: config.relay,
      queue: { messages: queue.size, problem: queue.problem() },
      storeProblem: store.problem,
    });

    const control = new ControlServer(controlHandlers({ store, changes, engine, mailboxes, queue, status }), log);
    await control.listen(config.socketPath);
    closers.push(() => control.close());

    changes.on('queued', (v) => control.notify('pending.queued', v));
    changes.on('cancelled', (v) => control.notify('pending.cancelled', v));
    engine.on('applied', (r: ApplyResult) => {
      for (const c of r.applied) {
        if (c.kind !== 'account') continue;
        if (c.action === 'remove') mailboxes.forget(c.address);
        else if (!mailboxes.has(c.address))
          mailboxes.trackNew(c.address, maildirPath(config.dataDir, c.domain, c.name));
      }
      control.notify('pending.applied', r);
    });
    mailboxes.on('size', (address: string, size: { messages: number; bytes: number }) => {
      const at = store.activity.get(address)?.lastDeliveryAt;
      control.notify('mailbox.size', {
        address,
        ...size,
        lastDeliveryAt: at === undefined ? null : new Date(at).toISOString(),
      });
    });

    const tls =
      config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : null;
    const verifier = new PasswordVerifier();
    const pop3 = new Pop3Server({
      tls,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      idleTimeoutMs: config.pop3IdleTimeoutMs,
      authFailureDelayMs: config.authFailureDelayMs,
      log,
      backend: {
        login: async (user, password) => {
          const address = loginAddress(user, changes.domains);
          const account = address ? store.accounts.get(address) : undefined;
          if (!address || !account) return null;
          if (!(await verifier.verify(address, password, account.passwordHash))) return null;
          return { address, dir: maildirPath(config.dataDir, account.domain, account.name) };
        },
        loggedIn: (mailbox, remote) => {
          store.recordActivity(mailbox.address, { lastLoginAt: Date.now(), lastLoginFrom: remote });
        },
        removing: (mailbox, files) => mailboxes.removing(mailbox.address, files),
        changed: (mailbox) => void mailboxes.refresh(mailbox.address),
      },
    });
    ports.pop3 = await pop3.listen(config.pop3);
    if (config.pop3s) ports.pop3s = await pop3.listen(config.pop3s, true);
    closers.push(() => pop3.close());
    engine.on('applied', (r: ApplyResult) => {
      for (const c of r.applied) if (c.kind === 'account' && c.action === 'remove') pop3.disconnect(c.address);
    });

    const smtp = new SmtpIntake({
      delivery,
      maxMessageSize: config.maxMessageSize,
      maxConnections: config.maxConnections,
      tls,
      log,
    });
    ports.smtp = await smtp.listen(config.smtp);
    closers.push(() => smtp.close());
    queue.start();
    closers.push(() => queue.stop());

    await engine.start();
    closers.push(() => engine.stop());

    return { config, changes, mailboxes, ports, stop: stopAll };
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
