// Issue 28 item 1: certificates by ACME. A real pebble (Let's Encrypt's test server, Debian's
// package) issues 30-second certificates, its HTTP-01 checks sent to the daemon's --http port,
// its DNS a dnsmasq on loopback that names the daemon's host 127.0.0.1. A daemon started with
// --acme and no certificate serves POP3S once pebble has issued one (a Python TLS client checks
// it against pebble's root and the host name); the renewal at a third of the lifetime swaps it
// while a POP3S session opened before goes on; pebble gone leaves the last certificate serving
// and the failure logged. Then what an attacker can do: challenge paths that are not a live
// token, a symlink planted for the account key, a kill -9 mid-order and a torn file.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, freePort, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { type DnsServer, dns, startDns } from '../helpers/dns-server.js';

const HOST = 'mail.acme-vmail.test';
const EMAIL = 'admin@example.test';
let dir: string;
let httpPort: number;
let dnsPort: number;
let pebble: { proc: ChildProcess; out: () => string; dirUrl: string; mgmt: number; ca: string };
let dnsServer: DnsServer;
let d: DaemonHandle;
const spawned: ChildProcess[] = [];

/** A CA of our own and the certificate pebble's API presents (pebble's -config asks for one). */
function makeApiCertificate(at: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => join(at, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=vmail test ACME API CA',
  );
  ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('api.key'));
  ssl('req', '-new', '-key', f('api.key'), '-out', f('api.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f('api.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('api.pem'),
    '-days',
    '2',
    '-extfile',
    f('ext'),
  );
  return { ca: f('ca.pem'), cert: f('api.pem'), key: f('api.key') };
}

function track(proc: ChildProcess): () => string {
  spawned.push(proc);
  let out = '';
  proc.stdout?.on('data', (c) => (out += c));
  proc.stderr?.on('data', (c) => (out += c));
  return () => out;
}

async function startPebble(): Promise<typeof pebble> {
  const at = join(dir, `pebble-${Date.now()}`);
  mkdirSync(at);
  const api = makeApiCertificate(at);
  const listen = await freePort();
  const mgmt = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${listen}`,
      managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: api.cert,
      privateKey: api.key,
      httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      certificateValidityPeriod: 30,
    },
  };
  writeFileSync(join(at, 'config.json'), JSON.stringify(config));
  const proc = spawn('pebble', ['-config', join(at, 'config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = track(proc);
  await waitFor(() => out().includes('Listening on'), `pebble to listen:\n${out()}`, 15_000);
  return { proc, out, dirUrl: `https://127.0.0.1:${listen}/dir`, mgmt, ca: api.ca };
}

/** Pebble's root now (each pebble makes its own at start), from its management port. */
async function pebbleRoot(): Promise<string> {
  const path = join(dir, `root-${Date.now()}.pem`);
  execFileSync('curl', ['-sf', '--cacert', pebble.ca, '-o', path, `https://127.0.0.1:${pebble.mgmt}/roots/0`]);
  return path;
}

/** The certificate POP3S presents now (openssl s_client), or null when it does not handshake. */
function served(port: number): X509Certificate | null {
  let text: string;
  try {
    text = execFileSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', HOST], {
      input: '',
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: 10_000,
    });
  } catch {
    return null;
  }
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  return pem ? new X509Certificate(pem) : null;
}

const portOf = (h: DaemonHandle, name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(h.output())?.[1]);

/** A POP3S session by Python's ssl (chain checked against `root`, name against HOST), kept open. */
function pythonSession(port: number, root: string) {
  const script = `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[2]))), server_hostname=sys.argv[1])
f = s.makefile('rwb')
def say(line):
    sys.stdout.write(line + '\\n'); sys.stdout.flush()
c = s.getpeercert()
say('serial=' + c['serialNumber'] + ' issuer=' + dict(x[0] for x in c['issuer'])['commonName'])
say(f.readline().decode().strip())
for line in sys.stdin:
    f.write(line.strip().encode() + b'\\r\\n'); f.flush()
    say(f.readline().decode().strip())
`;
  const proc = spawn('python3', ['-c', script, HOST, String(port), root], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = track(proc);
  const lines = () => out().split('\n').filter(Boolean);
  return {
    proc,
    lines,
    async cmd(line: string): Promise<string> {
      const before = lines().length;
      proc.stdin!.write(`${line}\n`);
      return waitFor(() => lines()[before], `answer to ${line}:\n${out()}`, 10_000);
    },
  };
}

function acmeDaemon(dataDir?: string): Promise<DaemonHandle> {
  return startDaemon({
    dataDir,
    args: [
      '--hostname',
      HOST,
      '--http',
      `127.0.0.1:${httpPort}`,
      '--pop3s',
      '127.0.0.1:0',
      '--submissions',
      '127.0.0.1:0',
      '--acme',
      pebble.dirUrl,
      '--acme-email',
      EMAIL,
      '--acme-ca-file',
      pebble.ca,
      '--auth-failure-delay',
      '1ms',
    ],
  });
}

beforeAll(async () => {
  dir = tempDir('vmail-acme-');
  httpPort = await freePort();
  // The host name answered by the test DNS server (test/helpers/dns-server.ts), for pebble's checks.
  dnsServer = await startDns([dns.a(HOST, '127.0.0.1')]);
  dnsPort = dnsServer.port;
  pebble = await startPebble();
  d = await acmeDaemon();
  const add = await d.cli(['accounts', 'add', 'sales', '--password-stdin'], 'password-1\n');
  expect(add.code, add.stderr).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await dnsServer?.stop();
  for (const p of spawned) if (p.exitCode === null) p.kill('SIGTERM');
});

let sessionSerial = '';
let session: ReturnType<typeof pythonSession>;

describe('a daemon started with --acme and no certificate', () => {
  it('serves POP3S within a minute with a certificate pebble issued for its host name', async () => {
    const pop3s = portOf(d, 'pop3s');
    // It started without one: ready first, the certificate after (pebble is quick: no race on a handshake).
    await waitFor(() => d.output().includes('acme certificate installed'), 'the first certificate', 60_000);
    expect(d.output().indexOf('daemon ready')).toBeLessThan(d.output().indexOf('acme certificate installed'));
    const cert = await waitFor(() => served(pop3s), `a certificate on POP3S:\n${d.output()}`, 60_000);
    expect(cert.issuer).toMatch(/Pebble Intermediate CA/);
    expect(cert.subjectAltName).toContain(`DNS:${HOST}`);
    // A real client: Python's ssl checks the chain against pebble's root and the name.
    session = pythonSession(pop3s, await pebbleRoot());
    const [who, greeting] = await waitFor(
      () => (session.lines().length >= 2 ? session.lines() : null),
      'session',
      10_000,
    );
    expect(who).toMatch(/issuer=Pebble Intermediate CA/);
    expect(greeting).toMatch(/^\+OK/);
    sessionSerial = /serial=(\w+)/.exec(who!)![1]!;
    expect(await session.cmd('USER sales@example.test')).toMatch(/^\+OK/);
    expect(await session.cmd('PASS password-1')).toMatch(/^\+OK/);
    // The files: 0600, in DATA_DIR/acme.
    for (const f of ['account.key', 'certificate.pem'])
      expect(statSync(join(d.dataDir, 'acme', f)).mode & 0o777).toBe(0o600);
    // STARTTLS on SMTP is on now too.
    const ehlo = execFileSync(
      'python3',
      [
        '-c',
        `import smtplib; s=smtplib.SMTP('127.0.0.1', ${d.smtpPort}); s.ehlo(); print(s.has_extn('starttls')); s.quit()`,
      ],
      { encoding: 'utf8' },
    );
    expect(ehlo.trim()).toBe('True');
  }, 90_000);

  it('renews at a third of the lifetime left: new handshakes get the new one, the session opened before goes on', async () => {
    const pop3s = portOf(d, 'pop3s');
    const renewed = await waitFor(
      () => {
        const c = served(pop3s);
        return c && c.serialNumber.toLowerCase() !== sessionSerial.toLowerCase() ? c : null;
      },
      `a renewed certificate:\n${d.output()}`,
      60_000,
    );
    expect(renewed.issuer).toMatch(/Pebble Intermediate CA/);
    expect(await session.cmd('STAT')).toMatch(/^\+OK 0 0/);
    expect(await session.cmd('NOOP')).toMatch(/^\+OK/);
    expect(await session.cmd('QUIT')).toMatch(/^\+OK/);
    // Implicit-TLS submission presents the renewed one as well.
    expect(served(portOf(d, 'submissions'))?.issuer).toMatch(/Pebble Intermediate CA/);
  }, 90_000);
});

describe('the HTTP-01 route', () => {
  const get = (path: string) =>
    execFileSync(
      'curl',
      ['-s', '--path-as-is', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${httpPort}${path}`],
      {
        encoding: 'utf8',
      },
    );
  it('answers 404 to a path with .., a token not of the live order, a huge token and no token; reads nothing from disk', () => {
    // A file named like the token, in the data dir's acme folder and beside it: never served.
    const token = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    writeFileSync(join(d.dataDir, 'acme', token), 'secret');
    writeFileSync(join(d.dataDir, token), 'secret');
    for (const path of [
      `/.well-known/acme-challenge/${token}`,
      '/.well-known/acme-challenge/../../../../etc/passwd',
      '/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd',
      `/.well-known/acme-challenge/${'A'.repeat(4000)}`,
      '/.well-known/acme-challenge/',
      '/.well-known/acme-challenge',
      '/.well-known/acme-challenge/account.key',
      '/.well-known/acme-challenge/certificate.pem',
    ]) {
      const answer = get(path);
      expect(answer, path).toMatch(/\n404$/);
      expect(answer, path).not.toMatch(/secret|root:|PRIVATE/);
    }
  });
});

describe('pebble refusing', () => {
  it('leaves the certificate in use serving and logs the failure', async () => {
    pebble.proc.kill('SIGTERM');
    await waitFor(() => pebble.proc.exitCode !== null || pebble.proc.signalCode !== null, 'pebble to stop');
    const before = d.output().length;
    const failed = await waitFor(
      () => /acme order failed.*problem=.*serving="?serial/.exec(d.output().slice(before))?.[0],
      `a failed renewal logged:\n${d.output().slice(before)}`,
      60_000,
    );
    expect(failed).toMatch(/retry_in_s=\d+/);
    const installed = [...d.output().matchAll(/acme certificate installed.*serial=(\w+)/g)].map((m) => m[1]!);
    const cert = served(portOf(d, 'pop3s'));
    expect(cert?.serialNumber.toLowerCase()).toBe(installed.at(-1)!.toLowerCase());
  }, 90_000);
});

describe('an attacker on the data dir', () => {
  it('a symlink planted for the account key is not followed, and a kill -9 mid-order leaves no torn certificate served', async () => {
    await d.stop();
    pebble = await startPebble();
    const data = tempDir('vmail-acme-b-');
    mkdirSync(join(data, 'acme'), { mode: 0o700 });
    const target = join(dir, 'not-a-key');
    writeFileSync(target, 'precious\n');
    symlinkSync(target, join(data, 'acme', 'account.key'));
    // A write a crash cut short, and a torn certificate file (as a bad copy would leave one).
    writeFileSync(join(data, 'acme', '.certificate.pem.999.1.tmp'), '-----BEGIN PRIVATE KEY-----\nMIIE');
    let b = await acmeDaemon(data);
    await waitFor(() => b.output().includes('acme order'), 'the order to start');
    await b.kill9();
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    writeFileSync(join(data, 'acme', 'certificate.pem'), '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n');
    b = await acmeDaemon(data);
    expect(b.output()).toMatch(/acme certificate kept is not used/);
    const pop3s = portOf(b, 'pop3s');
    const cert = await waitFor(() => served(pop3s), `a certificate after the restart:\n${b.output()}`, 60_000);
    expect(cert.issuer).toMatch(/Pebble Intermediate CA/);
    // The key file is a file of its own now; the symlink's target is untouched; no temp is left.
    expect(lstatSync(join(data, 'acme', 'account.key')).isFile()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(readdirSync(join(data, 'acme')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(data, 'acme', 'certificate.pem'))).toBe(true);
    await b.stop();
  }, 120_000);
});
