// A minimal, fast POP3 client for the benchmarks: one command at a time, replies read straight
// from the socket buffer. The same client measures vmail and Dovecot.
import { connect, type Socket } from 'node:net';

export class BenchPop3 {
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<BenchPop3> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    const c = new BenchPop3(socket);
    const greeting = await c.line();
    if (!greeting.startsWith('+OK')) throw new Error(`greeting: ${greeting}`);
    return c;
  }

  private async waitFor(find: () => number): Promise<Buffer> {
    for (;;) {
      const end = find();
      if (end >= 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  async line(): Promise<string> {
    const raw = await this.waitFor(() => {
      const i = this.buf.indexOf('\r\n');
      return i < 0 ? -1 : i + 2;
    });
    return raw.toString('latin1', 0, raw.length - 2);
  }

  async cmd(command: string): Promise<string> {
    this.socket.write(`${command}\r\n`);
    const reply = await this.line();
    if (!reply.startsWith('+OK')) throw new Error(`${command.split(' ')[0]}: ${reply}`);
    return reply;
  }

  /** A multi-line command; returns the body's length in bytes. */
  async multi(command: string): Promise<number> {
    await this.cmd(command);
    let from = 0;
    const body = await this.waitFor(() => {
      if (this.buf.length >= 3 && this.buf[0] === 0x2e && this.buf[1] === 13 && this.buf[2] === 10) return 3;
      const i = this.buf.indexOf('\r\n.\r\n', Math.max(0, from - 4));
      from = this.buf.length;
      return i < 0 ? -1 : i + 5;
    });
    return body.length;
  }

  async login(user: string, password: string): Promise<void> {
    await this.cmd(`USER ${user}`);
    await this.cmd(`PASS ${password}`);
  }

  async quit(): Promise<void> {
    await this.cmd('QUIT');
    this.socket.destroy();
  }
}
