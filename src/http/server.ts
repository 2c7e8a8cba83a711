// The --http listener: what mail clients and other servers ask this server over HTTP. Today
// Thunderbird's autoconfig (GET /mail/config-v1.1.xml and its .well-known path) and Outlook's
// autodiscover (POST /autodiscover/autodiscover.xml), for any hosted domain, by the address asked
// about or the Host the client came to (autoconfig.DOMAIN, autodiscover.DOMAIN or DOMAIN); a
// domain not hosted gets 404. ACME's HTTP-01 tokens of the order in flight are answered at
// /.well-known/acme-challenge/TOKEN. Requests are small and bounded: a slow or huge one is cut off.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { domainToASCII } from 'node:url';
import type { Logger } from '../support/log.js';
import { autodiscoverAddress, type ClientServers, outlookAutodiscover, thunderbirdConfig } from './autoconfig.js';

export interface HttpFrontOptions {
  /** The hosted domain `domain` names (A-label, lower case), or null when it is not hosted. */
  hosted: (domain: string) => string | null;
  servers: () => ClientServers;
  /** ACME HTTP-01: the key authorization of a token of the order in flight, else null. */
  challenge?: (token: string) => string | null;
  /** The MTA-STS policy served over TLS at mta-sts.DOMAIN for each hosted domain. */
  mtaSts?: () => string;
  /** Connections one client address may hold at once (--max-connections-per-address). */
  maxPerAddress: () => number;
  log: Logger;
}

/** The largest request body read (an autodiscover request is a few hundred bytes). */
const MAX_BODY = 16 * 1024;
const IDLE_MS = 10_000;
const LIFETIME_MS = 15_000;
const CHALLENGE = '/.well-known/acme-challenge/';
const THUNDERBIRD = new Set(['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml']);

export class HttpFront {
  private readonly server = createServer({ maxHeaderSize: 8 * 1024, keepAliveTimeout: 5_000 }, (req, res) => {
    this.handle(req, res).catch((err: Error) => {
      this.opts.log.warning('http request failed', { path: req.url?.slice(0, 100), error: err.message });
      if (!res.headersSent) reply(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });

  private readonly sockets = new Set<Socket>();
  /** The certificate --https presents (a reload or an ACME renewal replaces it); null: none yet. */
  private tls: SecureContext | null = null;
  /** Connections open per client address. */
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly opts: HttpFrontOptions) {
    // A request line or header the parser refuses: 400, and the connection closed.
    this.server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /**
   * Serves one connection from the listener. The server never listens itself, so Node's own
   * header and request timeouts (checked only on a listening server) do not run: a connection
   * idle for 10 s, or open for 15 s (a client that trickles its headers), is closed here,
   * and one past --max-connections-per-address from its address is closed at once.
   */
  accept(socket: Socket, implicitTls = false): void {
    // HTTPS before a certificate is in (--acme's first order): closed, as POP3S is.
    if (implicitTls && !this.tls) {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress ?? 'unknown';
    const open = this.perAddress.get(remote) ?? 0;
    if (open >= this.opts.maxPerAddress()) {
      socket.destroy();
      return;
    }
    this.perAddress.set(remote, open + 1);
    socket.once('close', () => {
      const n = (this.perAddress.get(remote) ?? 1) - 1;
      if (n > 0) this.perAddress.set(remote, n);
      else this.perAddress.delete(remote);
    });
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    const cap = setTimeout(() => socket.destroy(), LIFETIME_MS);
    this.sockets.add(socket);
    socket.once('close', () => {
      clearTimeout(cap);
      this.sockets.delete(socket);
    });
    this.server.emit(
      'connection',
      implicitTls && this.tls ? new TLSSocket(socket, { isServer: true, secureContext: this.tls }) : socket,
    );
  }

  /** The certificate the next HTTPS connection gets (open ones keep theirs). */
  reload(tls: { cert: Buffer; key: Buffer } | null): void {
    this.tls = tls ? createSecureContext({ cert: tls.cert, key: tls.key }) : null;
  }

  /** Closes the connections still open; the listener itself is closed by its owner. */
  stop(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // A token is matched exactly, as sent (tokens are case-sensitive); nothing is read from disk.
    if (url.pathname.startsWith(CHALLENGE)) {
      const answer = this.opts.challenge?.(url.pathname.slice(CHALLENGE.length)) ?? null;
      if (answer === null) return reply(res, 404, 'text/plain', 'not found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      return reply(res, 200, 'application/octet-stream', answer, req);
    }
    const path = url.pathname.toLowerCase();
    // MTA-STS (RFC 8461 3.3): only over TLS, only at mta-sts.DOMAIN of a hosted domain.
    if (path === '/.well-known/mta-sts.txt') {
      const secure = (req.socket as TLSSocket).encrypted === true;
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      const domain =
        secure && this.opts.mtaSts && host.startsWith('mta-sts.') ? this.domainOf(null, host, 'mta-sts.') : null;
      if (!domain) return reply(res, 404, 'text/plain', 'not found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      return reply(res, 200, 'text/plain; charset=utf-8', this.opts.mtaSts?.() ?? '', req);
    }
    if (THUNDERBIRD.has(path)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      const domain = this.domainOf(url.searchParams.get('emailaddress'), req.headers.host, 'autoconfig.');
      if (!domain) return reply(res, 404, 'text/plain', 'no such domain here\n');
      return reply(res, 200, 'application/xml; charset=utf-8', thunderbirdConfig(domain, this.opts.servers()), req);
    }
    if (path === '/autodiscover/autodiscover.xml') {
      if (req.method !== 'POST') return notAllowed(res, 'POST');
      const body = await readBody(req);
      if (body === null) {
        res.setHeader('Connection', 'close');
        return reply(res, 413, 'text/plain', 'request too large\n');
      }
      const address = autodiscoverAddress(body);
      const domain = address && this.domainOf(address, undefined, '');
      if (!address || !domain) return reply(res, 404, 'text/plain', 'no such domain here\n');
      const login = `${address.slice(0, address.lastIndexOf('@'))}@${domain}`;
      return reply(res, 200, 'application/xml; charset=utf-8', outlookAutodiscover(login, this.opts.servers()));
    }
    return reply(res, 404, 'text/plain', 'not found\n');
  }

  /** The hosted domain of the address asked about, else of the Host (less `prefix`), or null. */
  private domainOf(address: string | null, host: string | undefined, prefix: string): string | null {
    let name: string;
    if (address?.includes('@')) name = address.slice(address.lastIndexOf('@') + 1);
    else if (host) {
      name = host.replace(/:\d+$/, '').replace(/\.$/, '');
      if (prefix && name.toLowerCase().startsWith(prefix)) name = name.slice(prefix.length);
    } else return null;
    const ascii = name.length <= 253 ? domainToASCII(name) : '';
    return ascii ? this.opts.hosted(ascii) : null;
  }
}

/** The body, or null once it passes MAX_BODY (the rest is not read). */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // Nothing more is read; the 413 goes out with Connection: close.
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, code: number, type: string, body: string, req?: IncomingMessage): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req?.method === 'HEAD' ? undefined : body);
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('Allow', allow);
  reply(res, 405, 'text/plain', 'method not allowed\n');
}
