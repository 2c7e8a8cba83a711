// One daemon among several on one PostgreSQL store and one mail root. Through its own
// connection (named `vmail-node:NAME` in pg_stat_activity, so that the others can tell it is
// alive) it
// - writes a heartbeat row (`vmail_nodes`) with its host and version, and reads the others';
// - holds the apply lease (an advisory lock) when it is the one that applies on the hour;
// - holds one advisory lock per open POP3 mailbox, so another daemon answers [IN-USE];
// - tells the others of mailbox sizes and logins/deliveries (NOTIFY), which inotify cannot see
//   across machines, and listens for theirs and for the store's change log.
// A daemon that dies loses its connection, and with it its lease and locks, at once.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { NodeView } from '../control/protocol.js';
import { ConfigError } from '../service/settings.js';
import { Connection, LOCKS, LOG_CHANNEL, PostgresDatabase } from '../store/postgres.js';
import type { ActivityRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../support/log.js';

/** How often the heartbeat is written and the lease tried. */
const HEARTBEAT_MS = 2000;
/** A heartbeat older than this is a daemon that is gone (or cut off). */
const STALE_S = 15;
/** How often the change log is read when no notification came (one may be missed on a reconnect). */
const SYNC_MS = 5000;
const SIZES_CHANNEL = 'vmail_sizes';
const ACTIVITY_CHANNEL = 'vmail_activity';
/** A request to the daemon holding a queued message to try it now. */
const RETRY_CHANNEL = 'vmail_queue_retry';
/** How often the lease holder drops old change-log rows. */
const TRIM_MS = 3_600_000;
/** NOTIFY payloads stay under PostgreSQL's 8,000 bytes (the items' bytes; the rest is the wrapping). */
const PAYLOAD_MAX = 7000;

/** An advisory lock number for `name` (a mailbox, a daemon's name): 64 bits of its SHA-256. */
function lockFor(kind: 'pop3' | 'node', name: string): string {
  return createHash('sha256').update(`${kind}:${name}`).digest().readBigInt64BE(0).toString();
}

/** Splits `items` into JSON payloads of `wrap(items)` under the NOTIFY limit, each item measured once. */
function payloads<T>(items: T[], wrap: (part: T[]) => unknown): string[] {
  const out: string[] = [];
  let part: T[] = [];
  let length = 0;
  for (const item of items) {
    const n = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (part.length && length + n > PAYLOAD_MAX) {
      out.push(JSON.stringify(wrap(part)));
      part = [];
      length = 0;
    }
    part.push(item);
    length += n;
  }
  if (part.length) out.push(JSON.stringify(wrap(part)));
  return out;
}

/**
 * Emits 'lease' once this daemon holds the apply lease, 'nodes' when a daemon comes, goes or
 * takes the lease, 'sizes' with the deliveries ({added: [address, bytes]}) and other changes
 * ({changed: [address]}) another daemon made to Maildirs, and 'lost' when a connection it cannot do without is gone.
 */
export class ClusterNode extends EventEmitter {
  private timer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private leaseHeld = false;
  /** Whether the heartbeat tries the lease: from start() on, once the daemon listens for 'lease'. */
  private leading = false;
  private closed = false;
  private view: NodeView[] = [];
  private readonly changedOut = new Set<string>();
  private addedOut: [string, number][] = [];
  private sizesTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date();
  private trimmedAt = 0;

  private constructor(
    readonly id: string,
    private readonly version: string,
    private readonly db: PostgresDatabase,
    private readonly store: Store,
    private readonly session: Connection,
    private readonly listener: Connection,
    private readonly log: Logger,
  ) {
    super();
  }

  /**
   * Joins the service as `id`. Refused (a configuration error) when a daemon of that name is
   * connected already: two daemons of one name would take each other's spool.
   */
  static async join(store: Store, id: string, version: string, log: Logger): Promise<ClusterNode> {
    const db = store.database;
    // Only a PostgreSQL store is shared (several-hosts.ts is chosen for no other).
    if (!(db instanceof PostgresDatabase)) throw new Error(`daemons share a PostgreSQL store only, not ${db.kind}`);
    const session = await Connection.open(db.url, `vmail-node:${id}`);
    const listener = await Connection.open(db.url, `vmail:${id}`);
    const node = new ClusterNode(id, version, db, store, session, listener, log);
    try {
      // The name is held by a lock for as long as this daemon is connected: of two daemons
      // starting at once with one name, one gets it.
      const named = await session.query('SELECT pg_try_advisory_lock($1) AS got', [lockFor('node', id)]);
      if (!named.rows[0].got)
        throw new ConfigError(
          `another daemon named ${JSON.stringify(id)} is connected to the store: give each daemon its own --node`,
        );
    } catch (err) {
      await node.close();
      throw err;
    }
    for (const c of [session, listener]) c.onLost((why) => node.lose(why));
    db.onLost = (why) => node.lose(why);
    listener.client.on('notification', (n) => node.notified(n.channel, n.payload ?? ''));
    await listener.query(
      `LISTEN ${LOG_CHANNEL}; LISTEN ${SIZES_CHANNEL}; LISTEN ${ACTIVITY_CHANNEL}; LISTEN ${RETRY_CHANNEL}`,
    );
    store.onActivityWritten((rows) => void node.publishActivity(rows));
    await node.beat(true);
    return node;
  }

  /**
   * Starts the heartbeat alone, as soon as the daemon has joined: a start's apply (which may
   * take longer than a heartbeat's age) or its forward queue must not look like a daemon gone.
   */
  startHeartbeat(): void {
    if (this.timer) return;
    const loop = () => {
      this.timer = setTimeout(() => void this.beat().finally(() => !this.closed && loop()), HEARTBEAT_MS);
      this.timer.unref();
    };
    loop();
  }

  /** Starts the lease tries (with the heartbeat, if not yet) and the fallback sync. */
  start(): void {
    this.leading = true;
    this.startHeartbeat();
    this.syncTimer = setInterval(() => void this.sync(), SYNC_MS);
    this.syncTimer.unref();
  }

  get holdsLease(): boolean {
    return this.leaseHeld;
  }

  /** The daemons that share the store, as the last heartbeat read them. */
  get nodes(): NodeView[] {
    return this.view;
  }

  private lose(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('lost', why);
  }

  private async sync(): Promise<void> {
    await this.db.sync().catch((err: Error) => this.log.warning('store sync failed', { error: err.message }));
  }

  private notified(channel: string, payload: string): void {
    if (channel === LOG_CHANNEL) {
      void this.sync();
      return;
    }
    let msg: {
      node?: string;
      added?: [string, number][];
      changed?: string[];
      rows?: [string, ActivityRecord][];
      to?: string;
      id?: string;
    };
    try {
      msg = JSON.parse(payload);
    } catch {
      // Not a vmail daemon's payload (a NOTIFY somebody else sent on the channel): nothing to act on.
      return;
    }
    if (msg.node === this.id) return;
    if (channel === SIZES_CHANNEL && Array.isArray(msg.added) && Array.isArray(msg.changed))
      this.emit('sizes', { added: msg.added, changed: msg.changed });
    if (channel === ACTIVITY_CHANNEL && Array.isArray(msg.rows))
      for (const [address, seen] of msg.rows) this.store.takeActivity(address, seen);
    if (channel === RETRY_CHANNEL && msg.to === this.id && typeof msg.id === 'string') this.emit('retry', msg.id);
  }

  /** Asks daemon `node` to try its queued message `id` now. */
  async askRetry(node: string, id: string): Promise<void> {
    await this.session.query('SELECT pg_notify($1, $2)', [
      RETRY_CHANNEL,
      JSON.stringify({ node: this.id, to: node, id }),
    ]);
  }

  /** Writes the heartbeat, tries the lease (`first`: at the join), and reads every daemon's state. */
  private async beat(first = false): Promise<void> {
    try {
      await this.session.query(
        `INSERT INTO vmail_nodes (id, host, version, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, pid = excluded.pid, started_at = excluded.started_at, seen_at = now()`,
        [this.id, hostname() || 'localhost', this.version, process.pid, this.startedAt],
      );
      if (!this.leaseHeld && (this.leading || first)) {
        const r = await this.session.query('SELECT pg_try_advisory_lock($1) AS got', [LOCKS.applyLease.toString()]);
        if (r.rows[0].got) {
          this.leaseHeld = true;
          this.log.notice('apply lease taken', { node: this.id });
          this.emit('lease');
        }
      }
      const r = await this.session.query(
        `SELECT n.id, n.host, n.version, n.seen_at,
                now() - n.seen_at < make_interval(secs => $1) AS fresh,
                EXISTS (SELECT 1 FROM pg_stat_activity a
                        WHERE a.application_name = 'vmail-node:' || n.id AND a.datname = current_database()) AS connected,
                EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                        WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
                          AND ((l.classid::bigint << 32) | l.objid::bigint) = $2::bigint
                          AND a.application_name = 'vmail-node:' || n.id) AS lease
           FROM vmail_nodes n
          WHERE n.seen_at > now() - interval '7 days'
          ORDER BY n.id`,
        [STALE_S, LOCKS.applyLease.toString()],
      );
      // The lease holder keeps the change log short (a daemon cut off for longer reads all again).
      if (this.leaseHeld && Date.now() - this.trimmedAt > TRIM_MS) {
        this.trimmedAt = Date.now();
        const gone = await this.db.trimLog();
        if (gone) this.log.info('store log trimmed', { entries: gone });
      }
      const view: NodeView[] = r.rows.map((row) => ({
        id: row.id,
        host: row.host,
        version: row.version,
        // Gone is no connection and no heartbeat: a daemon cut off from the store (for less
        // than a heartbeat's age) or connected but busy (or stopped) is not.
        alive: row.fresh || row.connected,
        applyLease: row.lease,
        seenAt: new Date(row.seen_at).toISOString(),
      }));
      const shape = (v: NodeView[]) => v.map((n) => `${n.id}:${n.alive}:${n.applyLease}`).join(' ');
      const changed = shape(view) !== shape(this.view);
      this.view = view;
      if (changed) this.emit('nodes');
    } catch (err) {
      if (!this.closed) this.log.warning('cluster heartbeat failed', { error: (err as Error).message });
    }
  }

  /** The daemons that are gone: not connected, and no heartbeat for a while. */
  gone(): string[] {
    return this.view.filter((n) => !n.alive && n.id !== this.id).map((n) => n.id);
  }

  /** Takes the mailbox's lock for a POP3 session; false when a session on another daemon has it. */
  async lockMailbox(address: string): Promise<boolean> {
    const r = await this.session.query('SELECT pg_try_advisory_lock($1) AS got', [lockFor('pop3', address)]);
    return r.rows[0].got === true;
  }

  unlockMailbox(address: string): void {
    void this.session.query('SELECT pg_advisory_unlock($1)', [lockFor('pop3', address)]).catch(() => {
      // The session is gone, and PostgreSQL released its locks with it (the loss is told by 'lost').
    });
  }

  /** Tells the other daemons that a message of `bytes` was delivered to `address` here. */
  publishAdded(address: string, bytes: number): void {
    this.addedOut.push([address, bytes]);
    this.sendSizes();
  }

  /** Tells the other daemons to list `address`'s Maildir again (it changed here otherwise). */
  publishChanged(address: string): void {
    this.changedOut.add(address);
    this.sendSizes();
  }

  /** Sends what was noted within 100 ms, in as few notifications as fit. */
  private sendSizes(): void {
    this.sizesTimer ??= setTimeout(() => {
      this.sizesTimer = null;
      const items: ([string, number] | string)[] = [...this.addedOut, ...this.changedOut];
      this.addedOut = [];
      this.changedOut.clear();
      const wrap = (part: ([string, number] | string)[]) => ({
        node: this.id,
        added: part.filter((x) => typeof x !== 'string'),
        changed: part.filter((x) => typeof x === 'string'),
      });
      for (const p of payloads(items, wrap))
        void this.session.query('SELECT pg_notify($1, $2)', [SIZES_CHANNEL, p]).catch(() => {
          // Only the others' counts wait: their sweeps list each Maildir again (and a lost session is told by 'lost').
        });
    }, 100);
  }

  private async publishActivity(rows: [string, ActivityRecord][]): Promise<void> {
    for (const p of payloads(rows, (part) => ({ node: this.id, rows: part })))
      await this.session.query('SELECT pg_notify($1, $2)', [ACTIVITY_CHANNEL, p]).catch(() => {
        // The rows are written to the store already: only the others' consoles see them later.
      });
  }

  /** Leaves: the heartbeat stops, the lease and the mailbox locks go with the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.sizesTimer) clearTimeout(this.sizesTimer);
    await this.listener.end();
    await this.session.end();
  }
}
