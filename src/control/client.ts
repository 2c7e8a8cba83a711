// The client end of the control socket, used by the CLI and the console: calls are matched to
// answers by id; notifications arrive as 'notification' events once subscribed.

import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { LineSplitter } from './line-splitter.js';
import {
  type AccountView,
  type ErrorData,
  MAX_LINE,
  type Method,
  type NotificationMethod,
  type Notifications,
  type Params,
  type Results,
} from './protocol.js';

/** Accounts asked for at a time (about 2.5 MB of text, 20 ms of the daemon's time). */
const ACCOUNTS_PAGE = 5000;

/** The daemon refused a request; `data.field` says which input it is about, when it knows. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: ErrorData = {},
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export type NotificationListener = <N extends NotificationMethod>(method: N, params: Notifications[N]) => void;

/** The daemon could not be reached, or went away before it answered. */
export class UnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class ControlClient extends EventEmitter {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
  ) {
    super();
    const splitter = new LineSplitter(
      MAX_LINE * 64,
      (line) => this.handle(line),
      () => socket.destroy(),
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    // A socket error is followed by 'close', which rejects every waiting call as unreachable.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values())
        w.reject(new UnreachableError(`the vmail daemon at ${path} closed the connection`));
      this.waiting.clear();
      this.emit('close');
    });
  }

  static connect(path: string, timeoutMs = 3000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new UnreachableError(`the vmail daemon at ${path} did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new ControlClient(socket, path));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why =
          err.code === 'ENOENT'
            ? 'no socket there'
            : err.code === 'ECONNREFUSED'
              ? 'nothing listens there'
              : err.code === 'EACCES'
                ? 'permission denied'
                : err.message;
        reject(
          new UnreachableError(
            err.code === 'EACCES' || err.code === 'EPERM'
              ? `cannot reach the vmail daemon at ${path} (permission denied): ${accessHint(path)}`
              : `cannot reach the vmail daemon at ${path} (${why}): start it with \`vmail daemon\``,
          ),
        );
      });
    });
  }

  private handle(line: string): void {
    let msg: {
      id?: number;
      result?: unknown;
      error?: { code: number; message: string; data?: ErrorData };
      method?: string;
      params?: unknown;
    };
    try {
      msg = JSON.parse(line);
    } catch {
      // The daemon writes only JSON lines: one that is not (another program on the socket)
      // carries no id to answer a call with, so it is skipped.
      return;
    }
    if (msg.method !== undefined && msg.id === undefined) {
      this.emit('notification', msg.method, msg.params);
      return;
    }
    const w = typeof msg.id === 'number' ? this.waiting.get(msg.id) : undefined;
    if (!w) return;
    this.waiting.delete(msg.id as number);
    if (msg.error) w.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data ?? {}));
    else w.resolve(msg.result);
  }

  /** Subscribes `listener` to the daemon's notifications (after a `subscribe` call). */
  onNotification(listener: NotificationListener): void {
    this.on('notification', listener);
  }

  call<M extends Method>(
    method: M,
    ...args: Partial<Params<M>> extends Params<M> ? [params?: Params<M>] : [params: Params<M>]
  ): Promise<Results[M]> {
    const params = args[0] ?? {};
    if (this.closed)
      return Promise.reject(new UnreachableError(`the connection to the vmail daemon at ${this.path} is closed`));
    const id = this.nextId++;
    return new Promise<Results[M]>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  /**
   * Every account (of `domain`, or all), asked for a page at a time, each page after the last
   * address of the one before: one answer of 100,000 rows would hold the daemon up while it is
   * made (and could pass the longest line a client reads).
   */
  async allAccounts(domain?: string): Promise<AccountView[]> {
    let rows: AccountView[] = [];
    for (;;) {
      const after = rows.at(-1)?.address;
      const page = await this.call('accounts.list', {
        limit: ACCOUNTS_PAGE,
        ...(domain === undefined ? {} : { domain }),
        ...(after === undefined ? {} : { after }),
      });
      rows = rows.concat(page);
      if (page.length < ACCOUNTS_PAGE) return rows;
    }
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

/**
 * How to be let in: the daemon runs, but its socket (or a folder on the way) is for its group.
 * The group is the one that owns the socket, or the nearest folder above it this user can see.
 */
function accessHint(path: string): string {
  let gid: number | null = null;
  for (let p = path; gid === null && p !== dirname(p); p = dirname(p)) {
    try {
      gid = statSync(p).gid;
    } catch {
      // Not to be seen from here (a folder above is closed): the folder above it tells the group.
    }
  }
  let group = gid === null ? 'vmail' : String(gid);
  try {
    if (gid !== null)
      group = execFileSync('getent', ['group', String(gid)], { encoding: 'utf8' }).split(':')[0] || group;
  } catch {
    // A group without a name (a number only) is still a group usermod takes.
  }
  const me = userInfo().username;
  return `its socket is for group ${group}: sudo usermod -aG ${group} ${me}, then log in again (or run vmail as root)`;
}
