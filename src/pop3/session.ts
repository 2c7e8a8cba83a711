// One POP3 connection: the AUTHORIZATION -> TRANSACTION -> UPDATE state machine, with every
// command in one table that says in which states it is allowed and how many arguments it takes.
// DELE only marks, RSET unmarks, and only QUIT from TRANSACTION deletes.
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type SecureContext, TLSSocket } from 'node:tls';
import {
  DeletionNotDurable,
  deleteMessages,
  listMessages,
  MESSAGE_OPEN,
  type MessageEntry,
  openMessage,
} from '../maildir/maildir.js';
import type { Logger } from '../support/log.js';
import { encodeChunk, encodeMessage, finish, newEncodeState } from './encode.js';
import { type LineEvent, Pop3LineReader } from './line-reader.js';

export type Pop3State = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE';

export interface Mailbox {
  address: string;
  dir: string;
  /** The password was right, but the account may not log in (suspended by the admin). */
  suspended?: boolean;
}

/** What a session needs from the server that owns it. */
export interface SessionHost {
  implementation: string;
  tls: SecureContext | null;
  /** Whether a login without TLS is allowed from `remote` (--require-tls-auth). */
  plaintextAllowed(remote: string): boolean;
  /**
   * Checks credentials; null for a wrong user or password. A failure resolves only after the
   * delay that slows guessing from `remote`. Not judged at all if `wanted` turns false first
   * (the client hung up while its attempt waited).
   */
  login(user: string, password: string, remote: string, wanted: () => boolean): Promise<Mailbox | null>;
  /** Takes the mailbox for this session; false when another session holds it (here or on another daemon). */
  lock(address: string, session: Pop3Session): Promise<boolean>;
  unlock(address: string, session: Pop3Session): void;
  loggedIn(mailbox: Mailbox, remote: string): void;
  removing(mailbox: Mailbox, files: string[]): void;
  changed(mailbox: Mailbox): void;
  log: Logger;
}

/**
 * Longest command line accepted (RFC 2449: 255 octets), and the longest line that carries a
 * password (PASS, AUTH PLAIN and its continuation): 128 characters of UTF-8 and base64 fit.
 */
const MAX_COMMAND = 255;
const MAX_LINE = 4096;
const LONG_LINE_VERBS = new Set(['PASS', 'AUTH']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text as a client sent it: UTF-8 when it is valid UTF-8, else one character per byte (Latin-1). */
function clientText(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
/** Messages up to this size are read and sent in one piece; larger ones stream. */
const SMALL = 256 * 1024;
const HIGH_WATER = 1024 * 1024;
const READ_AHEAD = 4;
const MAX_PIPELINED = 1000;

interface Command {
  states: Pop3State[];
  min: number;
  max: number;
  run: (s: Pop3Session, args: string[], rest: string) => Promise<void> | void;
}

const AUTH: Pop3State[] = ['AUTHORIZATION'];
const TRANS: Pop3State[] = ['TRANSACTION'];
const BOTH: Pop3State[] = ['AUTHORIZATION', 'TRANSACTION'];

const COMMANDS: Record<string, Command> = {
  CAPA: { states: BOTH, min: 0, max: 0, run: (s) => s.capa() },
  USER: { states: AUTH, min: 1, max: 1, run: (s, [user]) => s.userCommand(user) },
  // The password is the whole rest of the line, spaces and all (RFC 1939 7: "PASS string").
  PASS: { states: AUTH, min: 0, max: Infinity, run: (s, _a, rest) => s.passCommand(rest) },
  AUTH: { states: AUTH, min: 0, max: 2, run: (s, args) => s.authCommand(args) },
  STLS: { states: AUTH, min: 0, max: 0, run: (s) => s.stls() },
  QUIT: { states: BOTH, min: 0, max: 0, run: (s) => s.quit() },
  NOOP: { states: TRANS, min: 0, max: 0, run: (s) => s.ok('') },
  STAT: { states: TRANS, min: 0, max: 0, run: (s) => s.stat() },
  LIST: { states: TRANS, min: 0, max: 1, run: (s, [n]) => s.list(n) },
  UIDL: { states: TRANS, min: 0, max: 1, run: (s, [n]) => s.uidl(n) },
  RETR: { states: TRANS, min: 1, max: 1, run: (s, [n]) => s.retr(n) },
  TOP: { states: TRANS, min: 2, max: 2, run: (s, [n, k]) => s.top(n, k) },
  DELE: { states: TRANS, min: 1, max: 1, run: (s, [n]) => s.dele(n) },
  RSET: { states: TRANS, min: 0, max: 0, run: (s) => s.rset() },
};

/** Where TOP's cut falls: after the header's blank line, `bodyLines` more line ends. */
interface TopState {
  bodyLines: number;
  inBody: boolean;
  lineStart: boolean;
  prevBlank: boolean;
  count: number;
}

/** The offset in `chunk` just after TOP's last line, or -1 if the cut is in a later chunk. */
function topCut(t: TopState, chunk: Buffer): number {
  for (let p = 0; p < chunk.length; p++) {
    const c = chunk[p];
    if (c === 10) {
      if (!t.inBody && (t.prevBlank || t.lineStart)) {
        t.inBody = true;
        if (t.bodyLines === 0) return p + 1;
      } else if (t.inBody && ++t.count >= t.bodyLines) {
        return p + 1;
      }
      t.lineStart = true;
      t.prevBlank = false;
    } else if (c === 13 && t.lineStart) {
      t.prevBlank = true;
    } else {
      t.lineStart = false;
      t.prevBlank = false;
    }
  }
  return -1;
}

/** A message the name says is small enough to read in one piece. */
function isSmall(m: MessageEntry): boolean {
  return m.diskSize !== undefined && m.diskSize <= SMALL;
}

/**
 * Reads a small message in one open and one read, trusting the size in its name; null when the
 * file is gone or not the size its name says (then the slower path finds out what happened).
 * While reads are quick (the file is in the page cache, as a mailbox being fetched mostly is), it
 * reads on the spot: a trip through the thread pool costs two thread wake-ups, each more than the
 * read. One read that takes longer than SLOW_READ_MS sends every read to the thread pool for
 * ASYNC_FOR_MS, so a slow disk holds up the other sessions once, not on every message.
 */
function readSmall(dir: string, m: MessageEntry): Promise<Buffer | null> {
  if (Date.now() >= asyncUntil) return Promise.resolve(readSmallNow(join(dir, m.folder, m.file), m.diskSize!));
  // The callback API: no FileHandle object per message, which costs more than the read.
  return new Promise((resolve) => {
    // No link followed (openMessage, on the slower path, tells of one and refuses it).
    fs.open(join(dir, m.folder, m.file), MESSAGE_OPEN, (err, fd) => {
      if (err) return resolve(null);
      // fstat of an open file waits on no disk: no thread-pool trip.
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        return resolve(null);
      }
      const buf = Buffer.allocUnsafe(m.diskSize! + 1);
      fs.read(fd, buf, 0, buf.length, 0, (rerr, bytesRead) => {
        // Closing a file opened for reading never waits on the disk: no thread-pool trip.
        fs.closeSync(fd);
        resolve(!rerr && bytesRead === m.diskSize ? buf.subarray(0, bytesRead) : null);
      });
    });
  });
}

// A page-cache read takes microseconds; 10 ms is a disk seek (or worse), and well above the time a
// busy machine keeps this thread off the CPU during a quick read.
const SLOW_READ_MS = 10;
const ASYNC_FOR_MS = 10_000;
/** Until when reads go through the thread pool (a read was slow). */
let asyncUntil = 0;

function readSmallNow(path: string, size: number): Buffer | null {
  const t0 = performance.now();
  let fd: number;
  try {
    // No link followed (O_NOFOLLOW); O_NONBLOCK: a FIFO put where a message was opens at once (and reads as empty) instead of
    // holding the event loop, and so every session, until something writes to it.
    fd = fs.openSync(path, MESSAGE_OPEN);
  } catch {
    // Gone or unreadable: null sends the caller to the path that opens the file and says which.
    return null;
  }
  try {
    // A link is never followed (O_NOFOLLOW) and only a plain file is read.
    if (!fs.fstatSync(fd).isFile()) return null;
    const buf = Buffer.allocUnsafe(size + 1);
    const bytesRead = fs.readSync(fd, buf, 0, buf.length, 0);
    return bytesRead === size ? buf.subarray(0, bytesRead) : null;
  } catch {
    // A read error (EISDIR, EAGAIN from a FIFO, EIO): the slower path reads again and reports it.
    return null;
  } finally {
    fs.closeSync(fd);
    if (performance.now() - t0 > SLOW_READ_MS) asyncUntil = Date.now() + ASYNC_FOR_MS;
  }
}

export class Pop3Session {
  state: Pop3State = 'AUTHORIZATION';
  private socket: Socket;
  private reader: Pop3LineReader;
  private queue: LineEvent[] = [];
  private busy = false;
  private closed = false;
  private user: string | null = null;
  /** Set while an AUTH PLAIN exchange waits for the client's response line. */
  private saslWaiting = false;
  mailbox: Mailbox | null = null;
  /** The mailbox this session holds the lock of, from the moment it is taken. */
  private locked: string | null = null;
  private messages: MessageEntry[] = [];
  private deleted = new Set<number>();
  private secure: boolean;
  /** Small messages read ahead of the client's RETRs, by message index. */
  private readAhead = new Map<number, Promise<Buffer | null>>();

  constructor(
    socket: Socket,
    private readonly host: SessionHost,
    readonly remote: string,
    idleMs: number,
  ) {
    this.socket = socket;
    this.secure = socket instanceof TLSSocket;
    this.reader = new Pop3LineReader(MAX_LINE, (e) => this.enqueue(e));
    this.attach(socket);
    socket.setTimeout(idleMs, () => {
      this.send('-ERR Disconnected for inactivity.');
      this.close();
    });
    socket.on('close', () => this.onClose());
    this.send(`+OK ${host.implementation} ready.`);
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      if (!this.closed) this.reader.push(chunk);
    });
    socket.on('error', () => this.close());
  }

  private enqueue(e: LineEvent): void {
    this.queue.push(e);
    // A client that pipelines faster than it reads the answers is not read from until it does.
    if (this.queue.length > MAX_PIPELINED) this.socket.pause();
    if (!this.busy) void this.drain();
  }

  /** Runs pipelined commands one after another, in order. */
  private async drain(): Promise<void> {
    this.busy = true;
    while (this.queue.length && !this.closed) {
      const e = this.queue.shift()!;
      try {
        await this.handle(e);
      } catch (err) {
        this.host.log.error('pop3 error', {
          rip: this.remote,
          user: this.mailbox?.address,
          error: (err as Error).message,
        });
        this.send('-ERR [SYS/TEMP] Internal error; try again later.');
      }
      if (this.socket.writableLength > HIGH_WATER) await this.drained();
      if (this.queue.length < MAX_PIPELINED / 2 && this.socket.isPaused()) this.socket.resume();
    }
    this.busy = false;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.socket.writableLength === 0) return resolve();
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private async handle(e: LineEvent): Promise<void> {
    if ('tooLong' in e) {
      this.saslWaiting = false;
      return this.err('Line too long.');
    }
    if (this.saslWaiting) {
      this.saslWaiting = false;
      return this.saslResponse(e.line.toString('latin1'));
    }
    const bytes = e.line;
    const sp = bytes.indexOf(32);
    const verb = bytes
      .subarray(0, sp < 0 ? bytes.length : sp)
      .toString('latin1')
      .toUpperCase();
    if (bytes.length > MAX_COMMAND && !LONG_LINE_VERBS.has(verb)) return this.err('Line too long.');
    // A password may be any UTF-8 text; everything else a client sends is ASCII.
    const rest =
      sp < 0 ? '' : verb === 'PASS' ? clientText(bytes.subarray(sp + 1)) : bytes.subarray(sp + 1).toString('latin1');
    const args = rest.split(' ').filter((a) => a.length > 0);
    const cmd = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
    if (!cmd) return this.err(verb ? 'Unknown command.' : 'Empty command.');
    if (!cmd.states.includes(this.state)) {
      return this.err(this.state === 'AUTHORIZATION' ? 'Not logged in.' : 'Already logged in.');
    }
    if (args.length < cmd.min || args.length > cmd.max) return this.err(`Wrong number of arguments for ${verb}.`);
    await cmd.run(this, args, rest);
  }

  send(line: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(`${line}\r\n`);
  }

  ok(text: string): void {
    this.send(text ? `+OK ${text}` : '+OK');
  }

  err(text: string): void {
    this.send(`-ERR ${text}`);
  }

  /** A multi-line reply: dot-stuffed, ended by a lone dot, written at once. */
  multi(first: string, lines: string[]): void {
    const body = lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
    this.send(`${first ? `+OK ${first}` : '+OK'}\r\n${body}${lines.length ? '\r\n' : ''}.`);
  }

  capa(): void {
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
    if (this.state === 'AUTHORIZATION') {
      // As Dovecot does: no login mechanism is offered where none would be allowed.
      if (this.loginAllowed()) caps.push('USER', 'SASL PLAIN');
      if (this.host.tls && !this.secure) caps.push('STLS');
    }
    caps.push(`IMPLEMENTATION ${this.host.implementation}`);
    this.multi('Capability list follows', caps);
  }

  /** Logins go only over TLS (--require-tls-auth), except where the setting allows them in clear. */
  private loginAllowed(): boolean {
    return this.secure || this.host.plaintextAllowed(this.remote);
  }

  /** Dovecot's answer to a login in clear where it is not allowed; the password is not checked. */
  private refuseCleartext(): void {
    this.host.log.notice('pop3 login refused', { rip: this.remote, why: 'no TLS' });
    this.err('[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.');
  }

  userCommand(user: string): void {
    if (!this.loginAllowed()) {
      this.refuseCleartext();
      return;
    }
    this.user = user;
    this.ok('');
  }

  async passCommand(password: string): Promise<void> {
    if (!this.loginAllowed()) return this.refuseCleartext();
    if (this.user === null) return this.err('No username given: send USER first.');
    if (password === '') return this.err('No password given.');
    const user = this.user;
    this.user = null;
    await this.login(user, password);
  }

  async authCommand(args: string[]): Promise<void> {
    if (!this.loginAllowed()) return args.length === 0 ? this.multi('', []) : this.refuseCleartext();
    if (args.length === 0) return this.multi('', ['PLAIN']);
    if (args[0].toUpperCase() !== 'PLAIN') return this.err('Unsupported authentication mechanism.');
    if (args.length === 1) {
      this.saslWaiting = true;
      return this.send('+ ');
    }
    await this.saslResponse(args[1]);
  }

  private async saslResponse(response: string): Promise<void> {
    if (response.trim() === '*') return this.err('Authentication cancelled.');
    const text = response.trim() === '=' ? '' : response.trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return this.err('[AUTH] Invalid base64 data.');
    const parts = Buffer.from(text, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) return this.err('[AUTH] Invalid PLAIN response.');
    const [authzid, authcid, password] = parts;
    if (authzid && authzid !== authcid) return this.err('[AUTH] Authorization as another user is not allowed.');
    await this.login(authcid, password);
  }

  private async login(user: string, password: string): Promise<void> {
    const mailbox = await this.host.login(user, password, this.remote, () => !this.closed);
    if (this.closed) return;
    if (!mailbox) return this.err('[AUTH] Authentication failed.');
    if (mailbox.suspended)
      return this.err('[SYS/PERM] This account is suspended; ask your mail administrator. Its mail is kept.');
    let locked: boolean;
    try {
      locked = await this.host.lock(mailbox.address, this);
    } catch (err) {
      this.host.log.error('pop3 lock failed', { user: mailbox.address, error: (err as Error).message });
      return this.err('[SYS/TEMP] The mailbox cannot be locked right now; try again later.');
    }
    if (!locked) return this.err('[IN-USE] Mailbox is locked by another POP3 session.');
    // Held from here: a hang-up at any later moment releases it (onClose), also one that came
    // while the lock was being taken.
    this.locked = mailbox.address;
    if (this.closed) return this.unlock();
    try {
      this.messages = await listMessages(mailbox.dir);
    } catch (err) {
      this.unlock();
      this.host.log.error('pop3 list failed', { user: mailbox.address, error: (err as Error).message });
      return this.err('[SYS/TEMP] The mailbox cannot be read right now; try again later.');
    }
    if (this.closed) return;
    this.mailbox = mailbox;
    this.state = 'TRANSACTION';
    this.host.loggedIn(mailbox, this.remote);
    this.ok('Logged in.');
  }

  stls(): void {
    if (!this.host.tls || this.secure) {
      this.err(this.secure ? 'TLS is already active.' : 'STLS is not available.');
      return;
    }
    this.ok('Begin TLS negotiation now.');
    // Anything the client pipelined before the handshake is discarded (RFC 2595 section 4).
    this.queue = [];
    this.reader.reset();
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: this.host.tls });
    this.socket = secure;
    this.secure = true;
    this.attach(secure);
    secure.on('close', () => this.onClose());
  }

  /** A message number argument: a live message, or an -ERR sent and null returned. */
  private message(arg: string): number | null {
    if (!/^[0-9]{1,10}$/.test(arg)) {
      this.err('Invalid message number.');
      return null;
    }
    const n = Number(arg);
    if (n < 1 || n > this.messages.length) {
      this.err('There is no such message.');
      return null;
    }
    if (this.deleted.has(n - 1)) {
      this.err('Message is deleted.');
      return null;
    }
    return n - 1;
  }

  private live(): [number, MessageEntry][] {
    const out: [number, MessageEntry][] = [];
    this.messages.forEach((m, i) => {
      if (!this.deleted.has(i)) out.push([i + 1, m]);
    });
    return out;
  }

  stat(): void {
    let count = 0;
    let bytes = 0;
    for (const [, m] of this.live()) {
      count++;
      bytes += m.size;
    }
    this.ok(`${count} ${bytes}`);
  }

  list(arg?: string): void {
    if (arg !== undefined) {
      const i = this.message(arg);
      if (i !== null) this.ok(`${i + 1} ${this.messages[i].size}`);
      return;
    }
    const live = this.live();
    const bytes = live.reduce((s, [, m]) => s + m.size, 0);
    this.multi(
      `${live.length} messages (${bytes} octets)`,
      live.map(([n, m]) => `${n} ${m.size}`),
    );
  }

  uidl(arg?: string): void {
    if (arg !== undefined) {
      const i = this.message(arg);
      if (i !== null) this.ok(`${i + 1} ${this.messages[i].uidl ?? this.messages[i].uid}`);
      return;
    }
    this.multi(
      '',
      this.live().map(([n, m]) => `${n} ${m.uidl ?? m.uid}`),
    );
  }

  dele(arg: string): void {
    const i = this.message(arg);
    if (i === null) return;
    this.deleted.add(i);
    this.ok(`Marked to be deleted.`);
  }

  rset(): void {
    this.deleted.clear();
    this.stat();
  }

  async retr(arg: string): Promise<void> {
    const i = this.message(arg);
    if (i === null) return;
    await this.sendMessage(i, Infinity);
  }

  async top(arg: string, linesArg: string): Promise<void> {
    const i = this.message(arg);
    if (i === null) return;
    if (!/^[0-9]{1,10}$/.test(linesArg)) return this.err('Invalid number of lines.');
    await this.sendMessage(i, Number(linesArg));
  }

  /**
   * Sends message `i`: all of it, or its header, the blank line and `bodyLines` lines of body.
   * The file is opened before +OK, so a message deleted underneath gets a plain -ERR.
   */
  private async sendMessage(i: number, bodyLines: number): Promise<void> {
    const m = this.messages[i];
    if (isSmall(m)) {
      const ahead = this.readAhead.get(i) ?? readSmall(this.mailbox!.dir, m);
      this.readAhead.delete(i);
      const data = await ahead;
      if (data) {
        if (this.closed) return;
        if (bodyLines === Infinity) this.sendWhole(m, data);
        else this.sendTop(data, bodyLines);
        this.readNext(i);
        return;
      }
    }
    await this.sendFromFile(i, bodyLines);
  }

  /** TOP of a small message read whole: the same bytes `stream` sends, in one corked write. */
  private sendTop(data: Buffer, bodyLines: number): void {
    const cut = topCut({ bodyLines, inBody: false, lineStart: true, prevBlank: false, count: 0 }, data);
    this.socket.cork();
    this.socket.write('+OK\r\n');
    this.socket.write(encodeMessage(cut < 0 ? data : data.subarray(0, cut)));
    this.socket.write('.\r\n');
    this.socket.uncork();
  }

  /** A small message as one reply: corked, so the three parts leave in one write, uncopied. */
  private sendWhole(m: MessageEntry, data: Buffer): void {
    this.socket.cork();
    this.socket.write(`+OK ${m.size} octets\r\n`);
    this.socket.write(encodeMessage(data));
    this.socket.write('.\r\n');
    this.socket.uncork();
  }

  /**
   * Clients fetch messages in order, so the next few are read while this one travels: the disk
   * and thread-pool wait overlaps the network round trips. At most READ_AHEAD small messages
   * (256 KB each at most) are held.
   */
  private readNext(i: number): void {
    // Reads the client passed over (it skipped or went back) make room for the ones ahead.
    for (const k of this.readAhead.keys()) if (k <= i) this.readAhead.delete(k);
    let next = i + 1;
    while (this.readAhead.size < READ_AHEAD && next < this.messages.length && next <= i + READ_AHEAD) {
      const m = this.messages[next];
      if (!this.deleted.has(next) && !this.readAhead.has(next) && isSmall(m))
        this.readAhead.set(next, readSmall(this.mailbox!.dir, m));
      next++;
    }
  }

  /**
   * Sends message `i` from its file: all of it, or its header, the blank line and `bodyLines`
   * lines of body. The file is opened before +OK, so a message deleted underneath gets -ERR.
   */
  private async sendFromFile(i: number, bodyLines: number): Promise<void> {
    const m = this.messages[i];
    const dir = this.mailbox!.dir;
    let fh: FileHandle;
    try {
      fh = await openMessage(dir, m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.err('Message is no longer on the server.');
      throw err;
    }
    try {
      const st = await fh.stat();
      if (bodyLines === Infinity && st.size <= SMALL) {
        const data = await fh.readFile();
        if (this.closed) return;
        this.sendWhole(m, data);
        return;
      }
      this.send(bodyLines === Infinity ? `+OK ${m.size} octets` : '+OK');
      await this.stream(fh, bodyLines);
      this.send('.');
    } finally {
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
    const top =
      bodyLines === Infinity ? null : { bodyLines, inBody: false, lineStart: true, prevBlank: false, count: 0 };
    let position = 0;
    for (;;) {
      if (this.closed) return;
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
    if (this.closed || parts.length === 0) return;
    const ok = this.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    if (!ok) await this.drained();
  }

  async quit(): Promise<void> {
    if (this.state === 'AUTHORIZATION') {
      this.ok(`${this.host.implementation} signing off.`);
      return this.close();
    }
    this.state = 'UPDATE';
    const doomed = [...this.deleted].map((i) => this.messages[i]);
    try {
      if (doomed.length) {
        this.host.removing(
          this.mailbox!,
          doomed.map((m) => m.file),
        );
        await deleteMessages(this.mailbox!.dir, doomed);
      }
      this.ok(
        `Logging out${doomed.length ? `, ${doomed.length} message${doomed.length === 1 ? '' : 's'} deleted` : ''}.`,
      );
    } catch (err) {
      this.host.log.error('pop3 delete failed', { user: this.mailbox!.address, error: (err as Error).message });
      // RFC 2449's SYS/TEMP: the client may try again; a deletion not durable may come undone.
      this.err(
        err instanceof DeletionNotDurable
          ? '[SYS/TEMP] The messages were deleted, but the disk did not confirm it: some may come back.'
          : '[SYS/TEMP] Some messages could not be deleted; they are still on the server.',
      );
    }
    if (doomed.length) this.host.changed(this.mailbox!);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose();
  }

  private unlock(): void {
    if (this.locked) this.host.unlock(this.locked, this);
    this.locked = null;
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.readAhead.clear();
    this.unlock();
  }
}
