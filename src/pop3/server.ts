// The POP3 listener: owns the live sessions, the one-session-per-mailbox locks, the cap on
// connections, and the per-address delay that makes guessing passwords slow.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Listen } from '../config.js';
import { Pop3Session, type Mailbox, type SessionHost } from './session.js';

export interface Pop3Backend {
  login(user: string, password: string, remote: string): Promise<Mailbox | null>;
  loggedIn(mailbox: Mailbox, remote: string): void;
  changed(mailbox: Mailbox): void;
}

export interface Pop3Options {
  backend: Pop3Backend;
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  maxConnections?: number;
  idleTimeoutMs?: number;
  /** The first failed login from an address waits this long; each further one waits longer. */
  authFailureDelayMs?: number;
  log?: (line: string) => void;
}

const MAX_FAILURE_DELAY_MS = 10_000;
const FAILURE_MEMORY_MS = 15 * 60_000;

export class Pop3Server {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Pop3Session>();
  private readonly locks = new Map<string, Pop3Session>();
  private readonly failures = new Map<string, { count: number; last: number }>();
  private readonly host: SessionHost;
  private readonly maxConnections: number;
  private readonly idleMs: number;
  private readonly tls: SecureContext | null;

  constructor(private readonly opts: Pop3Options) {
    this.maxConnections = opts.maxConnections ?? 1000;
    this.idleMs = opts.idleTimeoutMs ?? 10 * 60_000;
    this.tls = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : null;
    const log = opts.log ?? (() => {});
    const step = opts.authFailureDelayMs ?? 500;
    this.host = {
      implementation: 'vmail',
      tls: this.tls,
      login: (user, password, remote) => opts.backend.login(user, password, remote),
      failedLogin: (remote) => {
        const now = Date.now();
        const f = this.failures.get(remote);
        const count = f && now - f.last < FAILURE_MEMORY_MS ? f.count + 1 : 1;
        this.failures.set(remote, { count, last: now });
        if (this.failures.size > 100_000) this.forgetOldFailures(now);
        return Math.min(step * count, MAX_FAILURE_DELAY_MS);
      },
      lock: (address, session) => {
        if (this.locks.has(address)) return false;
        this.locks.set(address, session);
        return true;
      },
      unlock: (address, session) => {
        if (this.locks.get(address) === session) this.locks.delete(address);
      },
      loggedIn: (mailbox, remote) => opts.backend.loggedIn(mailbox, remote),
      changed: (mailbox) => opts.backend.changed(mailbox),
      log,
    };
  }

  private forgetOldFailures(now: number): void {
    for (const [k, f] of this.failures) if (now - f.last >= FAILURE_MEMORY_MS) this.failures.delete(k);
  }

  /** Listens on `at`; with `implicitTls`, every connection starts with a TLS handshake (POP3S). */
  listen(at: Listen, implicitTls = false): Promise<number> {
    if (implicitTls && !this.tls) throw new Error('POP3S needs a certificate and key');
    const server = createServer((raw) => {
      const socket: Socket = implicitTls ? new TLSSocket(raw, { isServer: true, secureContext: this.tls! }) : raw;
      this.accept(socket, raw.remoteAddress ?? 'unknown');
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new Error(err.code === 'EADDRINUSE' ? `POP3 port ${at.host}:${at.port} is already in use` : `POP3 cannot listen on ${at.host}:${at.port}: ${err.message}`));
      });
      server.listen(at.port, at.host, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : at.port);
      });
    });
  }

  private accept(socket: Socket, remote: string): void {
    socket.on('error', () => {});
    if (this.sessions.size >= this.maxConnections) {
      socket.end('-ERR [SYS/TEMP] Too many connections; try again later.\r\n');
      return;
    }
    socket.setNoDelay(true);
    const session = new Pop3Session(socket, this.host, remote, this.idleMs);
    this.sessions.add(session);
    socket.on('close', () => this.sessions.delete(session));
  }

  /** Ends any session on `address` without deleting anything (its account was removed). */
  disconnect(address: string): void {
    const s = this.locks.get(address);
    if (s) {
      s.send('-ERR [SYS/TEMP] This mailbox was removed.');
      s.close();
    }
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close();
    await Promise.all(this.servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  }
}
