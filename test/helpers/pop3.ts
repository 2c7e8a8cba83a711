// A raw POP3 client for protocol tests: sends exact bytes and reads single- and multi-line
// replies as the server wrote them (no dot-unstuffing), so the wire format itself is checked.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export class RawPop3 {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(public socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** STLS, then the TLS handshake over this connection (any certificate is taken: tests use self-signed ones). */
  async startTls(): Promise<void> {
    const reply = await this.cmd('STLS');
    if (!reply.startsWith('+OK')) throw new Error(`STLS: ${reply}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    this.socket = await new Promise<Socket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.attach(this.socket);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Connects to 127.0.0.1:`port`, from `localAddress` (another loopback address) if given. */
  static async open(port: number, greet = true, localAddress?: string): Promise<RawPop3> {
    const s = await new Promise<Socket>((resolve, reject) => {
      const sock = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(sock));
      sock.once('error', reject);
    });
    s.setNoDelay(true);
    const c = new RawPop3(s);
    if (greet) await c.line();
    return c;
  }

  private async until(find: () => number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = find();
      if (end >= 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.closed) throw new Error(`connection closed; unread: ${this.buf.toString('latin1').slice(0, 200)}`);
      if (Date.now() > deadline) throw new Error(`no reply; unread: ${this.buf.toString('latin1').slice(0, 200)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** One reply line, without its CRLF. */
  async line(timeoutMs = 5000): Promise<string> {
    const raw = await this.until(() => {
      const i = this.buf.indexOf('\r\n');
      return i < 0 ? -1 : i + 2;
    }, timeoutMs);
    return raw.subarray(0, raw.length - 2).toString('latin1');
  }

  /** A multi-line reply's body as sent (still dot-stuffed), without the CRLF before the final `.`. */
  async body(timeoutMs = 10_000): Promise<Buffer> {
    // Search only what arrived since the last look: a 5 MB body comes in many chunks.
    let from = 0;
    const raw = await this.until(() => {
      if (this.buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) return 3;
      const i = this.buf.indexOf('\r\n.\r\n', Math.max(0, from - 4));
      from = this.buf.length;
      return i < 0 ? -1 : i + 5;
    }, timeoutMs);
    return raw.length === 3 ? Buffer.alloc(0) : raw.subarray(0, raw.length - 5);
  }

  async cmd(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.line();
  }

  /** Sends a command that answers multi-line; returns the first line and the raw body. */
  async multi(line: string): Promise<{ first: string; body: Buffer }> {
    const first = await this.cmd(line);
    if (!first.startsWith('+OK')) return { first, body: Buffer.alloc(0) };
    return { first, body: await this.body() };
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async login(user: string, pass: string): Promise<void> {
    const u = await this.cmd(`USER ${user}`);
    const p = await this.cmd(`PASS ${pass}`);
    if (!u.startsWith('+OK') || !p.startsWith('+OK')) throw new Error(`login failed: ${u} / ${p}`);
  }

  /** A command that must succeed: its reply, or an error naming the command. */
  async ok(line: string): Promise<string> {
    const reply = await this.cmd(line);
    if (!reply.startsWith('+OK')) throw new Error(`${line.split(' ')[0]}: ${reply}`);
    return reply;
  }

  async quit(): Promise<void> {
    await this.ok('QUIT');
    this.socket.destroy();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** What POP3 must send for a stored message: CRLF line ends and a final line end. */
export function asSent(data: Buffer): Buffer {
  const text = data.toString('latin1').replace(/\r?\n/g, '\r\n');
  return Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'latin1');
}

/** The same with dot-stuffing, as it appears on the wire. */
export function stuffed(data: Buffer): Buffer {
  return Buffer.from(asSent(data).toString('latin1').replace(/^\./gm, '..'), 'latin1');
}

/**
 * The reference for what RETR sends of stored bytes, one byte at a time: a CR before every bare
 * LF, a leading dot doubled, a last line without an end given CRLF (RFC 1939 and today's server).
 */
export function wire(data: Buffer): Buffer {
  const out: number[] = [];
  let lineStart = true;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (lineStart && c === 0x2e) out.push(0x2e);
    if (c === 10 && (i === 0 || data[i - 1] !== 13)) out.push(13);
    out.push(c);
    lineStart = c === 10;
  }
  if (!lineStart) out.push(13, 10);
  return Buffer.from(out);
}

/** What TOP n k covers of the stored bytes: through the first line of only CRs (or empty), then k lines. */
export function topBytes(data: Buffer, k: number): Buffer {
  let p = 0;
  let inBody = false;
  let count = 0;
  while (p < data.length) {
    const nl = data.indexOf(10, p);
    if (nl < 0) break;
    if (!inBody) {
      if (data.subarray(p, nl).every((c) => c === 13)) {
        inBody = true;
        if (k === 0) return data.subarray(0, nl + 1);
      }
    } else if (++count >= k) {
      return data.subarray(0, nl + 1);
    }
    p = nl + 1;
  }
  return data;
}

/** The body RawPop3 hands back for an encoded message: the bytes before the final CRLF and dot. */
export const asBody = (encoded: Buffer) => encoded.subarray(0, Math.max(0, encoded.length - 2));
