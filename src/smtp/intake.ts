// The inbound MX for the hosted domains, built on smtp-server: checks recipients against applied
// accounts and forwards, refuses relaying and loops, and answers 250 only once every copy is on
// disk (a Maildir or the forward queue) and fsynced; if one copy fails, none is kept. It serves
// a listener the daemon binds itself, and logs each session, accepted message and refusal.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { CrlfCount } from '../maildir/crlf-size.js';
import { metrics } from '../service/metrics.js';
import type { Logger } from '../support/log.js';
import { randomHex } from '../support/random-id.js';
import { noteTrail } from '../support/trail.js';
import { searchDataPhase } from './data-phase.js';
import { batchReplies, flushReplies, HARD_ERRORS, onceClosed, SmtpGuard } from './guard.js';
import { headerEnd, receivedHeader } from './headers.js';
import { type LocalDelivery, LoopError, MAX_HEADER, Message, RefusedError, type Undo } from './local-delivery.js';
import { filteredCrlfSize, type SpamFilter, verdictText } from './spam-filter.js';
import { plainSender, Srs } from './srs.js';

export interface IntakeOptions {
  delivery: LocalDelivery;
  /** rspamd's check after DATA (it passes everything when no rspamd is configured). */
  filter: SpamFilter;
  maxMessageSize: number;
  maxConnections: number;
  /** Connections one client address may hold at once (--max-connections-per-address). */
  maxConnectionsPerAddress: number;
  /** The first wait before answering a refused recipient past the first few (--auth-failure-delay). */
  refusalDelayMs: number;
  maxRecipients?: number;
  tls?: { cert: Buffer; key: Buffer } | null;
  /** This server's name (--hostname): the greeting, EHLO and Received: lines. */
  hostname: string;
  log: Logger;
  /** Where a message past SPOOL_FROM bytes is written as it comes, instead of kept in memory. */
  spoolDir: string;
}

/**
 * A message is kept in memory up to this many bytes (and until its header has ended); the rest
 * goes to a spool file as it comes, so a session holds about this much whatever the message.
 */
const SPOOL_FROM = 256 * 1024;

/** Removes what a crash left in the spool (no transaction runs before the intake starts). */
export async function cleanSpool(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let n = 0;
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.spool')) continue;
    await unlink(join(dir, name)).then(
      () => n++,
      // Another process removed it meanwhile: nothing left to clean.
      () => {},
    );
  }
  return n;
}

/** What DATA brought: its start in memory (with the whole header), the rest in a spool file. */
interface Received {
  head: Buffer;
  length: number;
  /** The CRLF size of all of it (head and spool), counted as it came. */
  crlfSize: number;
  spool: { path: string; length: number } | null;
}

function smtpError(code: number, message: string): Error {
  const err = new Error(message) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}

export class SmtpIntake {
  private readonly server: SMTPServer;
  private readonly host: string;
  /** Messages being stored right now: a stop waits for them. */
  private readonly storing = new Set<Promise<unknown>>();
  private readonly guard: SmtpGuard;

  constructor(private readonly opts: IntakeOptions) {
    const maxRcpt = opts.maxRecipients ?? 100;
    this.host = opts.hostname;
    this.guard = new SmtpGuard(opts.maxConnectionsPerAddress, opts.refusalDelayMs);
    searchDataPhase();
    this.server = new SMTPServer({
      name: this.host,
      banner: 'vmail',
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
      onConnect: (session, callback) => {
        const hold = this.guard.greetingHold(session.remoteAddress);
        metrics.smtpSession();
        opts.log.info('smtp connect', { client: session.remoteAddress, session: session.id, held: hold || undefined });
        this.countErrors(session);
        // An address whose sessions keep failing waits for its greeting (a client that talks
        // before it is turned away by smtp-server: "421 You talk too soon").
        if (hold) setTimeout(callback, hold).unref();
        else callback();
      },
      onMailFrom: (address, session, callback) => {
        // "alice"@x is alice@x (RFC 5322 3.4.1): kept, logged and forwarded in that plain form.
        // A local part that needs its quotes cannot be passed on intact, so it is refused.
        const plain = plainSender(address.address);
        if (plain === null) {
          const text = '5.1.7 Sender address rejected: a quoted local part is not accepted here';
          this.refused(session, null, 553, text, address.address);
          return callback(smtpError(553, text));
        }
        address.address = plain;
        callback();
      },
      onRcptTo: (address, session, callback) => {
        const refuse = (code: number, text: string, guessing = true) => {
          this.refused(session, address.address, code, text);
          if (!guessing) return callback(smtpError(code, text));
          // A recipient refused as forged or foreign: answered in turn, and slowly once the
          // address has had a few.
          void this.guard.refused(session.remoteAddress).then(() => callback(smtpError(code, text)));
        };
        if (session.envelope.rcptTo.length >= maxRcpt)
          return refuse(452, `4.5.3 Too many recipients: at most ${maxRcpt} per message`, false);
        const route = opts.delivery.route(address.address);
        if (route.kind === 'foreign')
          return refuse(550, '5.7.1 Relaying denied: this server only accepts mail for its own domains');
        // A forged SRS address is a guess at a relay, and is slowed; an unknown user counts
        // against the session's error limit only (a sender's typo is no attack).
        if (route.kind === 'unknown')
          return refuse(
            550,
            `5.1.1 <${address.address.slice(0, 300)}>: ${route.reason ?? 'no such user here'}`,
            Srs.isSrs(address.address.slice(0, Math.max(0, address.address.lastIndexOf('@')))),
          );
        // The size the client announced (MAIL FROM SIZE=), if any, against the mailbox's quota.
        const announced = Number(
          session.envelope.mailFrom ? (session.envelope.mailFrom.args as { SIZE?: string }).SIZE : 0,
        );
        const refused = opts.delivery.refusal(route, Number.isFinite(announced) ? announced : 0);
        if (refused) return refuse(refused.code, refused.message, false);
        callback();
      },
      onData: (stream, session, callback) => this.onData(stream, session, callback),
      onClose: (session) => opts.log.debug('smtp disconnect', { client: session.remoteAddress, session: session.id }),
    });
    this.server.on('error', (err) => opts.log.warning('smtp error', { error: err.message }));
  }

  /**
   * Serves one accepted connection, as smtp-server's own listener would, unless its address
   * holds its share of connections already.
   */
  accept(socket: Socket): void {
    const remote = socket.remoteAddress ?? 'unknown';
    if (!this.guard.admit(remote)) {
      metrics.smtpRefused(421);
      this.opts.log.info('smtp refused connection', {
        client: remote,
        reason: 'too many connections from the address',
      });
      socket.end(`421 4.7.0 ${this.host} Too many connections from your address, try again later\r\n`);
      return;
    }
    onceClosed(socket, () => this.guard.release(remote));
    batchReplies(socket);
    this.server.server.emit('connection', socket);
  }

  /**
   * Counts the session's error replies, as Postfix's smtpd_hard_error_limit does: at
   * HARD_ERRORS it is told 421 and closed, and its address gets a strike. smtp-server has no
   * hook for its replies, so the connection's send() is wrapped. They are errors "without
   * delivering mail": a message accepted (250 after DATA) starts the count afresh, so a list
   * server whose every post names one unknown address is not cut off at its twentieth. "Too
   * many recipients" (452 4.5.3) and this server's own state (4.2.x mailbox full, 4.3.x system
   * trouble) are not counted: a client that pipelines past the limit or names a full mailbox
   * is not at fault, and is not struck for it.
   */
  private countErrors(session: SMTPServerSession): void {
    type Connection = { session: SMTPServerSession; _socket: Socket; send(c: number, d?: unknown, x?: unknown): void };
    const connections = (this.server as unknown as { connections: Set<Connection> }).connections;
    const conn = [...connections].find((c) => c.session === session);
    if (!conn) return;
    const send = conn.send.bind(conn);
    let errors = 0;
    conn.send = (code, data, context) => {
      send(code, data, context);
      if (code === 220) flushReplies(conn._socket);
      if (code === 250 && context === 'DATA_OK' && errors < HARD_ERRORS) errors = 0;
      if (code < 400 || code === 421 || errors >= HARD_ERRORS) return;
      if (code < 500 && /^4\.(5\.3|[23]\.\d{1,3}) /.test(String(data))) return;
      if (++errors < HARD_ERRORS) return;
      this.guard.strike(session.remoteAddress);
      this.opts.log.info('smtp cut off', { client: session.remoteAddress, session: session.id, errors });
      send(421, `4.7.0 ${this.host} Too many errors in this session, closing`, false);
    };
  }

  private refused(
    session: SMTPServerSession,
    to: string | null,
    code: number,
    reason: string,
    from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
  ): void {
    metrics.smtpRefused(code);
    this.opts.log.info('smtp refused', {
      client: session.remoteAddress,
      helo: session.hostNameAppearsAs,
      from: `<${from}>`,
      to: to === null ? undefined : `<${to}>`,
      code,
      reason,
    });
    for (const a of to === null ? session.envelope.rcptTo.map((r) => r.address) : [to])
      if (this.opts.delivery.route(a).kind !== 'foreign')
        noteTrail({
          event: 'refused',
          address: a,
          client: session.remoteAddress,
          detail: {
            code,
            reason: reason.slice(0, 300),
            step: to === null ? 'DATA' : 'RCPT',
            from,
            helo: session.hostNameAppearsAs,
          },
        });
  }

  private onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null, message?: string) => void,
  ): void {
    const max = this.opts.maxMessageSize;
    const chunks: Buffer[] = [];
    let inMemory = 0;
    let length = 0;
    const count = new CrlfCount();
    let spool: { path: string; out: WriteStream; failed: Error | null } | null = null;
    /** The header is over MAX_HEADER: the message is refused, the rest is read and dropped. */
    let headerTooLarge = false;
    let answered = false;
    const answer = (err: Error | null, text?: string) => {
      if (answered) return;
      answered = true;
      callback(err, text);
    };
    /** Removes the spool file, once its stream is closed (an open still under way would make it again). */
    const dropSpool = async () => {
      const s = spool;
      if (!s) return;
      spool = null;
      if (!s.out.closed) {
        const closed = new Promise<void>((r) => s.out.once('close', () => r()));
        s.out.destroy();
        await closed;
      }
      // Never made (the open failed), or removed already: nothing is left either way.
      await unlink(s.path).catch(() => {});
    };
    const refuse = (err: Error & { responseCode?: number }) => {
      const e = err.responseCode ? err : smtpError(451, '4.3.0 Temporary failure storing the message: try again later');
      this.refused(session, null, (e as Error & { responseCode: number }).responseCode, e.message);
      void dropSpool().finally(() => answer(e));
    };
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      // Past the limit the rest is read and dropped; smtp-server answers 552 for it.
      if (length > max || headerTooLarge) return;
      count.add(chunk);
      if (spool) {
        if (spool.failed) return;
        if (!spool.out.write(chunk)) {
          stream.pause();
          spool.out.once('drain', () => stream.resume());
        }
        return;
      }
      chunks.push(chunk);
      inMemory += chunk.length;
      if (inMemory < SPOOL_FROM) return;
      // Kept in memory until the header has ended (it is read from there), at most MAX_HEADER.
      const head = Buffer.concat(chunks, inMemory);
      chunks.splice(0, chunks.length, head);
      if (headerEnd(head, MAX_HEADER) < 0) {
        if (inMemory > MAX_HEADER) headerTooLarge = true;
        return;
      }
      const path = join(this.opts.spoolDir, `${Date.now()}.${randomHex(8)}.spool`);
      const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
      const s: { path: string; out: WriteStream; failed: Error | null } = { path, out, failed: null };
      out.on('error', (err) => {
        s.failed = err;
        // The rest is read and dropped; the end answers 451.
        stream.resume();
      });
      spool = s;
    });
    stream.on('error', (err) => refuse(smtpError(451, `4.3.0 ${err.message}`)));
    stream.on('end', () => {
      if (stream.sizeExceeded) return refuse(smtpError(552, `5.3.4 Message too big: the limit is ${max} bytes`));
      if (headerTooLarge) return refuse(smtpError(552, `5.3.4 Message header too large: at most ${MAX_HEADER} bytes`));
      const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, inMemory);
      const s = spool;
      const spooled = s
        ? new Promise<void>((resolve, reject) => {
            if (s.failed) return reject(s.failed);
            s.out.once('error', reject);
            s.out.end(() => resolve());
          })
        : Promise.resolve();
      const storing = spooled
        .then(() =>
          this.store(
            {
              head,
              length: Math.min(length, max),
              crlfSize: count.total,
              spool: s ? { path: s.path, length: length - inMemory } : null,
            },
            session,
          ),
        )
        .finally(dropSpool)
        .then(({ id, report }) => {
          answer(null, `2.0.0 OK: queued as ${id}`);
          // Logged after the 250 is sent: the client's next message need not wait for the log.
          report();
        }, refuse);
      this.storing.add(storing);
      void storing.finally(() => this.storing.delete(storing));
    });
  }

  /** Stores the message; returns its id and what reports it (metrics, trail, log), called after the 250. */
  private async store(got: Received, session: SMTPServerSession): Promise<{ id: string; report: () => void }> {
    const data = got.head;
    if (headerEnd(data, MAX_HEADER) < 0 && data.length > MAX_HEADER) {
      throw smtpError(552, `5.3.4 Message header too large: at most ${MAX_HEADER} bytes`);
    }
    const id = randomHex(6);
    const began = Date.now();
    // One copy per mailbox, however often (and however spelled) a client names it.
    const rcpts = [
      ...new Set(
        session.envelope.rcptTo.map((r) => {
          const route = this.opts.delivery.route(r.address);
          // An SRS address keeps its case: the original sender's local part is in it.
          if (route.kind === 'srs') return r.address;
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
    // rspamd reads the whole message: a spooled one is read back for it (bounded by the size limit).
    let spool = got.spool;
    const whole = spool && this.opts.filter.reads ? Buffer.concat([data, await readFile(spool.path)]) : data;
    if (whole !== data) spool = null;
    const verdict = await this.opts.filter.check(received, whole, {
      id,
      ip: session.remoteAddress,
      helo: session.hostNameAppearsAs,
      from,
      rcpts,
      hostname: this.host,
      ours: (id) => id === this.host.toLowerCase() || this.opts.delivery.hostsName(id),
    });
    if ('refuse' in verdict) throw smtpError(verdict.refuse.code, verdict.refuse.text);
    // Every copy shares these bytes: nothing is joined or copied per recipient.
    const message = new Message(
      verdict.parts,
      { ip: session.remoteAddress, helo: session.hostNameAppearsAs },
      spool ? { path: spool.path, length: spool.length } : undefined,
      filteredCrlfSize(verdict.parts, whole, got.crlfSize),
    );
    message.queueId = id;
    const undo: Undo[] = [];
    const results = await Promise.allSettled(rcpts.map((to) => this.opts.delivery.deliver(to, from, message)));
    let failure: Error | null = null;
    for (const r of results) {
      if (r.status === 'fulfilled') undo.push(...(r.value ?? []));
      else failure ??= r.reason as Error;
    }
    const missing = results.some((r) => r.status === 'fulfilled' && r.value === null);
    if (failure || missing) {
      // An undo that fails leaves a copy delivered: said in the log, as the client will send it again.
      await Promise.all(
        undo.map((u) =>
          u().catch((err: Error) =>
            this.opts.log.error('smtp undo failed', { id, error: err.message, kept: 'one copy' }),
          ),
        ),
      );
      if (failure instanceof LoopError) throw smtpError(554, `5.4.6 ${failure.message}`);
      if (failure instanceof RefusedError) throw smtpError(failure.code, failure.message);
      if (failure) {
        this.opts.log.error('smtp store failed', { id, error: failure.message, kept: 'nothing' });
        throw smtpError(451, '4.3.0 Temporary failure storing the message: try again later');
      }
      throw smtpError(451, '4.3.0 A recipient changed during the transaction: try again later');
    }
    const report = () => {
      metrics.smtpAccepted();
      for (const to of rcpts)
        noteTrail({
          event: 'accepted',
          at: began,
          address: to,
          messageId: message.messageId,
          queueId: id,
          client: session.remoteAddress,
          detail: {
            helo: session.hostNameAppearsAs,
            from,
            size: got.length,
            tls: Boolean(session.secure),
            spam: verdictText(verdict),
          },
        });
      this.opts.log.info('smtp accepted', {
        id,
        client: session.remoteAddress,
        helo: session.hostNameAppearsAs,
        from: `<${from}>`,
        to: rcpts.map((r) => `<${r}>`).join(','),
        // Where each copy went, in the order of `to`: a Maildir, the forward queue, or back to
        // the original sender of a message forwarded with SRS.
        where: rcpts
          .map(
            (r) =>
              ({ account: 'maildir', forward: 'forward', srs: 'srs-return' })[
                this.opts.delivery.route(r).kind as 'account'
              ],
          )
          .join(','),
        size: got.length,
        tls: Boolean(session.secure),
        spam: verdict.action === 'unchecked' ? undefined : verdict.action.replace(' ', '-'),
      });
    };
    return { id, report };
  }

  /** Takes the settings SIGHUP may change: the certificate, the size limit, the per-address limits. */
  reload(opts: Pick<IntakeOptions, 'tls' | 'maxMessageSize' | 'maxConnectionsPerAddress' | 'refusalDelayMs'>): void {
    this.opts.maxMessageSize = opts.maxMessageSize;
    this.guard.maxPerAddress = opts.maxConnectionsPerAddress;
    this.guard.stepMs = opts.refusalDelayMs;
    (this.server.options as { size?: number }).size = opts.maxMessageSize;
    if (opts.tls) {
      this.server.updateSecureContext({ key: opts.tls.key, cert: opts.tls.cert });
      // The first certificate (ACME's, issued after the start) turns STARTTLS on for new sessions.
      const disabled = this.server.options.disabledCommands;
      if (disabled?.includes('STARTTLS')) disabled.splice(disabled.indexOf('STARTTLS'), 1);
    }
  }

  /**
   * Stops: messages being stored are finished (for up to `boundMs`), and their senders get
   * their 250; then every session is told 421 and closed.
   */
  async close(boundMs = 10_000): Promise<void> {
    const bound = new Promise((r) => setTimeout(r, boundMs).unref());
    await Promise.race([Promise.allSettled([...this.storing]), bound]);
    const connections = (
      this.server as unknown as { connections: Set<{ send(code: number, text: string): void; close(): void }> }
    ).connections;
    for (const c of connections) {
      c.send(421, '4.3.2 Service shutting down, try again later');
      c.close();
    }
  }
}
