// The daemon's TCP ports, bound first: before privileges are dropped (ports 25, 110 and 995
// need root or CAP_NET_BIND_SERVICE) and before the store is open. A connection that arrives
// before the daemon is ready waits, paused, and is served as soon as it is.
import { createServer, type Server, type Socket } from 'node:net';
import type { Listen } from '../service/settings.js';

export class Listener {
  private handler: ((socket: Socket) => void) | null = null;
  private waiting: Socket[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Binds `at`; `what` names it in the one-line error when the port is taken. */
  static bind(at: Listen, what: string): Promise<Listener> {
    return new Promise((resolve, reject) => {
      let listener: Listener | null = null;
      const server = createServer({ pauseOnConnect: true }, (socket) => listener?.take(socket));
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `${what} port ${at.host}:${at.port} is already in use`
              : err.code === 'EACCES'
                ? `${what} port ${at.host}:${at.port} needs root or CAP_NET_BIND_SERVICE`
                : `${what} cannot listen on ${at.host}:${at.port}: ${err.message}`,
          ),
        );
      });
      server.listen(at.port, at.host, () => {
        const addr = server.address();
        listener = new Listener(server, typeof addr === 'object' && addr ? addr.port : at.port);
        resolve(listener);
      });
    });
  }

  private take(socket: Socket): void {
    socket.on('error', () => {});
    if (!this.handler) {
      this.waiting.push(socket);
      return;
    }
    socket.resume();
    this.handler(socket);
  }

  /** Hands every connection, those waiting first, to `handler`. */
  serve(handler: (socket: Socket) => void): void {
    this.handler = handler;
    for (const socket of this.waiting.splice(0)) if (!socket.destroyed) this.take(socket);
  }

  /**
   * Stops accepting. Connections already served are closed by whoever serves them (a stop
   * finishes their deliveries first), so this does not wait for them.
   */
  close(): void {
    for (const socket of this.waiting.splice(0)) socket.destroy();
    if (this.server.listening) this.server.close();
  }
}
