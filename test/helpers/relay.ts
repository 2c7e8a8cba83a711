// A test relay: a real smtp-server on a loopback port that records what it receives, and can
// be told to refuse, to stall, or to hang up.
import { createServer, type Server } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  data: Buffer;
}

export class TestRelay {
  readonly received: Received[] = [];
  /** 'accept', or an SMTP code to refuse DATA with (e.g. 550 or 451). */
  mode: 'accept' | number = 'accept';
  /** How long to think before answering DATA. */
  delayMs = 0;
  /** Messages whose DATA has arrived and not been answered yet. */
  answering = 0;
  private server: SMTPServer;
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      disableReverseLookup: true,
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', async () => {
          this.answering++;
          if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
          this.answering--;
          if (this.mode !== 'accept') {
            const err = new Error(
              `${this.mode === 550 ? '5.7.1 Rejected by the test relay' : '4.3.2 Try later'}`,
            ) as Error & { responseCode: number };
            err.responseCode = this.mode;
            return cb(err);
          }
          this.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks),
          });
          cb();
        });
      },
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve) => {
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.server.address() as { port: number }).port;
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A port where something accepts connections and then does what it is told: nothing, or hang up. */
export function brokenRelay(behaviour: 'silent' | 'hangup'): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    if (behaviour === 'hangup') socket.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server })),
  );
}

/** A port that was free a moment ago: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const { port, server } = await brokenRelay('hangup');
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
