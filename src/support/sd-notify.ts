// systemd's readiness protocol (sd_notify(3)): one datagram of KEY=VALUE lines to the Unix socket
// named by $NOTIFY_SOCKET. The unit says Type=notify, so systemd counts the service started only
// at READY=1 (every listener up), shows STATUS= in `systemctl status`, and hears STOPPING=1 and
// RELOADING=1. The socket is connected once, at start, before the daemon gives up root: a
// connected datagram socket keeps its right to send. Without $NOTIFY_SOCKET nothing is sent;
// a socket that cannot be reached is logged once and the daemon runs on (readiness is systemd's
// business, mail is ours).
import unixDgram from 'unix-dgram';

/** The longest path a sockaddr_un holds (108 bytes, one for the terminating NUL). */
const MAX_PATH = 107;

interface DgramSocket {
  on(event: 'error', listener: (err: Error & { code?: number }) => void): void;
  connect(path: string): void;
  send(buf: Buffer, callback: (err?: Error) => void): void;
  close(): void;
}

export interface Notifier {
  /** Sends these KEY=VALUE lines (a no-op without a socket). */
  send(fields: Record<string, string | number>): void;
  close(): void;
}

type Warn = (msg: string, fields: Record<string, string>) => void;

const silent: Notifier = { send: () => {}, close: () => {} };

/** The notifier for `socketPath` ($NOTIFY_SOCKET), or one that sends nothing. */
export function systemdNotifier(socketPath: string | undefined, warn: Warn): Notifier {
  if (!socketPath) return silent;
  const refuse = (why: string) => {
    warn('systemd notify socket unusable', { socket: socketPath.slice(0, 200), why, kept: 'running, unnotified' });
    return silent;
  };
  if (socketPath.startsWith('@'))
    return refuse(
      'an abstract socket (@...) cannot be reached by unix-dgram; systemd gives a path (/run/systemd/notify)',
    );
  if (!socketPath.startsWith('/')) return refuse('not an absolute path');
  if (Buffer.byteLength(socketPath) > MAX_PATH) return refuse(`longer than ${MAX_PATH} bytes`);
  let sock: DgramSocket;
  try {
    sock = unixDgram.createSocket('unix_dgram') as DgramSocket;
  } catch (err) {
    return refuse(`no datagram socket: ${(err as Error).message}`);
  }
  let broken: string | null = null;
  // Connect and send report by this event (synchronously); one line says why, then silence.
  sock.on('error', (err) => {
    if (broken) return;
    broken = errnoName(err);
    refuse(broken);
  });
  sock.connect(socketPath);
  if (broken) {
    closeQuietly(sock);
    return silent;
  }
  return {
    send(fields) {
      if (broken) return;
      const text = Object.entries(fields)
        .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
        .join('\n');
      sock.send(Buffer.from(`${text}\n`), (err) => {
        if (!err || broken) return;
        broken = errnoName(err);
        refuse(broken);
      });
    },
    close: () => closeQuietly(sock),
  };
}

function closeQuietly(sock: DgramSocket): void {
  try {
    sock.close();
  } catch {
    // Closing a socket systemd never heard from changes nothing: the daemon is stopping anyway.
  }
}

/** unix-dgram's errors carry a negative errno; say it as the C name where it is a common one. */
function errnoName(err: Error & { code?: number | string }): string {
  const names: Record<number, string> = {
    [-2]: 'ENOENT (no such socket)',
    [-13]: 'EACCES (permission denied)',
    [-20]: 'ENOTDIR',
    [-91]: 'EPROTOTYPE (not a datagram socket)',
    [-111]: 'ECONNREFUSED (not a socket, or nobody listening)',
  };
  return typeof err.code === 'number' ? (names[err.code] ?? `errno ${err.code}`) : err.message;
}

/** CLOCK_MONOTONIC in microseconds, as RELOADING=1 carries it for systemd >= 253. */
export function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
