// A raw line client for the control socket: sends exactly the bytes a test gives it.
import { createConnection, type Socket } from 'node:net';

export class RawLines {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf += d.toString();
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawLines> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path, () => resolve(new RawLines(s)));
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete line the daemon sent, parsed as JSON. */
  async next(timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return JSON.parse(line);
      }
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('no line from the daemon');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** The next notification named `method`, passing over the others. */
  async nextOf(method: string, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (line === null || line.method === method) return line;
    }
  }

  /** Every complete line already received, parsed, without waiting. */
  drain(): any[] {
    const lines = this.buf.split('\n');
    this.buf = lines.pop() ?? '';
    return lines.filter(Boolean).map((l) => JSON.parse(l));
  }

  async call(method: string, params?: unknown, id: number | string = 1): Promise<any> {
    this.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}
