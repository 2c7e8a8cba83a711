// The --http listener's front (src/http/server.ts): the hosted domains it answers for and the
// servers it describes, read from the running daemon at each request (a reload's certificate,
// a domain added an hour ago).

import { HttpFront } from '../../http/server.js';
import { mtaStsPolicy } from '../../model/dns-records.js';
import type { Config } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import type { PortNumbers } from './ports.js';
import type { Started } from './stops.js';

export function startHttp(
  config: Config,
  store: Store,
  ports: Pick<PortNumbers, 'pop3' | 'pop3s' | 'submission' | 'submissions'>,
  challenge: (token: string) => string | null,
  tls: { cert: Buffer; key: Buffer } | null,
  log: Logger,
): Started & { http: HttpFront } {
  const http = new HttpFront({
    hosted: (domain) => (store.domains.has(domain) ? domain : null),
    servers: () => ({
      hostname: config.hostname,
      pop3s: ports.pop3s,
      pop3: { port: ports.pop3, stls: Boolean((config.tlsCert && config.tlsKey) || config.acme) },
      submissions: ports.submissions,
      submission: ports.submission,
    }),
    challenge,
    mtaSts: () => mtaStsPolicy(config.hostname),
    // Read at each connection: a reload changes `config` in place.
    maxPerAddress: () => config.maxConnectionsPerAddress,
    log,
  });
  http.reload(tls);
  return { http, stop: () => http.stop() };
}
