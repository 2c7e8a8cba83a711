// The client of the --relay that forwarded mail leaves through: the nodemailer transport built
// from the relay's URL and the CA file of a private relay. The queue that uses it is
// forward-queue.ts.
import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { ConfigError } from '../service/settings.js';
import { loadNodemailer } from './lazy-libs.js';

/** The relay's transport: nodemailer's, made at the first message (lazy-libs.ts says why). */
export interface RelayTransport {
  sendMail: Transporter['sendMail'];
  close(): void;
}

/** The CA a private relay's certificate is checked against; throws ConfigError when it cannot be read. */
export function readRelayCa(caFile: string): Buffer {
  try {
    return readFileSync(caFile);
  } catch (err) {
    throw new ConfigError(`--relay-ca-file: cannot read ${caFile}: ${(err as Error).message}`);
  }
}

/**
 * The transport to `relay`. `smtps:` and a relay given a password
 * (`smtp://USER:PASSWORD@HOST:PORT`: STARTTLS first, then AUTH) verify the relay's certificate,
 * against `ca` when one is given; plain `smtp:` uses STARTTLS when offered, unverified, as MTAs
 * do between each other.
 */
export function relayTransport(
  relay: string,
  timeoutMs: number,
  ca: Buffer | undefined,
  hostname: string,
): RelayTransport {
  const url = new URL(relay);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  const login = user !== '' || url.password !== '';
  const verify = secure || login;
  const options: SMTPTransport.Options = {
    host: url.hostname,
    port: Number(url.port) || (secure ? 465 : 25),
    secure,
    // A password never goes over a connection that is not TLS to the relay named.
    requireTLS: login && !secure,
    ...(login ? { auth: { user, pass: decodeURIComponent(url.password) } } : {}),
    name: hostname,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    tls: verify ? { rejectUnauthorized: true, ...(ca ? { ca } : {}) } : { rejectUnauthorized: false },
  };
  let made: Promise<Transporter> | null = null;
  return {
    sendMail: ((mail: Parameters<Transporter['sendMail']>[0]) => {
      // A load that failed (EMFILE in a flood, say) is not kept: the next attempt loads again,
      // else the relay would stay broken for every forward until a restart.
      made ??= loadNodemailer()
        .then((n) => n.createTransport(options))
        .catch((err: Error) => {
          made = null;
          throw err;
        });
      return made.then((t) => t.sendMail(mail));
    }) as Transporter['sendMail'],
    close: () => {
      // A transport never made has nothing to close; one that failed to load said so to its sender.
      made?.then((t) => t.close()).catch(() => {});
    },
  };
}
