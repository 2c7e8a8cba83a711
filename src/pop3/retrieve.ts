// RETR and TOP on the wire: a small message read whole and sent in one corked write, a larger one
// streamed from its file with CRLF and dot-stuffing, and the next few small messages read ahead
// while this one travels. Reading off the disk is message-read.ts; the bytes' form is encode.ts.
import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { type MessageEntry, openMessage } from '../maildir/maildir.js';
import { encodeChunk, encodeMessage, finish, newEncodeState } from './encode.js';
import { isSmall, newTopState, readSmall, SMALL, topCut } from './message-read.js';

const READ_AHEAD = 4;
/**
 * TOP reads a small message's first this many bytes, and the rest only when its cut is not in
 * them: a header of real mail is a few KB (Received lines, a DKIM signature), and TOP's usual
 * 0 to 20 lines of body add little. Reading 20 KB messages whole for TOP n 10 cost a 20 KB
 * buffer each, copied and then collected, about a tenth of a TOP's CPU.
 */
const TOP_PREFIX = 8 * 1024;
/** ...and at most this many octets of them (each its POP3 size or its size on disk, the larger): 256 KB messages read two ahead. */
const READ_AHEAD_OCTETS = 512 * 1024;

/** What the sender needs of its session's connection. */
export interface Wire {
  /** The connection as it is now (STLS replaces it). */
  readonly connection: Socket;
  readonly isClosed: boolean;
  send(line: string): void;
  err(text: string): void;
  /** Resolves once the connection's buffer has drained, or it closed. */
  drained(): Promise<void>;
}

/** A small message read ahead: as on disk (for TOP), or already in its RETR form (`wire`). */
interface ReadAhead {
  wire: boolean;
  data: Buffer | null;
}

/** Sends the messages of one logged-in session's listing; the session owns `deleted`. */
export class MessageSender {
  /** Small messages read ahead of the client's RETRs (or TOPs), by message index. */
  private readonly readAhead = new Map<number, Promise<ReadAhead>>();

  constructor(
    private readonly wire: Wire,
    private readonly dir: string,
    private readonly messages: MessageEntry[],
    private readonly deleted: Set<number>,
  ) {}

  /** Drops what was read ahead (the session closed). */
  forget(): void {
    this.readAhead.clear();
  }

  /**
   * Sends message `i`: all of it, or its header, the blank line and `bodyLines` lines of body.
   * The file is opened before +OK, so a message deleted underneath gets a plain -ERR.
   */
  async send(i: number, bodyLines: number): Promise<void> {
    const m = this.messages[i];
    if (isSmall(m)) {
      const retr = bodyLines === Infinity;
      const ahead = this.readAhead.get(i);
      this.readAhead.delete(i);
      let got = ahead && (await ahead);
      // Read ahead for the other command (a client that switched from TOP to RETR): read again.
      if (!got || (got.data && got.wire !== retr))
        got = { wire: false, data: await readSmall(this.dir, m, retr ? Infinity : TOP_PREFIX) };
      // TOP's cut past the bytes read: the whole message.
      let cut = retr || !got.data ? -1 : topCut(newTopState(bodyLines), got.data);
      if (!retr && got.data && cut < 0 && got.data.length < m.diskSize!) {
        got = { wire: false, data: await readSmall(this.dir, m) };
        if (got.data) cut = topCut(newTopState(bodyLines), got.data);
      }
      if (got.data) {
        if (this.wire.isClosed) return;
        if (!retr) this.sendTop(got.data, cut);
        else this.sendWhole(m, got.wire ? got.data : encodeMessage(got.data));
        this.readNext(i, retr);
        return;
      }
    }
    await this.sendFromFile(i, bodyLines);
  }

  /** TOP of a small message (`cut` where it ends, -1 for all of it): the same bytes `stream` sends, in one corked write. */
  private sendTop(data: Buffer, cut: number): void {
    const socket = this.wire.connection;
    socket.cork();
    socket.write('+OK\r\n');
    socket.write(encodeMessage(cut < 0 ? data : data.subarray(0, cut)));
    socket.write('.\r\n');
    socket.uncork();
  }

  /** A small message as one reply, `wire` its RETR form: corked, so the three parts leave in one write. */
  private sendWhole(m: MessageEntry, wire: Buffer): void {
    const socket = this.wire.connection;
    socket.cork();
    socket.write(`+OK ${m.size} octets\r\n`);
    socket.write(wire);
    socket.write('.\r\n');
    socket.uncork();
  }

  /**
   * Clients fetch messages in order, so the next few are read while this one travels: the disk
   * and thread-pool wait overlaps the network round trips, and after a RETR each is put in its
   * RETR form then too (LF to CRLF, dot-stuffing), while the client reads this one, not after
   * it asks. At most READ_AHEAD small messages of READ_AHEAD_OCTETS in all are held (stuffing
   * adds at most one octet a line).
   */
  private readNext(i: number, retr: boolean): void {
    // Reads the client passed over (it skipped or went back) make room for the ones ahead.
    for (const k of this.readAhead.keys()) if (k <= i) this.readAhead.delete(k);
    // A message counts its larger size, POP3's or on disk: a moved-in name's W= may lie.
    const octets = (m: MessageEntry) => Math.max(m.size, m.diskSize ?? 0);
    let held = 0;
    for (const k of this.readAhead.keys()) held += octets(this.messages[k]);
    let next = i + 1;
    while (this.readAhead.size < READ_AHEAD && next < this.messages.length && next <= i + READ_AHEAD) {
      const m = this.messages[next];
      if (!this.deleted.has(next) && !this.readAhead.has(next) && isSmall(m)) {
        held += octets(m);
        if (held > READ_AHEAD_OCTETS) break;
        this.readAhead.set(
          next,
          readSmall(this.dir, m, retr ? Infinity : TOP_PREFIX).then((data) => ({
            wire: retr,
            data: data && retr ? encodeMessage(data) : data,
          })),
        );
      }
      next++;
    }
  }

  /**
   * Sends message `i` from its file: all of it, or its header, the blank line and `bodyLines`
   * lines of body. The file is opened before +OK, so a message deleted underneath gets -ERR.
   */
  private async sendFromFile(i: number, bodyLines: number): Promise<void> {
    const m = this.messages[i];
    let fh: FileHandle;
    try {
      fh = await openMessage(this.dir, m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.wire.err('Message is no longer on the server.');
      throw err;
    }
    try {
      const st = await fh.stat();
      if (bodyLines === Infinity && st.size <= SMALL) {
        const data = await fh.readFile();
        if (this.wire.isClosed) return;
        this.sendWhole(m, encodeMessage(data));
        return;
      }
      this.wire.send(bodyLines === Infinity ? `+OK ${m.size} octets` : '+OK');
      await this.stream(fh, bodyLines);
      this.wire.send('.');
    } finally {
      // Opened only for reading: a close that fails loses nothing, and the reply has gone already.
      await fh.close().catch(() => {});
    }
  }

  /**
   * Sends the open file with CRLF and dot-stuffing, stopping after `bodyLines` body lines. It
   * reads through the FileHandle, whose owner closes it once: a read stream on its fd would
   * close that fd again on destroy(), and by then the number may be another client's socket.
   */
  private async stream(fh: FileHandle, bodyLines: number): Promise<void> {
    const state = newEncodeState();
    const top = bodyLines === Infinity ? null : newTopState(bodyLines);
    let position = 0;
    for (;;) {
      if (this.wire.isClosed) return;
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let chunk = buf.subarray(0, bytesRead);
      const cut = top ? topCut(top, chunk) : -1;
      if (cut >= 0) chunk = chunk.subarray(0, cut);
      const out: Buffer[] = [];
      encodeChunk(chunk, state, out);
      await this.write(out);
      if (cut >= 0) break;
    }
    const tail: Buffer[] = [];
    finish(state, tail);
    await this.write(tail);
  }

  private async write(parts: Buffer[]): Promise<void> {
    if (this.wire.isClosed || parts.length === 0) return;
    const ok = this.wire.connection.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    if (!ok) await this.wire.drained();
  }
}
