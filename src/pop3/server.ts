// The POP3 listener: owns the live sessions, the one-session-per-mailbox locks, the caps on
// connections (in all and per client address), and the per-address throttle that makes
// guessing passwords slow.
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from '../support/log.js';
import { AuthThrottle, judgedLogin, plaintextAllowed } from './auth-throttle.js';
import { type Mailbox, Pop3Session, type SessionHost } from './session.js';

export interface Pop3Backend {
  login(user: string, password: string, remote: string): Promise<Mailbox | null>;
  loggedIn(mailbox: Mailbox, remote: string): void;
  /** These files are about to be deleted by a QUIT. */
  removing(mailbox: Mailbox, files: string[]): void;
  changed(mailbox: Mailbox): void;
}

/** The mailbox locks of other daemons that serve the same Maildirs (a shared mail root). */
export interface SharedLocks {
  /** False when a session elsewhere holds the mailbox. */
  lock(address: string): Promise<boolean>;
  unlock(address: string): void;
}

export interface Pop3Options {
  backend: Pop3Backend;
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  /** Logins only over TLS: true everywhere, false never, null once a certificate is set (loopback excepted). */
  requireTlsAuth?: boolean | null;
  maxConnections?: number;
  /** Connections one client address may hold at once. */
  maxConnectionsPerAddress?: number;
  idleTimeoutMs?: number;
  /** The first failed login from an address waits this long; each further one waits longer. */
  authFailureDelayMs?: number;
  /** The login throttle, when it is shared with submission (default: one of its own). */
  throttle?: AuthThrottle;
  /** Taken after this server's own lock, when other daemons serve the same mailboxes. */
  shared?: SharedLocks | null;
  log: Logger;
}

export class Pop3Server {
  private readonly sessions = new Set<Pop3Session>();
  private readonly perAddress = new Map<string, number>();
  private readonly locks = new Map<string, Pop3Session>();
  private readonly throttle: AuthThrottle;
  private readonly host: SessionHost;
  private readonly maxConnections: number;
  private maxPerAddress: number;
  private idleMs: number;
  private tls: SecureContext | null;
  private requireTlsAuth: boolean | null;

  constructor(opts: Pop3Options) {
    this.maxConnections = opts.maxConnections ?? 1000;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? 20;
    this.idleMs = opts.idleTimeoutMs ?? 10 * 60_000;
    this.tls = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : null;
    this.requireTlsAuth = opts.requireTlsAuth ?? null;
    this.throttle = opts.throttle ?? new AuthThrottle(opts.authFailureDelayMs ?? 500);
    const log = opts.log;
    const server = this;
    this.host = {
      implementation: 'vmail',
      // Read at each STLS: a certificate reloaded with SIGHUP serves the next handshake.
      get tls() {
        return server.tls;
      },
      plaintextAllowed: (remote) => plaintextAllowed(this.requireTlsAuth, Boolean(this.tls), remote),
      login: judgedLogin(this.throttle, 'pop3', log, opts.backend.login),
      lock: async (address, session) => {
        if (this.locks.has(address)) return false;
        this.locks.set(address, session);
        if (!opts.shared) return true;
        let got = false;
        try {
          got = await opts.shared.lock(address);
        } finally {
          if (!got) this.locks.delete(address);
        }
        return got;
      },
      unlock: (address, session) => {
        if (this.locks.get(address) !== session) return;
        this.locks.delete(address);
        opts.shared?.unlock(address);
      },
      loggedIn: (mailbox, remote) => opts.backend.loggedIn(mailbox, remote),
      removing: (mailbox, files) => opts.backend.removing(mailbox, files),
      changed: (mailbox) => opts.backend.changed(mailbox),
      log,
    };
  }

  /** Takes the settings SIGHUP may change; sessions that are open go on as they are. */
  reload(
    opts: Pick<
      Pop3Options,
      'tls' | 'requireTlsAuth' | 'maxConnectionsPerAddress' | 'idleTimeoutMs' | 'authFailureDelayMs'
    >,
  ): void {
    this.tls = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : null;
    this.requireTlsAuth = opts.requireTlsAuth ?? null;
    if (opts.maxConnectionsPerAddress) this.maxPerAddress = opts.maxConnectionsPerAddress;
    if (opts.idleTimeoutMs) this.idleMs = opts.idleTimeoutMs;
    if (opts.authFailureDelayMs) this.throttle.stepMs = opts.authFailureDelayMs;
  }

  /** Serves one accepted connection; with `implicitTls` (POP3S) it starts with a TLS handshake. */
  accept(raw: Socket, implicitTls = false): void {
    raw.on('error', () => {});
    if (implicitTls && !this.tls) {
      raw.destroy();
      return;
    }
    const socket: Socket = implicitTls ? new TLSSocket(raw, { isServer: true, secureContext: this.tls! }) : raw;
    this.start(socket, raw.remoteAddress ?? 'unknown');
  }

  private start(socket: Socket, remote: string): void {
    socket.on('error', () => {});
    if (this.sessions.size >= this.maxConnections) {
      socket.end('-ERR [SYS/TEMP] Too many connections; try again later.\r\n');
      return;
    }
    const held = this.perAddress.get(remote) ?? 0;
    if (held >= this.maxPerAddress) {
      socket.end('-ERR [SYS/TEMP] Too many connections from your address; try again later.\r\n');
      return;
    }
    this.perAddress.set(remote, held + 1);
    socket.setNoDelay(true);
    const session = new Pop3Session(socket, this.host, remote, this.idleMs);
    this.sessions.add(session);
    socket.on('close', () => {
      this.sessions.delete(session);
      const n = (this.perAddress.get(remote) ?? 1) - 1;
      if (n > 0) this.perAddress.set(remote, n);
      else this.perAddress.delete(remote);
    });
  }

  /** Ends any session on `address` without deleting anything (its account was removed). */
  disconnect(address: string): void {
    const s = this.locks.get(address);
    if (s) {
      s.send('-ERR [SYS/TEMP] This mailbox was removed.');
      s.close();
    }
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}
