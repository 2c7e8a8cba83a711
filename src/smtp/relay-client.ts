// The client of the --relay that forwarded mail leaves through: the nodemailer transport built
// from the relay's URL and the CA file of a private relay. The queue that uses it is
// forward-queue.ts.
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import { ConfigError } from '../service/settings.js';

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
): Transporter {
  const url = new URL(relay);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  const login = user !== '' || url.password !== '';
  const verify = secure || login;
  return nodemailer.createTransport({
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
  });
}
