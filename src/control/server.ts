// The daemon's end of the control socket: accepts many clients, checks each request against the
// method table once, dispatches it, and pushes notifications to clients that subscribed.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { InputError, NotFoundError } from '../model/errors.js';
import { LineSplitter } from './line-splitter.js';
import { ErrorCode, MAX_LINE, METHODS, paramsProblem, type Method, type NotificationMethod } from './protocol.js';

export interface ControlConnection {
  subscribed: boolean;
}

export type Handlers = {
  [M in Method]: (params: Record<string, any>, conn: ControlConnection) => unknown | Promise<unknown>;
};

type Id = string | number | null;

/** Unread output a client may leave behind before it is disconnected. */
const MAX_BACKLOG = 64 * 1024 * 1024;

export class ControlServer {
  private readonly server: Server;
  private readonly clients = new Map<Socket, ControlConnection>();

  constructor(private readonly handlers: Handlers, private readonly log: (line: string) => void = () => {}) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on `path`, replacing a stale socket file but refusing when a daemon answers there. */
  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    if (existsSync(path)) {
      if (await answers(path)) throw new InputError(`another vmail daemon is already running on ${path}: stop it first`);
      unlinkSync(path);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new InputError(`the control socket ${path} is taken: is another daemon starting?`) : err);
      });
      // Owner and group only, from the first moment the socket exists.
      const old = process.umask(0o117);
      try {
        this.server.listen(path, () => resolve());
      } finally {
        process.umask(old);
      }
    });
    chmodSync(path, 0o660);
  }

  private accept(socket: Socket): void {
    const conn: ControlConnection = { subscribed: false };
    this.clients.set(socket, conn);
    const splitter = new LineSplitter(
      MAX_LINE,
      (line) => this.handleLine(socket, conn, line),
      () => {
        this.send(socket, { jsonrpc: '2.0', id: null, error: { code: ErrorCode.InvalidRequest, message: `request longer than ${MAX_LINE} bytes: connection closed` } });
        socket.end();
        socket.destroy();
      },
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.clients.delete(socket));
  }

  private handleLine(socket: Socket, conn: ControlConnection, line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.reply(socket, null, { code: ErrorCode.Parse, message: 'parse error: each line must be one JSON object' });
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      return this.reply(socket, null, { code: ErrorCode.InvalidRequest, message: 'invalid request: expected a JSON-RPC 2.0 object' });
    }
    const req = msg as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    const id: Id = typeof req.id === 'string' || typeof req.id === 'number' ? req.id : null;
    if (req.jsonrpc !== '2.0' || typeof req.method !== 'string' || (req.id !== undefined && id === null && req.id !== null)) {
      return this.reply(socket, id, { code: ErrorCode.InvalidRequest, message: 'invalid request: needs jsonrpc "2.0", a method and a string or number id' });
    }
    if (!Object.hasOwn(METHODS, req.method)) {
      return this.reply(socket, id, { code: ErrorCode.MethodNotFound, message: `unknown method ${JSON.stringify(req.method.slice(0, 60))}` });
    }
    const method = req.method as Method;
    const problem = paramsProblem(method, req.params);
    if (problem) return this.reply(socket, id, { code: ErrorCode.InvalidParams, message: `${method}: ${problem}` });
    const params = (req.params ?? {}) as Record<string, any>;
    Promise.resolve()
      .then(() => this.handlers[method](params, conn))
      .then(
        (result) => {
          if (req.id !== undefined) this.reply(socket, id, undefined, result ?? null);
        },
        (err: Error) => {
          if (!(err instanceof InputError)) this.log(`control: ${method} failed: ${err.stack ?? err.message}`);
          const code = err instanceof NotFoundError ? ErrorCode.NotFound : err instanceof InputError ? ErrorCode.Rejected : ErrorCode.Internal;
          const message = err instanceof InputError ? err.message : `internal error: ${err.message}`;
          if (req.id !== undefined) this.reply(socket, id, { code, message });
        },
      );
  }

  private reply(socket: Socket, id: Id, error?: { code: number; message: string }, result?: unknown): void {
    this.send(socket, error ? { jsonrpc: '2.0', id, error } : { jsonrpc: '2.0', id, result });
  }

  private send(socket: Socket, msg: unknown): void {
    this.write(socket, `${JSON.stringify(msg)}\n`);
  }

  /** Writes to one client; one that stopped reading is dropped before it costs us memory. */
  private write(socket: Socket, line: string): void {
    if (socket.destroyed || !socket.writable) return;
    if (socket.writableLength > MAX_BACKLOG) {
      this.log(`control: dropping a client that stopped reading (${socket.writableLength} bytes unread)`);
      socket.destroy();
      return;
    }
    socket.write(line);
  }

  notify(method: NotificationMethod, params: unknown): void {
    const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
    for (const [socket, conn] of this.clients) if (conn.subscribed) this.write(socket, line);
  }

  async close(): Promise<void> {
    for (const socket of this.clients.keys()) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** True when something accepts connections on the Unix socket at `path`. */
export function answers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
