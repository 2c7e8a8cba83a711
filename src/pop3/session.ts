// One POP3 connection: the AUTHORIZATION -> TRANSACTION -> UPDATE state machine and the commands'
// bodies (the login, the listing, DELE and QUIT). The command table is commands.ts; RETR and TOP
// go through retrieve.ts. DELE only marks, RSET unmarks, and only QUIT from TRANSACTION deletes.
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import { DeletionNotDurable, deleteMessages, listMessages, type MessageEntry } from '../maildir/maildir.js';
import type { Logger } from '../support/log.js';
import { noteTrail } from '../support/trail.js';
import { type CommandTarget, type Pop3State, parseCommand } from './commands.js';
import { type LineEvent, Pop3LineReader } from './line-reader.js';
import { MessageSender, type Wire } from './retrieve.js';

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

/** The longest line that carries a password (PASS, AUTH PLAIN and its continuation): 128 characters of UTF-8 and base64 fit. */
const MAX_LINE = 4096;
const HIGH_WATER = 1024 * 1024;
const MAX_PIPELINED = 1000;

export class Pop3Session implements CommandTarget, Wire {
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
  /** RETR and TOP, once logged in. */
  private sender: MessageSender | null = null;

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

  /** The connection as it is now (STLS replaces it). */
  get connection(): Socket {
    return this.socket;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  drained(): Promise<void> {
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
    const line = parseCommand(e.line, this.state);
    if ('refuse' in line) return this.err(line.refuse);
    await line.command.run(this, line.args, line.rest);
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
    await this.login(user, password, 'USER');
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
    await this.login(authcid, password, 'PLAIN');
  }

  private async login(user: string, password: string, mechanism: string): Promise<void> {
    const mailbox = await this.host.login(user, password, this.remote, () => !this.closed);
    if (this.closed) return;
    noteTrail({
      event: mailbox ? 'login' : 'login-failed',
      address: mailbox?.address ?? user.toLowerCase().slice(0, 320),
      client: this.remote,
      detail: { service: 'pop3', mechanism, tls: this.secure, suspended: mailbox?.suspended || undefined },
    });
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
    this.sender = new MessageSender(this, mailbox.dir, this.messages, this.deleted);
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
    await this.sender!.send(i, Infinity);
    noteTrail({
      event: 'retrieved',
      address: this.mailbox!.address,
      client: this.remote,
      detail: { uidl: this.messages[i].uid, served: this.messages[i].uidl, size: this.messages[i].size },
    });
  }

  async top(arg: string, linesArg: string): Promise<void> {
    const i = this.message(arg);
    if (i === null) return;
    if (!/^[0-9]{1,10}$/.test(linesArg)) return this.err('Invalid number of lines.');
    await this.sender!.send(i, Number(linesArg));
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
        for (const m of doomed)
          noteTrail({
            event: 'deleted',
            address: this.mailbox!.address,
            client: this.remote,
            detail: { uidl: m.uid, served: m.uidl },
          });
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
    this.sender?.forget();
    this.unlock();
  }
}
