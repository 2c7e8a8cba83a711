// A raw SMTP client for the hostile tests: sends exactly the bytes a test gives it, from the
// loopback address it names (all of 127/8 is loopback), and reads the replies as they come.
import { connect, type Socket } from 'node:net';

export interface Reply {
  code: number;
  text: string;
  /** When the reply's last line arrived (Date.now()). */
  at: number;
}

export class RawSmtp {
  private buf = '';
  private replies: Reply[] = [];
  private waiters: (() => void)[] = [];
  private lines: string[] = [];
  closed = false;
  readonly connectedAt = Date.now();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf('\r\n'); nl >= 0; nl = this.buf.indexOf('\r\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 2);
        this.lines.push(line.slice(4));
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          this.replies.push({ code: Number(line.slice(0, 3)), text: this.lines.join('\n'), at: Date.now() });
          this.lines = [];
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  /** Connects from `from` (a loopback address, default 127.0.0.1). */
  static open(port: number, from = '127.0.0.1'): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** The next reply, or null once the server has closed the connection with none left. */
  async reply(timeoutMs = 30_000): Promise<Reply | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r) return r;
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('no SMTP reply in time');
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 100).unref();
      });
    }
  }

  /** Sends one command line and waits for its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<Reply | null> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** Resolves when the server has closed the connection (or after `timeoutMs`, false). */
  async waitClosed(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline)
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 100).unref();
      });
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
