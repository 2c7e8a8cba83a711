// SMTP submission for the hosted accounts (RFC 6409), on smtp-server: port 587 with STARTTLS
// and port 465 with implicit TLS (RFC 8314), AUTH PLAIN and LOGIN checked as POP3's logins are
// (the caller's `login`: the same password check, throttle, suspension and log lines). The
// envelope sender and From: must be the account or an address that forwards to it; the message
// gets the Message-ID and Date it lacks, a Received: line as Postfix's submission writes it,
// a DKIM signature of the sender's domain, and goes into the one outgoing queue, each copy on
// disk before the client hears 250. An account past --send-limit is deferred with 451 4.7.1.
import type { Socket } from 'node:net';
import addressparser from 'nodemailer/lib/addressparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { domainOf } from '../model/names.js';
import type { Logger } from '../support/log.js';
import { randomHex } from '../support/random-id.js';
import { messageIdOf, noteTrail } from '../support/trail.js';
import { searchDataPhase } from './data-phase.js';
import { onceClosed } from './guard.js';
import { headerEnd, headerSafe, rfc5322Date } from './headers.js';
import type { SendLimit } from './send-limit.js';

/** The account a login names, as the caller's login check found it. */
export interface SubmissionAccount {
  address: string;
  suspended?: boolean;
}

/** Where an accepted message goes: the outgoing queue (forward-queue.ts). */
export interface OutgoingQueue {
  add(from: string, to: string, data: Buffer, opts?: { id?: string }): Promise<string>;
  remove(id: string): Promise<void>;
}

export interface SubmissionOptions {
  hostname: string;
  tls: { cert: Buffer; key: Buffer } | null;
  maxMessageSize: number;
  maxConnections: number;
  /** Connections one client address may hold at once on 587 and 465 together (--max-connections-per-address). */
  maxPerAddress: () => number;
  maxRecipients?: number;
  /** Checks a login: throttled per client address and logged by the caller, as POP3's are. */
  login(user: string, password: string, remote: string, wanted: () => boolean): Promise<SubmissionAccount | null>;
  /** Whether a login without TLS is allowed from `remote` (--require-tls-auth, as for POP3). */
  plaintextAllowed(remote: string): boolean;
  /** Whether `account` may send as `address`: itself, or an address that forwards to it. */
  maySendAs(account: string, address: string): boolean;
  /** `message` with the DKIM signature of `domain`, or as it is when the domain has no key. */
  sign(domain: string, message: Buffer): Promise<Buffer>;
  queue: OutgoingQueue;
  limit: SendLimit;
  log: Logger;
}

function smtpError(code: number, message: string): Error {
  const err = new Error(message) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}

type Connection = {
  session: SMTPServerSession;
  secure: boolean;
  remoteAddress: string;
  send(code: number, data?: unknown, context?: unknown): void;
  close(): void;
  handler_AUTH(command: Buffer, callback: () => void): void;
};

export class Submission {
  /** Port 587's server (STARTTLS) and port 465's (implicit TLS, only with a certificate). */
  private readonly starttls: SMTPServer;
  private readonly implicit: SMTPServer;
  private hasTls: boolean;
  private readonly storing = new Set<Promise<unknown>>();
  /** Connections open per client address. */
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly opts: SubmissionOptions) {
    this.starttls = this.server(false);
    // Port 465 is bound only with a certificate or --acme; before ACME's first one it refuses.
    this.implicit = this.server(true);
    this.hasTls = Boolean(opts.tls);
  }

  private server(implicitTls: boolean): SMTPServer {
    const { opts } = this;
    searchDataPhase();
    const server = new SMTPServer({
      name: opts.hostname,
      banner: 'vmail submission',
      secure: implicitTls,
      size: opts.maxMessageSize,
      authMethods: ['PLAIN', 'LOGIN'],
      disabledCommands: opts.tls ? [] : ['STARTTLS'],
      // Whether this client may log in without TLS is decided per address (authGate below).
      allowInsecureAuth: true,
      authRequiredMessage: '5.7.0 Authentication required: log in with your full address and password',
      hideDSN: true,
      disableReverseLookup: true,
      maxClients: opts.maxConnections,
      socketTimeout: 5 * 60_000,
      closeTimeout: 30_000,
      logger: false,
      ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
      onConnect: (session, callback) => {
        this.authGate(server, session);
        opts.log.info('submission connect', { client: session.remoteAddress, session: session.id, tls: implicitTls });
        callback();
      },
      onAuth: (auth, session, callback) => {
        const user = auth.username ?? '';
        const password = auth.password ?? '';
        void opts
          .login(user, password, session.remoteAddress, () => true)
          .then(
            (account) => {
              noteTrail({
                event: account ? 'login' : 'login-failed',
                address: account?.address ?? user.toLowerCase().slice(0, 320),
                client: session.remoteAddress,
                detail: { service: 'submission', mechanism: auth.method, tls: Boolean(session.secure) },
              });
              if (!account) return callback(smtpError(535, '5.7.8 Authentication failed'));
              if (account.suspended)
                return callback(smtpError(535, '5.7.8 This account is suspended: ask your mail administrator'));
              callback(null, { user: account.address });
            },
            (err: Error) => {
              opts.log.error('submission login error', { client: session.remoteAddress, error: err.message });
              callback(smtpError(454, '4.7.0 Temporary authentication failure: try again later'));
            },
          );
      },
      onMailFrom: (address, session, callback) => {
        const user = String(session.user);
        const from = address.address.toLowerCase();
        if (!from || !opts.maySendAs(user, from))
          return this.refuse(session, callback, 553, `5.7.1 Sender address <${from}> is not yours: send as <${user}>`);
        if (opts.limit.reached(user)) return this.refuse(session, callback, 451, this.limitText(user));
        callback();
      },
      onRcptTo: (_address, session, callback) => {
        const max = opts.maxRecipients ?? 100;
        if (session.envelope.rcptTo.length >= max)
          return callback(smtpError(452, `4.5.3 Too many recipients: at most ${max} per message`));
        // Each recipient counts against the limit: one past what is left is refused here, so the
        // client sends to those it was given and tries the rest later.
        const user = String(session.user);
        if (opts.limit.reached(user, session.envelope.rcptTo.length + 1))
          return this.refuse(session, callback, 451, this.limitText(user));
        callback();
      },
      onData: (stream, session, callback) => this.onData(stream, session, callback),
    });
    server.on('error', (err) => opts.log.warning('submission error', { error: err.message }));
    return server;
  }

  /**
   * No login before TLS (530 5.7.0, and the password is not checked) unless --require-tls-auth
   * lets this client log in in clear. smtp-server decides that once for all clients; the
   * connection's AUTH handler is wrapped to decide it per client address.
   */
  private authGate(server: SMTPServer, session: SMTPServerSession): void {
    const connections = (server as unknown as { connections: Set<Connection> }).connections;
    const conn = [...connections].find((c) => c.session === session);
    if (!conn) return;
    const auth = conn.handler_AUTH.bind(conn);
    conn.handler_AUTH = (command, callback) => {
      if (conn.secure || this.opts.plaintextAllowed(session.remoteAddress)) return auth(command, callback);
      this.opts.log.notice('submission login refused', { rip: session.remoteAddress, why: 'no TLS' });
      conn.send(530, '5.7.0 Must issue a STARTTLS command first');
      callback();
    };
  }

  private limitText(user: string): string {
    const l = this.opts.limit.limit;
    return `4.7.1 Sending limit reached: <${user}> may send to ${l.count} recipients in ${windowText(l.windowMs)}; try again later`;
  }

  private refuse(session: SMTPServerSession, callback: (err?: Error) => void, code: number, text: string): void {
    this.opts.log.info('submission refused', {
      user: session.user ? String(session.user) : undefined,
      client: session.remoteAddress,
      from: session.envelope.mailFrom ? `<${session.envelope.mailFrom.address}>` : undefined,
      code,
      reason: text,
    });
    callback(smtpError(code, text));
  }

  /** Serves one accepted connection: `implicitTls` for port 465. */
  accept(socket: Socket, implicitTls = false): void {
    const server = implicitTls ? this.implicit : this.starttls;
    if (implicitTls && !this.hasTls) {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress ?? 'unknown';
    const open = this.perAddress.get(remote) ?? 0;
    if (open >= this.opts.maxPerAddress()) {
      this.opts.log.info('submission refused connection', {
        client: remote,
        reason: 'too many connections from the address',
      });
      // Port 465 speaks TLS from the first byte: there the connection is only closed.
      if (implicitTls) socket.destroy();
      else socket.end(`421 4.7.0 ${this.opts.hostname} Too many connections from your address, try again later\r\n`);
      return;
    }
    this.perAddress.set(remote, open + 1);
    onceClosed(socket, () => {
      const n = (this.perAddress.get(remote) ?? 1) - 1;
      if (n > 0) this.perAddress.set(remote, n);
      else this.perAddress.delete(remote);
    });
    server.server.emit('connection', socket);
  }

  private onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null, message?: string) => void,
  ): void {
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length <= this.opts.maxMessageSize) chunks.push(chunk);
    });
    stream.on('error', (err) => callback(smtpError(451, `4.3.0 ${err.message}`)));
    stream.on('end', () => {
      if (stream.sizeExceeded)
        return this.refuse(
          session,
          callback,
          552,
          `5.3.4 Message too big: the limit is ${this.opts.maxMessageSize} bytes`,
        );
      const storing = this.store(Buffer.concat(chunks), session).then(
        (id) => callback(null, `2.0.0 OK: queued as ${id}`),
        (err: Error & { responseCode?: number }) => {
          if (err.responseCode) return this.refuse(session, callback, err.responseCode, err.message);
          this.opts.log.error('submission store failed', { user: String(session.user), error: err.message });
          callback(smtpError(451, '4.3.0 Temporary failure storing the message: try again later'));
        },
      );
      this.storing.add(storing);
      void storing.finally(() => this.storing.delete(storing));
    });
  }

  /** Checks From:, completes the header, signs, and queues one copy per recipient. */
  private async store(data: Buffer, session: SMTPServerSession): Promise<string> {
    const user = String(session.user);
    const end = headerEnd(data);
    if (end < 0) throw smtpError(550, '5.6.0 The message has no header');
    const header = data.subarray(0, end).toString('latin1');
    const from = fromAddress(header);
    if (typeof from !== 'string') throw smtpError(553, `5.7.1 ${from.problem}`);
    if (!this.opts.maySendAs(user, from))
      throw smtpError(553, `5.7.1 From: <${headerSafe(from)}> is not yours: send as <${user}>`);
    const id = randomHex(6);
    const added: string[] = [];
    if (!/^message-id:/im.test(header))
      added.push(`Message-ID: <${Date.now().toString(36)}.${id}@${this.opts.hostname}>`);
    if (!/^date:/im.test(header)) added.push(`Date: ${rfc5322Date()}`);
    const received = receivedLine(session, this.opts.hostname, id);
    const body = Buffer.concat([Buffer.from([received, ...added].map((l) => `${l}\r\n`).join('')), data]);
    const signed = await this.opts.sign(domainOf(from), body);
    const to = [...new Set(session.envelope.rcptTo.map((r) => r.address))];
    const slot = this.opts.limit.take(user, to.length);
    if (!slot) {
      this.opts.log.warning('submission limit reached', {
        user,
        client: session.remoteAddress,
        limit: this.limitSpec(),
      });
      throw smtpError(451, this.limitText(user));
    }
    const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : user;
    const queued: string[] = [];
    try {
      for (const rcpt of to) queued.push(await this.opts.queue.add(envelopeFrom, rcpt, signed));
    } catch (err) {
      slot.release();
      // A copy that cannot be taken back is sent: said in the log, as the client will send it again.
      for (const q of queued)
        await this.opts.queue
          .remove(q)
          .catch((e: Error) => this.opts.log.error('submission undo failed', { id, queued: q, error: e.message }));
      throw err;
    }
    // Written after the 250, not before: the message is queued either way, and a count that
    // cannot be written only means a restart forgets these messages in the count.
    slot.keep((err) => this.opts.log.error('submission count not saved', { user, error: err.message }));
    this.opts.log.info('submission accepted', {
      id,
      user,
      client: session.remoteAddress,
      from: `<${envelopeFrom}>`,
      to: to.map((r) => `<${r}>`).join(','),
      queued: queued.join(','),
      size: signed.length,
      tls: Boolean(session.secure),
    });
    noteTrail({
      event: 'submitted',
      address: user,
      messageId: messageIdOf(signed.subarray(0, 65536)),
      queueId: id,
      client: session.remoteAddress,
      detail: { from: envelopeFrom, to: to.join(',').slice(0, 300), entries: queued.join(','), size: signed.length },
    });
    return id;
  }

  private limitSpec(): string {
    return `${this.opts.limit.limit.count}/${windowText(this.opts.limit.limit.windowMs)}`;
  }

  /** Takes a renewed certificate (SIGHUP) and a new size limit. */
  reload(opts: Pick<SubmissionOptions, 'tls' | 'maxMessageSize'>): void {
    this.opts.maxMessageSize = opts.maxMessageSize;
    for (const s of [this.starttls, this.implicit]) {
      if (!s) continue;
      (s.options as { size?: number }).size = opts.maxMessageSize;
      if (!opts.tls) continue;
      s.updateSecureContext({ key: opts.tls.key, cert: opts.tls.cert });
      // The first certificate (ACME's, issued after the start) turns STARTTLS and port 465 on.
      const disabled = s.options.disabledCommands;
      if (disabled?.includes('STARTTLS')) disabled.splice(disabled.indexOf('STARTTLS'), 1);
      this.hasTls = true;
    }
  }

  /** Stops: messages being stored finish (for up to `boundMs`), then every session is told 421. */
  async close(boundMs = 10_000): Promise<void> {
    const bound = new Promise((r) => setTimeout(r, boundMs).unref());
    await Promise.race([Promise.allSettled([...this.storing]), bound]);
    for (const s of [this.starttls, this.implicit]) {
      if (!s) continue;
      for (const c of (s as unknown as { connections: Set<Connection> }).connections) {
        c.send(421, '4.3.2 Service shutting down, try again later');
        c.close();
      }
    }
  }
}

/** `1d`, `12h`, `30m`: the window as it was written. */
export function windowText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/**
 * The one address of the From: header, lower case, or why there is none to accept: no From:,
 * two of them, several addresses or a group (RFC 5322 allows them with a Sender:, which a
 * submitting account has no need of). Only the plain forms are taken, `addr`, `Name <addr>`
 * (quoted strings, comments and encoded words allowed around them): a malformed one that
 * addressparser reads as the account's own a reader may read as another's (`boss@x<me@y`,
 * `boss @ x <me@y>`), and `From :` (a space before the colon) is a From: to readers and to DKIM.
 */
export function fromAddress(header: string): string | { problem: string } {
  const unfolded = header.replace(/\r?\n[ \t]/g, ' ');
  const lines = unfolded.split(/\r?\n/).filter((l) => /^from[ \t]*:/i.test(l));
  if (lines.length === 0) return { problem: 'The message has no From: header' };
  if (lines.length > 1) return { problem: 'The message has more than one From: header' };
  const value = lines[0].slice(lines[0].indexOf(':') + 1);
  const parsed = addressparser(value, { flatten: false });
  if (parsed.length !== 1 || 'group' in parsed[0] || !parsed[0].address)
    return { problem: 'From: must name one address, your own' };
  const address = parsed[0].address.toLowerCase();
  const plain = withoutQuotes(value);
  const addr = '[^\\s<>@,;:\\\\"()[\\]]+@[^\\s<>@,;:\\\\"()[\\]]+';
  const m = plain === null ? null : new RegExp(`^\\s*(?:[^<>@,;:\\\\()[\\]]*<(${addr})>|(${addr}))\\s*$`).exec(plain);
  if (!m || (m[1] ?? m[2]).toLowerCase() !== address)
    return { problem: 'From: must name one address, your own, as addr or Name <addr>' };
  return address;
}

/** `value` with each quoted string as `"q"` and each comment as a space; null when one is not closed. */
function withoutQuotes(value: string): string | null {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if ((quoted || depth) && c === '\\') i++;
    else if (quoted) {
      if (c === '"') {
        quoted = false;
        out += 'q"';
      }
    } else if (c === '(') depth++;
    else if (depth) {
      if (c === ')' && --depth === 0) out += ' ';
    } else if (c === '"') {
      quoted = true;
      out += '"';
    } else if (c === ')') return null;
    else out += c;
  }
  return quoted || depth ? null : out;
}

/**
 * Postfix's submission by default (smtpd_sasl_authenticated_header = no): the client's HELO
 * and IP address, ESMTPSA/ESMTPA, no login name. The IP stays: it is what a recipient's abuse
 * desk needs to trace a hijacked account, and Postfix, Dovecot and mox all keep it.
 */
function receivedLine(session: SMTPServerSession, host: string, id: string): string {
  const helo = headerSafe(session.hostNameAppearsAs || 'unknown');
  const proto = session.secure ? 'ESMTPSA' : 'ESMTPA';
  return `Received: from ${helo} ([${headerSafe(session.remoteAddress)}])\r\n\tby ${host} (vmail) with ${proto} id ${id};\r\n\t${rfc5322Date()}`;
}
