// The daemon's end of the control socket: accepts many clients, checks each request against the
// method table once, dispatches it, and pushes notifications to clients that subscribed.
// A client is served only as fast as it reads: while its answers wait unread, its further
// requests wait too, so no client (or crowd of them) makes the daemon buffer without bound.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { InputError, NotFoundError, UnavailableError } from '../model/errors.js';
import { Logger } from '../support/log.js';
import { LineSplitter } from './line-splitter.js';
import { ListAnswer } from './list-answer.js';
import { METHODS, paramsProblem, READS } from './methods.js';
import { type Peer, peerOf } from './peer.js';
import {
  ErrorCode,
  type ErrorData,
  MAX_LINE,
  type Method,
  type NotificationMethod,
  type Notifications,
  type Params,
  type Results,
} from './protocol.js';

export interface ControlConnection {
  subscribed: boolean;
  /** Who connected, as the kernel reported it. */
  peer: Peer;
  /** Import rows sent ahead (accounts.import with more): dropped with the connection. */
  staged: Record<string, unknown>[];
  /** The size of `staged` as it arrived (its JSON), against the import's byte limit. */
  stagedBytes: number;
}

/** A request that changes something, with what came of it: for the audit log. */
export interface ChangeRequestRecord {
  method: Method;
  params: Record<string, unknown>;
  peer: Peer;
  result?: unknown;
  error?: Error;
}

/** A method's answer: a list may also come as a ListAnswer, written a piece at a time. */
type Answer<R> = R | Promise<R> | (R extends (infer E)[] ? ListAnswer<E> : never);

export type Handlers = {
  [M in Method]: (params: Params<M>, conn: ControlConnection) => Answer<Results[M]>;
};

type Id = string | number | null;
interface RpcErrorBody {
  code: number;
  message: string;
  data?: ErrorData;
}
type Response = { jsonrpc: '2.0'; id: Id; result: unknown } | { jsonrpc: '2.0'; id: Id; error: RpcErrorBody };

/** Unread answers past which a client's further requests wait until it reads. */
const PAUSE_AT = 1024 * 1024;
/** Requests of one client being worked on at once. */
const MAX_IN_FLIGHT = 32;
/** Unread output one client may leave (notifications keep coming): past it, it is dropped. */
const MAX_BACKLOG = 64 * 1024 * 1024;
/** Unread output of all clients together: past it, the client with the most is dropped. */
const MAX_TOTAL_BACKLOG = 256 * 1024 * 1024;
/**
 * Rows the whole lists of one batch may hold together: a batch's answers go as one line, so its
 * lists are made whole at once (1,000 whole lists of 2,000 accounts in one line ran the daemon
 * out of memory). As many as the longest list a host has (issue 30's 100,000) in one batch.
 */
const MAX_BATCH_ROWS = 100_000;

interface Client {
  socket: Socket;
  conn: ControlConnection;
  lines: string[];
  inFlight: number;
  /**
   * While a list answer is written a piece at a time: what is to follow it (answers, whole
   * lines, and further lists), in order, with the bytes held; null when nothing is streaming.
   */
  queue: (string | StreamedAnswer)[] | null;
  queuedBytes: number;
}

interface StreamedAnswer {
  id: Id;
  list: ListAnswer<unknown>;
}

export class ControlServer {
  private readonly server: Server;
  private readonly clients = new Set<Client>();

  constructor(
    private readonly handlers: Handlers,
    private readonly log: Logger = new Logger('error', () => {}),
    /** Records a request that changes something; the answer waits until it is recorded. */
    private readonly record: (r: ChangeRequestRecord) => Promise<void> = async () => {},
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /**
   * Listens on `path`. A socket file left by a daemon that died is replaced; a live daemon
   * there, or anything that is not a socket, is refused and left alone.
   */
  async listen(path: string): Promise<void> {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    } catch (err) {
      throw socketRefused(path, err as NodeJS.ErrnoException);
    }
    const existing = lstatOrNull(path);
    if (existing) {
      if (!existing.isSocket())
        throw new InputError(
          `${path} exists and is not a socket: refusing to replace it; remove it or choose another --socket`,
        );
      if (await answers(path))
        throw new InputError(`another vmail daemon is already running on ${path}: stop it first`);
      unlinkSync(path);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new InputError(`the control socket ${path} is taken: is another daemon starting?`)
            : socketRefused(path, err),
        );
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
    let peer: Peer;
    try {
      peer = peerOf(socket);
    } catch (err) {
      this.log.error('control peer unknown', { error: (err as Error).message });
      socket.destroy();
      return;
    }
    const client: Client = {
      socket,
      conn: { subscribed: false, peer, staged: [], stagedBytes: 0 },
      lines: [],
      inFlight: 0,
      queue: null,
      queuedBytes: 0,
    };
    this.clients.add(client);
    const splitter = new LineSplitter(
      MAX_LINE,
      (line) => {
        client.lines.push(line);
        this.pump(client);
      },
      () => {
        this.send(client, {
          jsonrpc: '2.0',
          id: null,
          error: {
            code: ErrorCode.InvalidRequest,
            message: `request longer than ${MAX_LINE} bytes: connection closed`,
          },
        });
        socket.end();
        socket.destroy();
      },
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('drain', () => this.pump(client));
    // A failed socket (the client went away mid-answer) closes next: 'close' forgets the client,
    // and nothing can be told to it any more.
    socket.on('error', () => {});
    socket.on('close', () => this.clients.delete(client));
  }

  /** Works through a client's requests while it keeps up with reading the answers. */
  private pump(client: Client): void {
    const { socket } = client;
    while (
      client.lines.length &&
      client.inFlight < MAX_IN_FLIGHT &&
      socket.writableLength < PAUSE_AT &&
      (client.queue?.length ?? 0) < MAX_IN_FLIGHT &&
      !socket.destroyed
    ) {
      const line = client.lines.shift()!;
      client.inFlight++;
      void this.handleLine(client.conn, line).then((response) => {
        client.inFlight--;
        if (
          response !== null &&
          !Array.isArray(response) &&
          'result' in response &&
          response.result instanceof ListAnswer
        )
          this.stream(client, { id: response.id, list: response.result });
        else if (response !== null) this.write(client, `${JSON.stringify(response)}\n`);
        this.pump(client);
      });
    }
    // Read no further while requests wait: the client's own socket buffer then fills, not ours.
    if (client.lines.length && !socket.isPaused()) socket.pause();
    else if (!client.lines.length && socket.isPaused()) socket.resume();
  }

  /** The answer to one line: a response, a batch of them, or null (a notification, a blank line). */
  private async handleLine(conn: ControlConnection, line: string): Promise<Response | Response[] | null> {
    if (line.trim() === '') return null;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      // JSON.parse says only where the text broke: the client is told the line is not JSON.
      return errorResponse(null, ErrorCode.Parse, 'parse error: each line must be one JSON object');
    }
    if (Array.isArray(msg)) {
      if (msg.length === 0) return errorResponse(null, ErrorCode.InvalidRequest, 'invalid request: an empty batch');
      if (msg.length > 1000)
        return errorResponse(
          null,
          ErrorCode.InvalidRequest,
          `invalid request: a batch of ${msg.length}; at most 1000 requests per batch`,
        );
      const answers = (await Promise.all(msg.map((m) => this.handleRequest(conn, m)))).filter(
        (r): r is Response => r !== null,
      );
      return answers.length ? wholeLists(answers) : null;
    }
    return this.handleRequest(conn, msg);
  }

  private async handleRequest(conn: ControlConnection, msg: unknown): Promise<Response | null> {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      return errorResponse(null, ErrorCode.InvalidRequest, 'invalid request: expected a JSON-RPC 2.0 object');
    }
    const req = msg as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    const id: Id = typeof req.id === 'string' || typeof req.id === 'number' ? req.id : null;
    if (
      req.jsonrpc !== '2.0' ||
      typeof req.method !== 'string' ||
      (req.id !== undefined && id === null && req.id !== null)
    ) {
      return errorResponse(
        id,
        ErrorCode.InvalidRequest,
        'invalid request: needs jsonrpc "2.0", a method and a string or number id',
      );
    }
    // A notification (no id) is never answered, not even with an error (JSON-RPC 2.0, 4.1).
    const answer = (r: Response) => (req.id === undefined ? null : r);
    if (!Object.hasOwn(METHODS, req.method)) {
      return answer(
        errorResponse(id, ErrorCode.MethodNotFound, `unknown method ${JSON.stringify(req.method.slice(0, 60))}`),
      );
    }
    const method = req.method as Method;
    const problem = paramsProblem(method, req.params);
    if (problem) {
      const message = `${method}: ${problem}`;
      await this.recordChange({ method, params: {}, peer: conn.peer, error: new InputError(message) });
      return answer(errorResponse(id, ErrorCode.InvalidParams, message));
    }
    const params = (req.params ?? {}) as Record<string, unknown>;
    const handler = this.handlers[method] as (p: unknown, c: ControlConnection) => unknown;
    let result: unknown;
    try {
      result = await handler(params, conn);
    } catch (err) {
      const e = err as Error;
      await this.recordChange({ method, params, peer: conn.peer, error: e });
      if (!(e instanceof InputError)) this.log.error('control failed', { method, error: e.stack ?? e.message });
      const code =
        e instanceof NotFoundError
          ? ErrorCode.NotFound
          : e instanceof InputError
            ? ErrorCode.Rejected
            : ErrorCode.Internal;
      const message =
        e instanceof InputError || e instanceof UnavailableError ? e.message : `internal error: ${e.message}`;
      const body = errorResponse(id, code, message);
      if (e instanceof InputError && e.field && 'error' in body) body.error.data = { field: e.field };
      return answer(body);
    }
    await this.recordChange({ method, params, peer: conn.peer, result });
    return answer({ jsonrpc: '2.0', id, result: result ?? null });
  }

  /** Hands a request that changes something to the audit log; a failure there is logged, not answered. */
  private async recordChange(r: ChangeRequestRecord): Promise<void> {
    if (READS.has(r.method)) return;
    try {
      await this.record(r);
    } catch (err) {
      this.log.error('audit not written', { method: r.method, error: (err as Error).message });
    }
  }

  private send(client: Client, msg: unknown): void {
    this.write(client, `${JSON.stringify(msg)}\n`);
  }

  /** Writes to one client; one that stopped reading is dropped before it costs us memory. */
  private write(client: Client, line: string): void {
    const { socket } = client;
    if (socket.destroyed || !socket.writable) return;
    if (client.queue) {
      // A list is being written: this line follows it whole.
      client.queue.push(line);
      client.queuedBytes += line.length;
      if (client.queuedBytes > MAX_BACKLOG) this.drop(client, 'it stopped reading');
      return;
    }
    if (socket.writableLength > MAX_BACKLOG) {
      this.drop(client, 'it stopped reading');
      return;
    }
    socket.write(line);
    if (socket.writableLength > PAUSE_AT && this.totalBacklog() > MAX_TOTAL_BACKLOG) {
      let worst = client;
      for (const c of this.clients) if (c.socket.writableLength > worst.socket.writableLength) worst = c;
      this.drop(worst, 'the clients together left too much unread');
    }
  }

  /**
   * Writes a list answer a piece at a time, each piece made once the client has read what
   * came before (the socket's buffer below PAUSE_AT); what else is for this client waits in
   * its queue and follows in order.
   */
  private stream(client: Client, answer: StreamedAnswer): void {
    if (client.queue) {
      client.queue.push(answer);
      return;
    }
    client.queue = [];
    client.queuedBytes = 0;
    void (async () => {
      let next: string | StreamedAnswer | undefined = answer;
      while (next !== undefined) {
        if (typeof next === 'string') {
          if (!client.socket.destroyed) client.socket.write(next);
        } else await this.writePieces(client, next);
        next = client.queue?.shift();
      }
      client.queue = null;
      this.pump(client);
    })().catch((err: Error) => {
      // Only a piece that could not be made lands here: the client cannot get a whole answer now.
      this.log.error('control failed', { method: 'list answer', error: err.stack ?? err.message });
      client.socket.destroy();
    });
  }

  private async writePieces(client: Client, { id, list }: StreamedAnswer): Promise<void> {
    const { socket } = client;
    socket.write(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":[`);
    let first = true;
    for (let piece = list.piece(); piece && !socket.destroyed; piece = list.piece()) {
      if (!piece.length) continue;
      const text = JSON.stringify(piece);
      socket.write(first ? text.slice(1, -1) : `,${text.slice(1, -1)}`);
      first = false;
      if (socket.writableLength > PAUSE_AT) await drained(socket);
    }
    if (!socket.destroyed) socket.write(']}\n');
  }

  private totalBacklog(): number {
    let total = 0;
    for (const c of this.clients) total += c.socket.writableLength;
    return total;
  }

  private drop(client: Client, why: string): void {
    this.log.warning('control dropped', { reason: why, unread: client.socket.writableLength });
    client.lines = [];
    client.socket.destroy();
    this.clients.delete(client);
  }

  /** Whether any client is subscribed to notifications. */
  get subscribed(): boolean {
    for (const client of this.clients) if (client.conn.subscribed) return true;
    return false;
  }

  notify<N extends NotificationMethod>(method: N, params: Notifications[N]): void {
    const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
    for (const client of this.clients) if (client.conn.subscribed) this.write(client, line);
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Resolves once `socket` has written what it held, or is closed. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * A batch's answers with their lists made whole, MAX_BATCH_ROWS rows at most in all: a list past
 * that is answered with an error instead (ask it by itself, where it is written in pieces).
 */
function wholeLists(answers: Response[]): Response[] {
  let rows = 0;
  return answers.map((r) => {
    if (!('result' in r) || !(r.result instanceof ListAnswer)) return r;
    const list = r.result.whole(MAX_BATCH_ROWS - rows);
    if (list === null)
      return errorResponse(
        r.id,
        ErrorCode.InvalidRequest,
        `invalid request: the whole lists of a batch hold at most ${MAX_BATCH_ROWS} rows in all; ask a long list by itself`,
      );
    rows += list.length;
    return { ...r, result: list };
  });
}

function errorResponse(id: Id, code: number, message: string): Response {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
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

/** Why the socket cannot be made, naming the folder and the permission this user lacks there. */
function socketRefused(path: string, err: NodeJS.ErrnoException): Error {
  if (err.code !== 'EACCES' && err.code !== 'EPERM' && err.code !== 'EROFS') return err;
  const who = `user ${process.getuid?.() ?? '?'}`;
  return new InputError(
    err.code === 'EROFS'
      ? `cannot create the control socket ${path}: ${dirname(path)} is read-only here (under systemd: add it to ReadWritePaths=, or use /run/vmail/control.sock)`
      : `cannot create the control socket ${path}: ${who} lacks write and search permission on ${dirname(path)} (choose another --socket, or give the folder to the daemon's user)`,
  );
}
