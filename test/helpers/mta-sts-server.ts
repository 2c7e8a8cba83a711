// What MTA-STS tests need: a test CA (openssl) whose certificates the daemon trusts through
// NODE_EXTRA_CA_CERTS, and an HTTPS server (node:https) on a loopback address's port 443
// serving each domain's policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, by Host.
// The test's DNS server points mta-sts.DOMAIN at that address.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './process.js';

const openssl = (args: string[]) => promisify(execFile)('openssl', args);

export interface TestCa {
  /** The CA's certificate (PEM file): NODE_EXTRA_CA_CERTS for the daemon. */
  cert: string;
  /** A certificate for `names` (DNS names), signed by the CA, valid a day: PEM files. */
  issue(names: string[]): Promise<{ cert: string; key: string }>;
}

export async function testCa(): Promise<TestCa> {
  const dir = tempDir('test-ca-');
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca-key.pem');
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'].concat([
      '-subj',
      '/CN=vmail test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]),
  );
  let n = 0;
  return {
    cert,
    issue: async (names) => {
      const leaf = join(dir, `leaf-${++n}`);
      await openssl([
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${leaf}-key.pem`,
        '-out',
        `${leaf}.pem`,
        '-days',
        '1',
        '-subj',
        `/CN=${names[0]}`,
        '-CA',
        cert,
        '-CAkey',
        key,
        '-addext',
        `subjectAltName=${names.map((d) => `DNS:${d}`).join(',')}`,
        '-addext',
        'basicConstraints=CA:FALSE',
      ]);
      return { cert: `${leaf}.pem`, key: `${leaf}-key.pem` };
    },
  };
}

/** What the server answers for one host: a policy text, or a status/redirect/size to test with. */
export type PolicyAnswer = string | { status: number; location?: string; body?: string } | { bytes: number };

export interface PolicyServer {
  address: string;
  /** Answers by Host (`mta-sts.DOMAIN`); a host not set gets 404. */
  answers: Map<string, PolicyAnswer>;
  /** Requests it has had, by Host. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts the HTTPS server on `address`:443 with `cert` (made by `ca.issue` for the mta-sts names). */
export async function startPolicyServer(address: string, cert: { cert: string; key: string }): Promise<PolicyServer> {
  const answers = new Map<string, PolicyAnswer>();
  const requests: string[] = [];
  const server: Server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    requests.push(host);
    const a = req.url === '/.well-known/mta-sts.txt' ? answers.get(host) : undefined;
    if (a === undefined) return res.writeHead(404).end('not here\n');
    if (typeof a === 'string') return res.writeHead(200, { 'content-type': 'text/plain' }).end(a);
    if ('bytes' in a) {
      // A policy that never stops growing: the client must give up at its bound.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = Buffer.from(`mx: ${'x'.repeat(1000)}.example\n`);
      let sent = 0;
      const more = () => {
        while (sent < a.bytes) {
          sent += line.length;
          if (!res.write(line)) return res.once('drain', more);
        }
        res.end();
      };
      res.write('version: STSv1\nmode: enforce\nmax_age: 86400\n');
      return more();
    }
    res.writeHead(a.status, a.location ? { location: a.location } : {}).end(a.body ?? '');
  });
  server.on('clientError', () => {
    // A client that gives up mid-answer (the bound under test): nothing to do.
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(443, address, () => resolve());
  });
  return {
    address,
    answers,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
