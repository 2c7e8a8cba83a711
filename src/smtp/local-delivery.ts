// Mail for a hosted address: into the account's Maildir (with Return-Path: and Delivered-To:),
// or into the forward queue once per destination of a forwarding address, or (for an SRS
// address this server made when it forwarded a message) back to that message's original sender.
// Only applied accounts and forwards receive mail; a pending add does not yet.
import { unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { crlfSize } from '../maildir/crlf-size.js';
import { deliver, heldMaildir, messageName, uidOf } from '../maildir/maildir.js';
import { maildirPath } from '../maildir/paths.js';
import { freeRoom, holdRoom, usedOnDisk } from '../maildir/quota-room.js';
import { asciiAddress } from '../model/names.js';
import { quotaUse } from '../model/quota.js';
import type { AccountRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { messageIdOf, noteTrail } from '../support/trail.js';
import type { ForwardQueue } from './forward-queue.js';
import { headerEnd, headerSafe, type TraceInfo, traceInfo } from './headers.js';
import { Srs } from './srs.js';

export type Route =
  | { kind: 'account'; address: string; name: string; domain: string; account: AccountRecord }
  | { kind: 'forward'; address: string; destinations: string[] }
  /** An SRS address of ours: mail for it (a bounce, mostly) goes back to the original sender. */
  | { kind: 'srs'; address: string; sender: string }
  | { kind: 'unknown'; reason?: string }
  | { kind: 'foreign' };

/** What delivering one copy did, so a failed transaction can take it back. */
export type Undo = () => Promise<void>;

export class LoopError extends Error {}

/** A copy refused for now or for good (a full mailbox, a suspended account): the SMTP reply says which. */
export class RefusedError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const MAX_HEADER = 1024 * 1024;
const MAX_HOPS = 50;

/** The rest of a big message, spooled to a file as it came (intake.ts): its path and length. */
interface Spooled {
  path: string;
  length: number;
}

/**
 * A message on its way to one or more mailboxes: its bytes as parts (the lines added here,
 * then what the client sent), never joined, and what every copy needs to know of it (its
 * trace headers, its size with CRLF line ends) worked out once, not once per recipient. A big
 * one's parts hold its start (with the whole header) and `spool` the rest, copied from disk.
 */
export class Message {
  readonly trace: TraceInfo;
  readonly headerComplete: boolean;
  /** Its Message-ID (for the trail), and the intake's id for it once it has one. */
  readonly messageId: string | null;
  queueId: string | undefined;
  private wsize: number | null = null;

  constructor(
    readonly parts: readonly Buffer[],
    /** The SMTP client that handed it over, for the authentication results of a sealed forward. */
    readonly client?: { ip: string; helo: string },
    readonly spool?: Spooled,
    /** Its CRLF size when the caller counted it as it came (a spooled one's must be given). */
    crlfSize?: number,
  ) {
    if (crlfSize !== undefined) this.wsize = crlfSize;
    else if (spool) throw new Error('a spooled message needs its CRLF size');
    const head: Buffer[] = [];
    let room = MAX_HEADER;
    for (const p of parts) {
      if (room <= 0) break;
      head.push(p.subarray(0, room));
      room -= p.length;
    }
    const header = head.length === 1 ? head[0] : Buffer.concat(head);
    const end = headerEnd(header);
    this.headerComplete = end > 0;
    this.trace = traceInfo(header.subarray(0, end > 0 ? end : header.length).toString('latin1'));
    this.messageId = messageIdOf(header.subarray(0, end > 0 ? end : header.length));
  }

  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0) + (this.spool?.length ?? 0);
  }

  /** Octets with CRLF line ends (what POP3 will report). */
  get crlfSize(): number {
    this.wsize ??= crlfSize(this.parts);
    return this.wsize;
  }
}

type Usage = { bytes: number; messages: number };

export class LocalDelivery {
  /** Per mailbox: what is being written into it now (counted against its quota as if there). */
  private readonly writing = new Map<string, Usage>();
  /** Per Maildir on a shared mail root: the quota check running, which the next one waits for. */
  private readonly checking = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly dataDir: string,
    private readonly queue: () => ForwardQueue,
    private readonly mailbox: {
      naming: (address: string, file: string) => void;
      added: (address: string, bytes: number) => void;
      changed: (address: string) => void;
      /** What a mailbox holds now, for its quota. */
      usage: (address: string) => { messages: number; bytes: number };
    },
    private readonly srs: Srs | null = null,
    /** --postmaster: where postmaster@ a domain without one of its own goes (read at each use: SIGHUP changes it). */
    private readonly postmaster: () => string | null = () => null,
    /**
     * The mail root is shared with other daemons: a delivery into a mailbox with a quota also
     * holds its room on disk, where they see it, and checks what they hold (quota-room.ts).
     */
    private readonly sharedRoot = false,
  ) {}

  /**
   * Where mail for `address` goes. A bare `postmaster` (RFC 5321 4.5.1: it must be accepted
   * without a domain) is --postmaster's when that is set, else the postmaster of the first
   * hosted domain that has one. postmaster@ a hosted domain without a postmaster account or
   * forward of its own goes to --postmaster: a hosted address's mailbox or forward, or out
   * through the forward queue to an address elsewhere.
   */
  route(address: string): Route {
    // smtp-server hands an xn-- domain over in Unicode: the store keeps its ASCII form.
    let a = asciiAddress(address);
    const domains = [...this.store.domains.keys()].sort();
    if (a === 'postmaster') {
      const has = domains.find(
        (d) => this.store.accounts.has(`postmaster@${d}`) || this.store.forwards.has(`postmaster@${d}`),
      );
      a = `postmaster@${(this.postmaster() ? undefined : has) ?? domains[0]}`;
    }
    const at = a.lastIndexOf('@');
    if (at < 0 || !this.store.domains.has(a.slice(at + 1))) return { kind: 'foreign' };
    const known = this.known(a);
    if (known) return known;
    if (a.slice(0, at) === 'postmaster') {
      const to = this.postmaster();
      if (to) return this.toPostmaster(a, to);
    }
    const local = address.slice(0, Math.max(0, address.lastIndexOf('@')));
    if (this.srs && Srs.isSrs(local)) {
      // The local part as the client wrote it: the original sender's may be case-sensitive.
      const back = this.srs.reverse(local);
      return back.ok ? { kind: 'srs', address: a, sender: back.address } : { kind: 'unknown', reason: back.reason };
    }
    // A name the domain does not have goes to its catch-all, when it has one.
    const domain = a.slice(at + 1);
    const catchall = this.store.domains.get(domain)?.catchall;
    return (catchall && this.known(`${catchall}@${domain}`)) || { kind: 'unknown' };
  }

  /**
   * postmaster@ a hosted domain that has none, for --postmaster `to`: that account or forward
   * when `to` is hosted here (looked up once, never through this rule again, so a --postmaster
   * naming a postmaster@ without one cannot loop), else a forward to `to` elsewhere.
   */
  private toPostmaster(a: string, to: string): Route {
    const target = to.toLowerCase();
    const at = target.lastIndexOf('@');
    if (!this.store.domains.has(target.slice(at + 1))) return { kind: 'forward', address: a, destinations: [to] };
    return (
      this.known(target) ?? {
        kind: 'unknown',
        reason: `the postmaster address ${target} is not an account or forward here`,
      }
    );
  }

  private known(a: string): Route | null {
    const account = this.store.accounts.get(a);
    if (account) return { kind: 'account', address: a, name: account.name, domain: account.domain, account };
    const forward = this.store.forwards.get(a);
    // A forward left by a rename stops at its time, even before the apply that removes it.
    if (forward && !(forward.expiresAt !== undefined && forward.expiresAt <= Date.now()))
      return { kind: 'forward', address: a, destinations: forward.destinations };
    return null;
  }

  /**
   * Why a mailbox does not take a message of `size` bytes now (null: it does): a suspended
   * account that refuses its mail (550 5.2.1), or one that is over its quota or would be with
   * it (452 4.2.2: temporary, the sender's server tries again once mail has been fetched).
   */
  refusal(route: Route, size = 0, used = this.inUse(route)): RefusedError | null {
    if (route.kind !== 'account') return null;
    const a = route.account;
    if (a.suspended && a.refuseMail) return new RefusedError(550, `5.2.1 <${route.address}>: mailbox disabled`);
    if (!a.quota) return null;
    if (size > a.quota.bytes)
      return new RefusedError(552, `5.2.2 <${route.address}>: the message is larger than the mailbox's quota`);
    const after = { bytes: used.bytes + size, messages: used.messages + (size ? 1 : 0) };
    if ((quotaUse(a.quota, used) ?? 0) >= 1 || (size && (quotaUse(a.quota, after) ?? 0) > 1))
      return new RefusedError(452, `4.2.2 <${route.address}>: mailbox full, try again later`);
    return null;
  }

  /** Whether `name` is a hosted domain or a name under one (mx.example.com for example.com). */
  hostsName(name: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, '');
    for (let at = 0; at >= 0; at = n.indexOf('.', at) + 1 || -1) if (this.store.domains.has(n.slice(at))) return true;
    return false;
  }

  /** What a mailbox holds, and what is being written into it here. */
  private inUse(route: Route): Usage {
    if (route.kind !== 'account') return { bytes: 0, messages: 0 };
    const held = this.mailbox.usage(route.address);
    const writing = this.writing.get(route.address);
    return writing ? { bytes: held.bytes + writing.bytes, messages: held.messages + writing.messages } : held;
  }

  /** Counts `size` bytes being written into `address` until the returned function is called. */
  private hold(address: string, size: number): () => void {
    const w = this.writing.get(address) ?? { bytes: 0, messages: 0 };
    w.bytes += size;
    w.messages++;
    this.writing.set(address, w);
    return () => {
      w.bytes -= size;
      w.messages--;
      if (w.messages === 0) this.writing.delete(address);
    };
  }

  /**
   * On a shared mail root: holds the room for message `name` in its Maildir, then checks the
   * quota against what every daemon holds there (one check at a time per Maildir here, so
   * this daemon's deliveries never refuse each other for holding at the same moment). Returns
   * the room, to be freed once the message is in new/; throws the refusal.
   */
  private async holdShared(route: Route & { kind: 'account' }, dir: string, name: string, size: number) {
    const check = (this.checking.get(dir) ?? Promise.resolve()).then(async () => {
      const room = await holdRoom(dir, name);
      if (!room) return null;
      try {
        const refused = this.refusal(route, size, await usedOnDisk(dir, uidOf(name)));
        if (refused) throw refused;
      } catch (err) {
        await freeRoom(room);
        throw err;
      }
      return room;
    });
    // The next check waits for this one whatever its outcome (which this caller gets).
    const done = check.catch(() => {});
    this.checking.set(dir, done);
    void done.then(() => {
      if (this.checking.get(dir) === done) this.checking.delete(dir);
    });
    return check;
  }

  isLocal(address: string): boolean {
    return this.route(address).kind !== 'foreign';
  }

  /**
   * Delivers one copy for `to`. Throws LoopError if the message has been here before; returns
   * null for an address that is not (or no longer) an account or forward. `copyId` names this
   * copy when it may be delivered again after a crash (from the forward queue): the second
   * delivery then finds the first instead of making a duplicate.
   */
  async deliver(to: string, from: string, message: Message, copyId?: string): Promise<Undo[] | null> {
    const route = this.route(to);
    if (route.kind === 'unknown' || route.kind === 'foreign') return null;
    // An apply is moving or archiving its Maildir: once that is committed, ask again where the
    // mail goes. Before the quota check, which must not wait between its look and its hold.
    if (route.kind === 'account' && (await heldMaildir(maildirPath(this.dataDir, route.domain, route.name))))
      return this.deliver(to, from, message, copyId);
    // An account's copy is counted as the quota counts it: CRLF octets with this copy's lines.
    const head =
      route.kind === 'account'
        ? Buffer.from(`Return-Path: <${headerSafe(from, 512)}>\r\nDelivered-To: ${route.address}\r\n`)
        : null;
    const size = head ? head.length + message.crlfSize : message.length;
    const refused = this.refusal(route, size);
    if (refused) throw refused;
    const { trace } = message;
    if (trace.deliveredTo.includes(route.address)) throw new LoopError(`mail forwarding loop for ${route.address}`);
    if (trace.received > MAX_HOPS) throw new LoopError(`too many hops (${trace.received} Received: headers)`);
    const deliveredTo = `Delivered-To: ${route.address}\r\n`;
    if (route.kind === 'account') {
      const own = head!;
      const dir = maildirPath(this.dataDir, route.domain, route.name);
      // Counted from here (before any wait) until it is in new/ and counted there, or failed.
      const release = this.hold(route.address, size);
      let file: string;
      try {
        const name = messageName(own.length + message.length, size, copyId);
        const room = this.sharedRoot && route.account.quota ? await this.holdShared(route, dir, name, size) : null;
        try {
          // This copy's own lines (they end in CRLF, so sizes add up) before the shared message.
          ({ file } = await deliver(dir, [own, ...message.parts], {
            base: copyId,
            name,
            tail: message.spool,
            crlfSize: size,
            naming: (n) => this.mailbox.naming(route.address, n),
            visible: (bytes) => this.mailbox.added(route.address, bytes),
          }));
        } finally {
          await freeRoom(room);
        }
      } finally {
        release();
      }
      noteTrail({
        event: 'delivered',
        address: route.address,
        messageId: message.messageId,
        queueId: message.queueId ?? copyId,
        client: message.client?.ip,
        detail: { uidl: uidOf(basename(file)), size },
      });
      return [
        async () => {
          try {
            await unlink(file).catch((err: NodeJS.ErrnoException) => {
              // Already gone is what the undo wants; any other failure leaves the copy in the mailbox.
              if (err.code !== 'ENOENT') throw new Error(`${file} not removed: ${err.message}`);
            });
          } finally {
            this.mailbox.changed(route.address);
          }
        },
      ];
    }
    const copy = [Buffer.from(deliveredTo), ...message.parts];
    const undo: Undo[] = [];
    const destinations = route.kind === 'srs' ? [route.sender] : route.destinations;
    for (const [i, dest] of destinations.entries()) {
      const id = await this.queue().add(from, dest, copy, {
        id: copyId ? `${copyId}-${i}` : undefined,
        via: route.address,
        client: message.client,
        tail: message.spool,
      });
      undo.push(() => this.queue().remove(id));
      noteTrail({
        event: 'forwarded',
        address: route.address,
        messageId: message.messageId,
        queueId: message.queueId ?? id,
        client: message.client?.ip,
        detail: { to: dest, entry: id },
      });
    }
    return undo;
  }
}
