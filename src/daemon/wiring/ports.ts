// The daemon's doors: its TCP ports, bound first (they may need root, which the daemon gives
// up right after), and the TLS certificate they present, read at start and on each reload.
// Connections wait, paused, until the daemon is ready and serve() hands them on.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type Config, ConfigError, type Listen } from '../../service/settings.js';
import { Listener } from '../listeners.js';
import { type Started, Stops } from './stops.js';

export interface Ports extends Started {
  /** The port numbers bound (a port 0 in the settings is the one the system chose). */
  numbers: PortNumbers;
  /** Serves every connection, those waiting first; its stop closes the ports. */
  serve(handlers: {
    pop3(socket: Socket, implicitTls?: boolean): void;
    smtp(socket: Socket): void;
    submission(socket: Socket, implicitTls?: boolean): void;
    http(socket: Socket): void;
    https(socket: Socket): void;
    metrics(socket: Socket): void;
  }): Started;
}

/** The ports bound; null for a listener that is off. */
export interface PortNumbers {
  pop3: number;
  pop3s: number | null;
  smtp: number;
  submission: number | null;
  submissions: number | null;
  http: number | null;
  https: number | null;
  metrics: number | null;
}

/** Binds the POP3, POP3S (when set), SMTP, submission, HTTP and metrics (when on) ports. */
export async function bindPorts(config: Config): Promise<Ports> {
  const stops = new Stops();
  const bind = async (at: Listen, what: string) => {
    const listener = await Listener.bind(at, what);
    stops.add({ stop: () => listener.close() });
    return listener;
  };
  try {
    const pop3 = await bind(config.pop3, 'POP3');
    const pop3s = config.pop3s ? await bind(config.pop3s, 'POP3S') : null;
    const smtp = await bind(config.smtp, 'SMTP');
    const submission = config.submission ? await bind(config.submission, 'submission') : null;
    const submissions = config.submissions ? await bind(config.submissions, 'submissions') : null;
    const http = config.http ? await bind(config.http, 'HTTP') : null;
    const https = config.https ? await bind(config.https, 'HTTPS') : null;
    const metrics = config.metrics ? await bind(config.metrics, 'metrics') : null;
    return {
      numbers: {
        pop3: pop3.port,
        pop3s: pop3s?.port ?? null,
        smtp: smtp.port,
        submission: submission?.port ?? null,
        submissions: submissions?.port ?? null,
        http: http?.port ?? null,
        https: https?.port ?? null,
        metrics: metrics?.port ?? null,
      },
      serve: (handlers) => {
        pop3.serve((socket) => handlers.pop3(socket));
        pop3s?.serve((socket) => handlers.pop3(socket, true));
        smtp.serve((socket) => handlers.smtp(socket));
        http?.serve((socket) => handlers.http(socket));
        https?.serve((socket) => handlers.https(socket));
        submission?.serve((socket) => handlers.submission(socket));
        submissions?.serve((socket) => handlers.submission(socket, true));
        metrics?.serve((socket) => handlers.metrics(socket));
        // A stop closes the ports before anything else: nothing new arrives while it finishes.
        return {
          stop: () => {
            pop3.close();
            pop3s?.close();
            smtp.close();
            http?.close();
            https?.close();
            submission?.close();
            submissions?.close();
            metrics?.close();
          },
        };
      },
      stop: () => stops.stopAll(),
    };
  } catch (err) {
    await stops.stopAll();
    throw err;
  }
}

/** The certificate and key, read now; a bad path is a configuration error. */
export function readTls(config: Config): { cert: Buffer; key: Buffer } | null {
  if (!config.tlsCert || !config.tlsKey) return null;
  try {
    return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  } catch (err) {
    const as = config.user ? ` as user ${config.user}` : '';
    throw new ConfigError(
      `cannot read the TLS certificate or key${as}: ${(err as Error).message} (make both readable to the daemon's user, e.g. a certbot deploy hook that copies them to /etc/vmail)`,
    );
  }
}
