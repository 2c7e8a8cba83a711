// The POP3 listener: owns the live sessions, the one-session-per-mailbox locks, the caps on
// connections (in all and per client address), and the per-address throttle that makes
// guessing passwords slow.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { Listen } from '../config.js';
import { AuthThrottle } from './auth-throttle.js';
import { type Mailbox, Pop3Session, type SessionHost } from './session.js';

export interface Pop3Backend {
  login(user: string, password: string, remote: string): Promise<Mailbox | null>;
  loggedIn(mailbox: Mailbox, remote: string): void;
  /** These files are about to be deleted by a QUIT. */
  removing(mailbox: Mailbox, files: string[]): void;
  changed(mailbox: Mailbox): void;
}

export interface Pop3Options {
  backend: Pop3Backend;
  tls?: { cert: string | Buffer; key: string | Buffer } | null;
  maxConnections?: number;
  /** Connections one client address may hold at once. */
  maxConnectionsPerAddress?: number;
  idleTimeoutMs?: number;
  /** The first failed login from an address waits this long; each further one waits longer. */
  authFailureDelayMs?: number;
  log?: (line: string) => void;
}

export class Pop3Server {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Pop3Session>();
  private readonly perAddress = new Map<string, number>();
  private readonly locks = new Map<string, Pop3Session>();
  private readonly throttle: AuthThrottle;
  private readonly host: SessionHost;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private readonly idleMs: number;
  private readonly tls: SecureContext | null;

  constructor(opts: Pop3Options) {
    this.maxConnections = opts.maxConnections ?? 1000;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? 20;
    this.idleMs = opts.idleTimeoutMs ?? 10 * 60_000;
    this.tls = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : null;
    this.throttle = new AuthThrottle(opts.authFailureDelayMs ?? 500);
    const log = opts.log ?? (() => {});
    this.host = {
      implementation: 'vmail',
      tls: this.tls,
      login: (user, password, remote, wanted) =>
        this.throttle.judge(
          remote,
          async () => {
            const mailbox = await opts.backend.login(user, password, remote);
            // One line per failure, for the admin and for fail2ban.
            if (!mailbox)
              log(
                `pop3: login failed: user=<${printable(user)}> rip=${remote} failures=${this.throttle.failures(remote) + 1}`,
              );
            return mailbox;
          },
          wanted,
        ),
      lock: (address, session) => {
        if (this.locks.has(address)) return false;
        this.locks.set(address, session);
        return true;
      },
      unlock: (address, session) => {
        if (this.locks.get(address) === session) this.locks.delete(address);
      },
      loggedIn: (mailbox, remote) => opts.backend.loggedIn(mailbox, remote),
      removing: (mailbox, files) => opts.backend.removing(mailbox, files),
      changed: (mailbox) => opts.backend.changed(mailbox),
      log,
    };
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
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `POP3 port ${at.host}:${at.port} is already in use`
              : `POP3 cannot listen on ${at.host}:${at.port}: ${err.message}`,
          ),
        );
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

  async close(): Promise<void> {
    for (const s of this.sessions) s.close();
    await Promise.all(this.servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  }
}

/** A user name as a client sent it, safe inside one log line. */
function printable(user: string): string {
  return user.replace(/[^\x21-\x7e]/g, '?').slice(0, 100);
}
