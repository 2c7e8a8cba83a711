// The inbound MX for the hosted domains, built on smtp-server: checks recipients against applied
// accounts and forwards, refuses relaying and loops, and answers 250 only once every copy is on
// disk (a Maildir or the forward queue) and fsynced; if one copy fails, none is kept.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Listen } from '../config.js';
import { headerEnd, receivedHeader } from './headers.js';
import { type LocalDelivery, LoopError, MAX_HEADER, Message, type Undo } from './local-delivery.js';

export interface IntakeOptions {
  delivery: LocalDelivery;
  maxMessageSize: number;
  maxConnections: number;
  maxRecipients?: number;
  tls?: { cert: Buffer; key: Buffer } | null;
  log: (line: string) => void;
}

function smtpError(code: number, message: string): Error {
  const err = new Error(message) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}

export class SmtpIntake {
  private readonly server: SMTPServer;
  private readonly host = hostname() || 'localhost';

  constructor(private readonly opts: IntakeOptions) {
    const maxRcpt = opts.maxRecipients ?? 100;
    this.server = new SMTPServer({
      name: this.host,
      banner: 'vmail ESMTP',
      size: opts.maxMessageSize,
      // An inbound MX: anyone may hand us mail for our domains without logging in.
      disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
      authOptional: true,
      hideDSN: true,
      disableReverseLookup: true,
      maxClients: opts.maxConnections,
      socketTimeout: 5 * 60_000,
      closeTimeout: 30_000,
      logger: false,
      ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
      onRcptTo: (address, session, callback) => {
        if (session.envelope.rcptTo.length >= maxRcpt)
          return callback(smtpError(452, `4.5.3 Too many recipients: at most ${maxRcpt} per message`));
        const route = opts.delivery.route(address.address);
        if (route.kind === 'foreign')
          return callback(smtpError(550, '5.7.1 Relaying denied: this server only accepts mail for its own domains'));
        if (route.kind === 'unknown')
          return callback(smtpError(550, `5.1.1 <${address.address.slice(0, 300)}>: no such user here`));
        callback();
      },
      onData: (stream, session, callback) => this.onData(stream, session, callback),
    });
  }

  listen(at: Listen): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `SMTP port ${at.host}:${at.port} is already in use`
              : `SMTP cannot listen on ${at.host}:${at.port}: ${err.message}`,
          ),
        );
      // smtp-server passes its listener's errors on as its own 'error' event.
      this.server.once('error', onError);
      this.server.listen(at.port, at.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.log(`smtp: ${err.message}`));
        const addr = this.server.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : at.port);
      });
    });
  }

  private onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null, message?: string) => void,
  ): void {
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      // Past the limit the rest is read and dropped; smtp-server answers 552 for it.
      if (length <= this.opts.maxMessageSize) chunks.push(chunk);
      length += chunk.length;
    });
    stream.on('error', (err) => callback(smtpError(451, `4.3.0 ${err.message}`)));
    stream.on('end', () => {
      if (stream.sizeExceeded)
        return callback(smtpError(552, `5.3.4 Message too big: the limit is ${this.opts.maxMessageSize} bytes`));
      const data = Buffer.concat(chunks, length);
      this.accept(data, session).then(
        (id) => callback(null, `2.0.0 OK: queued as ${id}`),
        (err: Error & { responseCode?: number }) =>
          callback(
            err.responseCode ? err : smtpError(451, '4.3.0 Temporary failure storing the message: try again later'),
          ),
      );
    });
  }

  private async accept(data: Buffer, session: SMTPServerSession): Promise<string> {
    if (headerEnd(data, MAX_HEADER) < 0 && data.length > MAX_HEADER) {
      throw smtpError(552, `5.3.4 Message header too large: at most ${MAX_HEADER} bytes`);
    }
    const id = randomBytes(6).toString('hex');
    // One copy per mailbox, however often (and however spelled) a client names it.
    const rcpts = [
      ...new Set(
        session.envelope.rcptTo.map((r) => {
          const route = this.opts.delivery.route(r.address);
          return route.kind === 'account' || route.kind === 'forward' ? route.address : r.address.toLowerCase();
        }),
      ),
    ];
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const received = Buffer.from(
      receivedHeader({
        helo: session.hostNameAppearsAs,
        remoteAddress: session.remoteAddress,
        host: this.host,
        id,
        recipient: rcpts.length === 1 ? rcpts[0] : undefined,
        tls: Boolean(session.secure),
      }),
    );
    // Every copy shares these bytes: nothing is joined or copied per recipient.
    const message = new Message([received, data]);
    const undo: Undo[] = [];
    const results = await Promise.allSettled(rcpts.map((to) => this.opts.delivery.deliver(to, from, message)));
    let failure: Error | null = null;
    for (const r of results) {
      if (r.status === 'fulfilled') undo.push(...(r.value ?? []));
      else failure ??= r.reason as Error;
    }
    const missing = results.some((r) => r.status === 'fulfilled' && r.value === null);
    if (failure || missing) {
      await Promise.all(undo.map((u) => u()));
      if (failure instanceof LoopError) throw smtpError(554, `5.4.6 ${failure.message}`);
      if (failure) {
        this.opts.log(`smtp: delivery of ${id} failed, nothing kept: ${failure.message}`);
        throw smtpError(451, '4.3.0 Temporary failure storing the message: try again later');
      }
      throw smtpError(451, '4.3.0 A recipient changed during the transaction: try again later');
    }
    return id;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
