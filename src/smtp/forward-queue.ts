// The queue for forwarded mail: each message waits in the durable spool (queue-spool.ts) until it
// is delivered (locally, through --relay: relay-client.ts, or else straight to the recipient
// domain's MX hosts: mx-delivery.ts), retried with back-off, or bounced
// to its sender. The spool survives restarts; a message leaves it only once done.
import { EventEmitter } from 'node:events';
import type { QueueView } from '../control/protocol.js';
import { NotFoundError } from '../model/errors.js';
import { withoutPassword } from '../store/location.js';
import type { Logger } from '../support/log.js';
import { randomHex } from '../support/random-id.js';
import { noteTrail } from '../support/trail.js';
import { buildBounce } from './dsn.js';
import { type MxDelivery, PermanentFailure } from './mx-delivery.js';
import { type QueueEntry, QueueSpool, queueView, Unusable } from './queue-spool.js';
import { type RelayTransport, readRelayCa, relayTransport } from './relay-client.js';

/** What local delivery of a queued message came to; a refusal carries its SMTP reply. */
export type LocalOutcome = 'delivered' | 'unknown' | 'loop' | { refused: number; reply: string };

export interface ForwardQueueOptions {
  dir: string;
  relay: string | null;
  /** A PEM file of the CA that signs the relay's certificate, trusted instead of the system's. */
  relayCaFile?: string | null;
  relayTimeoutMs: number;
  hostname: string;
  isLocal: (address: string) => boolean;
  deliverLocal: (to: string, from: string, data: Buffer, copyId: string) => Promise<LocalOutcome>;
  /** The envelope sender a copy leaves through the relay with (SRS); the queue keeps the original for bounces. */
  relaySender?: (from: string, via: string | undefined) => string;
  /** ARC headers to put on a copy that leaves through the relay, or null to send it as it is. */
  seal?: (e: QueueEntry, data: Buffer) => Promise<Buffer | null>;
  /** Makes the bounce of a message that `domain` forwarded trustworthy to the sender's provider (DKIM). */
  signBounce?: (domain: string, report: Buffer) => Promise<Buffer>;
  log: Logger;
  /** Direct delivery to the recipient domain's MX hosts, used when there is no relay. */
  direct?: MxDelivery;
  /** After this long a message that still cannot be delivered is bounced. */
  maxAgeMs?: number;
  now?: () => number;
}

/** The recipient domain a message counts against in the per-domain limit. */
const domainKey = (to: string) => to.slice(to.lastIndexOf('@') + 1).toLowerCase();

/** Waits after the 1st, 2nd, ... failed attempt: 1m, 5m, 15m, 30m, then hourly. */
const BACKOFF_MS = [60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, 60 * 60_000];
const FIVE_DAYS = 5 * 24 * 3_600_000;
/** Attempts under way at most (Postfix: default_process_limit), and to one domain (default_destination_concurrency_limit). */
const CONCURRENCY = 100;
const PER_DOMAIN = 20;

export class ForwardQueue extends EventEmitter {
  private readonly entries = new Map<string, QueueEntry>();
  private readonly inFlight = new Set<string>();
  /** Attempts under way to each recipient domain. */
  private readonly perDomain = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly now: () => number;
  private transport: RelayTransport | null = null;
  /** Attempts under way: a stop lets them finish. */
  private readonly attempts = new Set<Promise<void>>();
  /** Messages whose description could not be read (EIO, EMFILE, ESTALE ...): read again later. */
  private readonly unread = new Set<string>();
  private rereadTimer: NodeJS.Timeout | null = null;
  private readonly spool: QueueSpool;

  constructor(private readonly opts: ForwardQueueOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.spool = new QueueSpool(opts.dir, opts.log);
    this.setRelay(opts.relay, opts.relayTimeoutMs, opts.relayCaFile ?? null);
  }

  /**
   * Where forwarded mail goes out, how long the relay may take, and the CA file for a private
   * relay's certificate (SIGHUP may change all three); relay-client.ts says how each is used.
   */
  setRelay(relay: string | null, timeoutMs: number, caFile: string | null = null): void {
    const ca = relay && caFile ? readRelayCa(caFile) : undefined;
    this.transport?.close();
    this.opts.relay = relay;
    this.opts.relayCaFile = caFile;
    this.opts.relayTimeoutMs = timeoutMs;
    if (!relay) {
      this.transport = null;
      this.kick();
      return;
    }
    this.transport = relayTransport(relay, timeoutMs, ca, this.opts.hostname);
    this.kick();
  }

  /** Reads the spool left by the last run; files of an unfinished write are removed. */
  async load(): Promise<void> {
    for (const id of await this.spool.prepare()) await this.readEntry(id);
  }

  /**
   * Reads message `id`'s description into the queue. One that parses wrong (or whose message
   * file is gone) is set aside in corrupt/, never deleted; one that cannot be read now (an I/O
   * error, too many open files, a stale NFS handle) stays where it is and is read again later.
   * Returns the entry, or null.
   */
  private async readEntry(id: string): Promise<QueueEntry | null> {
    try {
      const entry = await this.spool.readDescription(id);
      this.unread.delete(id);
      this.entries.set(id, entry);
      return entry;
    } catch (err) {
      if (err instanceof Unusable) {
        this.unread.delete(id);
        await this.spool.setAside(id, err.message);
      } else this.readLater(id, err as Error);
      return null;
    }
  }

  /** A description that could not be read now: read again after a minute (or at `queue retry`). */
  private readLater(id: string, err: Error): void {
    this.unread.add(id);
    this.opts.log.error('queue unreadable', { id, error: err.message, next: 'read again in 1 minute' });
    if (this.rereadTimer) return;
    this.rereadTimer = setTimeout(() => {
      this.rereadTimer = null;
      void this.rereadAll();
    }, BACKOFF_MS[0]);
    this.rereadTimer.unref();
  }

  private async rereadAll(): Promise<void> {
    for (const id of [...this.unread]) if (await this.readEntry(id)) this.kick();
  }

  /**
   * Takes over the spool folder of another daemon that is gone (on a shared mail root): the
   * folder moves into this spool with one rename, so of several daemons trying, one gets it and
   * the others find nothing. Its messages are tried at once. Returns how many came.
   */
  async adopt(dir: string, from: string): Promise<number> {
    const names = await this.spool.adoptFolder(dir, `adopted-${from}-${this.now()}`);
    let n = 0;
    for (const name of names) {
      const id = name.slice(0, -5);
      if (this.entries.has(id)) continue;
      const entry = await this.readEntry(id);
      if (entry) {
        entry.nextAttemptAt = this.now();
        n++;
      }
    }
    this.kick();
    return n;
  }

  /**
   * Takes the messages a daemon running alone left in `dir` (the spool before the store was
   * shared). Each message goes to whichever daemon renames its description first, and its file
   * after it; `load()` then moves them into the spool. Returns how many came.
   */
  adoptLoose(dir: string): Promise<number> {
    return this.spool.adoptLoose(dir, `adopted-standalone-${this.now()}`);
  }

  /**
   * Puts a message in the spool durably: once this resolves it survives a crash. An `id` given
   * by the caller makes the add idempotent: adding it again while it waits does nothing.
   */
  async add(
    from: string,
    to: string,
    data: Buffer | readonly Buffer[],
    opts: {
      id?: string;
      via?: string;
      client?: { ip: string; helo: string };
      /** A file whose bytes follow `data` (a big message spooled to disk). */
      tail?: { path: string; length: number };
    } = {},
  ): Promise<string> {
    const now = this.now();
    if (opts.id && this.entries.has(opts.id)) return opts.id;
    const id = opts.id ?? `${now.toString(36)}${randomHex(5)}`;
    const size =
      (Buffer.isBuffer(data) ? data.length : data.reduce((n, p) => n + p.length, 0)) + (opts.tail?.length ?? 0);
    const entry: QueueEntry = {
      id,
      from,
      to,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
      lastAttemptAt: null,
      lastError: null,
      size,
    };
    if (opts.via) entry.via = opts.via;
    if (opts.client) entry.client = opts.client;
    await this.spool.write(entry, data, opts.tail?.path);
    this.entries.set(id, entry);
    this.kick();
    return id;
  }

  /** Takes a message back out (its SMTP transaction failed after it was spooled). */
  async remove(id: string): Promise<void> {
    this.entries.delete(id);
    await this.spool.remove(id);
  }

  list(): QueueView[] {
    return [...this.entries.values()].sort((a, b) => a.createdAt - b.createdAt).map((e) => queueView(e));
  }

  /** Whether message `id` waits here. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Why mail is waiting, when something outside the queue stops it; null when nothing does. */
  problem(): string | null {
    if (this.transport || this.opts.direct) return null;
    const waiting = [...this.entries.values()].filter((e) => !this.opts.isLocal(e.to)).length;
    return waiting ? `${waiting} forwarded message(s) wait in the queue: no --relay is configured` : null;
  }

  retry(id: string): QueueView {
    if (this.unread.has(id)) {
      // Read again now (its file may be readable again); the answer is the message as it was listed.
      void this.readEntry(id).then((e) => e && this.kick());
      throw new NotFoundError(`queued message ${id} could not be read; it is being read again: see the log`);
    }
    const e = this.entries.get(id);
    if (!e) throw new NotFoundError(`no queued message has id ${JSON.stringify(id)}: see vmail queue list`);
    e.nextAttemptAt = this.now();
    this.kick();
    return this.list().find((v) => v.id === id)!;
  }

  start(): void {
    this.running = true;
    this.kick();
  }

  /** Starts no more attempts, and lets those under way finish for up to `boundMs`. */
  async stop(boundMs = 10_000): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.rereadTimer) clearTimeout(this.rereadTimer);
    const bound = new Promise((r) => setTimeout(r, boundMs).unref());
    await Promise.race([Promise.allSettled([...this.attempts]), bound]);
    this.transport?.close();
    this.opts.direct?.close();
  }

  /** Drains what is due now and schedules the next look. */
  private kick(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = this.now();
    let next = Infinity;
    for (const e of this.entries.values()) {
      if (this.inFlight.has(e.id)) continue;
      if (!this.transport && !this.opts.direct && !this.opts.isLocal(e.to)) continue;
      if (e.nextAttemptAt <= now) {
        if (this.inFlight.size >= CONCURRENCY) break;
        const domain = domainKey(e.to);
        const busy = this.perDomain.get(domain) ?? 0;
        if (busy >= PER_DOMAIN) continue;
        this.perDomain.set(domain, busy + 1);
        this.inFlight.add(e.id);
        const attempt = this.attempt(e).finally(() => {
          const left = (this.perDomain.get(domain) ?? 1) - 1;
          if (left > 0) this.perDomain.set(domain, left);
          else this.perDomain.delete(domain);
          this.inFlight.delete(e.id);
          this.attempts.delete(attempt);
          this.kick();
        });
        this.attempts.add(attempt);
      } else {
        next = Math.min(next, e.nextAttemptAt);
      }
    }
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.kick(), Math.min(Math.max(0, next - now), 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  /**
   * One attempt at a message. Whatever goes wrong on our side (the spool cannot be written, a
   * bounce cannot be stored) is logged and the message tried again later: a background
   * failure never takes the daemon down, and the message stays until it is done.
   */
  private async attempt(e: QueueEntry): Promise<void> {
    try {
      await this.deliverOrBounce(e);
    } catch (err) {
      const now = this.now();
      e.nextAttemptAt = now + BACKOFF_MS[0];
      e.lastError = `local failure: ${(err as Error).message}`;
      this.opts.log.error('queue local failure', {
        id: e.id,
        to: `<${e.to}>`,
        error: (err as Error).message,
        next: new Date(e.nextAttemptAt).toISOString(),
      });
    }
  }

  private async deliverOrBounce(e: QueueEntry): Promise<void> {
    let data: Buffer;
    try {
      data = await this.spool.readMessage(e.id);
    } catch (err) {
      // Gone (removed by hand): the description is set aside, never deleted. Anything else
      // (EIO, EMFILE, ESTALE, EACCES ...) is a failure of ours: the message is tried again later.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`message file unreadable: ${(err as Error).message}`);
      this.entries.delete(e.id);
      return this.spool.setAside(e.id, 'its message file is missing');
    }
    // The attempt is recorded before it is made (as mox's queue does): one a crash cuts short
    // counts. Not recorded, not made: the message waits for the next try.
    const now = this.now();
    await this.spool.writeDescription({ ...e, attempts: e.attempts + 1, lastAttemptAt: now });
    try {
      if (this.opts.isLocal(e.to)) {
        const outcome = await this.opts.deliverLocal(e.to, e.from, data, `${Math.floor(e.createdAt / 1000)}.Q${e.id}`);
        if (outcome === 'unknown') throw new PermanentFailure('550 5.1.1 no such user here', '5.1.1');
        if (outcome === 'loop') throw new PermanentFailure('554 5.4.6 mail forwarding loop', '5.4.6');
        if (typeof outcome === 'object') {
          // A full mailbox waits like any temporary failure; a refused one bounces.
          if (outcome.refused < 500) throw new Error(`${outcome.refused} ${outcome.reply}`);
          throw new PermanentFailure(`${outcome.refused} ${outcome.reply}`, outcome.reply.split(' ')[0]);
        }
        this.opts.log.info('queue delivered', { id: e.id, from: `<${e.from}>`, to: `<${e.to}>`, via: 'local' });
      } else await this.sendOut(e, data);
      await this.remove(e.id);
      this.emit('done', e.id);
    } catch (err) {
      const code = (err as { responseCode?: number }).responseCode;
      // A login the relay refuses (535), or wants and did not get (530), is this server's
      // setting, not the message's fault: deferred until the setting is right, as Postfix does.
      const login = (err as { code?: string }).code === 'EAUTH' || code === 530;
      const permanent = err instanceof PermanentFailure || (!login && code !== undefined && code >= 500 && code < 600);
      const message = ((err as Error).message || String(err)).split('\n')[0];
      const now = this.now();
      if (permanent || now - e.createdAt >= (this.opts.maxAgeMs ?? FIVE_DAYS)) {
        const status = err instanceof PermanentFailure ? err.status : permanent ? '5.0.0' : '4.4.7';
        await this.bounce(
          e,
          data,
          status,
          permanent ? message : `gave up after ${e.attempts + 1} attempts: ${message}`,
        );
        await this.remove(e.id);
        this.emit('done', e.id);
        return;
      }
      e.attempts++;
      e.lastAttemptAt = now;
      e.lastError = message;
      e.nextAttemptAt = now + BACKOFF_MS[Math.min(e.attempts - 1, BACKOFF_MS.length - 1)];
      // If this write fails the spool keeps the older state: the message is only tried sooner.
      await this.spool
        .writeDescription(e)
        .catch((werr: Error) => this.opts.log.error('queue write failed', { id: e.id, error: werr.message }));
      this.opts.log.warning('queue deferred', {
        id: e.id,
        to: `<${e.to}>`,
        attempt: e.attempts,
        next: new Date(e.nextAttemptAt).toISOString(),
        error: message,
      });
      noteTrail({
        event: 'deferred',
        address: e.via ?? e.from,
        queueId: e.id,
        detail: {
          to: e.to,
          attempt: e.attempts,
          response: message.slice(0, 300),
          next: new Date(e.nextAttemptAt).toISOString(),
        },
      });
    }
  }

  /**
   * Sends a copy on: through the relay when there is one, else straight to the recipient
   * domain's MX hosts (mx-delivery.ts), with the SRS sender and ARC seal either way.
   */
  private async sendOut(e: QueueEntry, data: Buffer): Promise<void> {
    const sender = this.opts.relaySender?.(e.from, e.via) ?? e.from;
    const seal = await this.opts.seal?.(e, data);
    const raw = seal ? Buffer.concat([seal, data]) : data;
    const fields = {
      id: e.id,
      from: `<${e.from}>`,
      sender: sender === e.from ? undefined : `<${sender}>`,
      arc: seal ? 'sealed' : undefined,
      to: `<${e.to}>`,
    };
    if (!this.transport) {
      const response = await this.opts.direct!.send({
        id: e.id,
        from: sender,
        to: [e.to],
        raw,
        timeoutMs: this.opts.relayTimeoutMs,
      });
      this.opts.log.info('queue sent', { ...fields, attempt: e.attempts + 1, response });
      this.noteRelayed(e, response);
      return;
    }
    const info = await this.transport.sendMail({
      envelope: { from: sender || (false as unknown as string), to: [e.to] },
      raw,
    });
    this.opts.log.info('queue relayed', {
      ...fields,
      relay: withoutPassword(this.opts.relay ?? ''),
      attempt: e.attempts + 1,
      response: info.response,
    });
    this.noteRelayed(e, info.response);
  }

  /** The trail of the address that sent the copy on: the remote server's answer. */
  private noteRelayed(e: QueueEntry, response: unknown): void {
    noteTrail({
      event: 'relayed',
      address: e.via ?? e.from,
      queueId: e.id,
      detail: { to: e.to, attempt: e.attempts + 1, response: String(response).slice(0, 300) },
    });
  }

  /** Tells the sender; a bounce is never sent to the null sender (that is how bounce loops start). */
  private async bounce(e: QueueEntry, data: Buffer, status: string, diagnostic: string): Promise<void> {
    this.opts.log.notice('queue bounced', {
      id: e.id,
      from: `<${e.from}>`,
      to: `<${e.to}>`,
      status,
      reason: diagnostic,
      dsn: e.from ? 'sent' : 'none (null sender)',
    });
    noteTrail({
      event: 'bounced',
      address: e.via ?? e.from,
      queueId: e.id,
      detail: { to: e.to, attempt: e.attempts + 1, status, response: diagnostic.slice(0, 300) },
    });
    if (!e.from) return;
    // From the postmaster of the hosted domain that forwarded it, or of the sender's own when
    // it is one of ours (submitted mail): signed with that domain's key, never of the failed
    // destination's domain (which we do not host).
    const own = this.opts.isLocal(e.from) ? e.from.split('@')[1] : undefined;
    const domain = e.via?.split('@')[1] ?? own ?? this.opts.hostname;
    let report = buildBounce({
      reportingHost: this.opts.hostname,
      domain,
      sender: e.from,
      recipient: e.to,
      status,
      diagnostic,
      arrivedAt: e.createdAt,
      original: data,
    });
    if (this.opts.signBounce) report = await this.opts.signBounce(domain, report);
    // A fixed id: if the bounce was stored but the message could not be dropped, trying again
    // does not store a second bounce.
    await this.add('', e.from, report, { id: `${e.id}-dsn` });
  }
}
