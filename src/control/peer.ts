// Who is on the other end of a control connection, as the kernel recorded it when the client
// connected (SO_PEERCRED, read by the small addon in native/peercred, built at install). What a
// client says about itself is never asked: it cannot claim to be someone else.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../support/package-root.js';

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  /** The user name of uid, or "uid N" when it has none. */
  user: string;
}

interface Addon {
  peer(fd: number): { pid: number; uid: number; gid: number; user: string | null };
}

let addon: Addon | null = null;

function load(): Addon {
  if (addon) return addon;
  const file = join(PACKAGE_ROOT, 'native/peercred/build/Release/peercred.node');
  try {
    addon = createRequire(import.meta.url)(file) as Addon;
  } catch (err) {
    throw new Error(
      `cannot load ${file} (${(err as Error).message.split('\n')[0]}): build it with npm run install (needs make and g++)`,
    );
  }
  return addon;
}

/** Fails at start rather than at the first connection when the addon was not built. */
export function checkPeerSupport(): void {
  load();
}

/** The process that opened `socket`, a connection accepted on a Unix socket. */
export function peerOf(socket: Socket): Peer {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the control connection has no file descriptor');
  const p = load().peer(fd);
  return { ...p, user: p.user ?? `uid ${p.uid}` };
}
