// The relay's credentials and certificate: a real smarthost (smtp-server, as Postfix
// submission would be) that wants STARTTLS and AUTH, and one on implicit TLS, each with a
// certificate of a CA made here with openssl; the real daemon forwards through them.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { smtpSend } from '../helpers/effects.js';

interface Got {
  user: string | undefined;
  to: string[];
  data: string;
  tls: boolean;
}

let dir: string;
let caFile: string;
let otherCa: string;
let key: Buffer;
let cert: Buffer;

/** A CA, and a certificate for 127.0.0.1 it signs; and a second CA that signs nothing here. */
beforeAll(() => {
  dir = tempDir();
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  for (const ca of ['ca', 'other'])
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${ca} test CA`,
    );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'relay.key', '-out', 'relay.csr', '-subj', '/CN=127.0.0.1');
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > ext'], { cwd: dir });
  ssl(
    'x509',
    '-req',
    '-in',
    'relay.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'relay.pem',
    '-days',
    '2',
    '-extfile',
    'ext',
  );
  caFile = join(dir, 'ca.pem');
  otherCa = join(dir, 'other.pem');
  key = execFileSync('cat', [join(dir, 'relay.key')]);
  cert = execFileSync('cat', [join(dir, 'relay.pem')]);
});

const relays: SMTPServer[] = [];
afterAll(async () => {
  for (const r of relays) await new Promise<void>((res) => r.close(() => res()));
});

/** A relay that wants AUTH as relayuser / relay-secret (`secure`: implicit TLS, else STARTTLS). */
async function relay(secure: boolean): Promise<{ port: number; got: Got[]; refusedLogins: number }> {
  const state = { port: 0, got: [] as Got[], refusedLogins: 0 };
  const server = new SMTPServer({
    secure,
    key,
    cert,
    logger: false,
    disableReverseLookup: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth: (auth, _session, cb) => {
      if (auth.username === 'relayuser' && auth.password === 'relay-secret') return cb(null, { user: auth.username });
      state.refusedLogins++;
      const err = new Error('5.7.8 Authentication credentials invalid') as Error & { responseCode: number };
      err.responseCode = 535;
      cb(err);
    },
    onData: (stream, session, cb) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.got.push({
          user: session.user as string | undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString(),
          tls: session.secure,
        });
        cb();
      });
    },
  });
  // A client that refuses the certificate hangs up in the TLS handshake: the relay reports
  // that as an error, which is what those tests make happen.
  server.on('error', () => {});
  relays.push(server);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  state.port = (server.server.address() as { port: number }).port;
  return state;
}

async function forwarder(relayUrl: string, extra: string[] = [], dataDir?: string): Promise<DaemonHandle> {
  const d = await startDaemon({ dataDir, args: ['--relay', relayUrl, ...extra] });
  if (!dataDir) {
    expect((await d.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
  }
  return d;
}

const queued = async (d: DaemonHandle) =>
  JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as { attempts: number; lastError?: string }[];

describe('the relay: its login and its certificate', () => {
  it('smtp://USER:PASSWORD@ logs in (after STARTTLS, the certificate checked against --relay-ca-file), and the relay takes the copy', async () => {
    const r = await relay(false);
    const d = await forwarder(`smtp://relayuser:relay-secret@127.0.0.1:${r.port}`, ['--relay-ca-file', caFile]);
    expect((await smtpSend(d.smtpPort, 'out@example.test', 'with-login')).accepted).toBe(true);
    const got = await waitFor(() => r.got.find((m) => m.data.includes('Subject: with-login')), 'the copy at the relay');
    expect(got).toMatchObject({ user: 'relayuser', to: ['someone@remote.example'], tls: true });
    // Status and the log never show the password.
    expect((await d.cli(['status', '--json'])).stdout).not.toContain('relay-secret');
    expect(d.output()).not.toContain('relay-secret');
    await d.stop();
  });

  it('a wrong password is refused by the relay: the copy waits in the queue (deferred, not bounced) until the setting is right', async () => {
    const r = await relay(false);
    const wrong = await forwarder(`smtp://relayuser:wrong@127.0.0.1:${r.port}`, ['--relay-ca-file', caFile]);
    expect((await smtpSend(wrong.smtpPort, 'out@example.test', 'wrong-login')).accepted).toBe(true);
    await waitFor(async () => (await queued(wrong))[0]?.attempts === 1, 'one attempt');
    expect(r.refusedLogins).toBeGreaterThan(0);
    expect(r.got).toEqual([]);
    expect(await queued(wrong)).toHaveLength(1);
    await wrong.stop();
    // Started again with the right password: the waiting copy leaves (its next try is a minute away: asked now).
    const right = await forwarder(
      `smtp://relayuser:relay-secret@127.0.0.1:${r.port}`,
      ['--relay-ca-file', caFile],
      wrong.dataDir,
    );
    const [q] = JSON.parse((await right.cli(['queue', 'list', '--json'])).stdout) as { id: string }[];
    await right.cli(['queue', 'retry', q.id]);
    await waitFor(() => r.got.find((m) => m.data.includes('Subject: wrong-login')), 'the copy at the relay', 15_000);
    expect(r.got.filter((m) => m.data.includes('Subject: wrong-login'))).toHaveLength(1);
    await right.stop();
  }, 60_000);

  it('smtps: with a certificate no trusted CA signs is refused (the copy waits); with its CA file given it goes', async () => {
    const r = await relay(true);
    for (const extra of [[], ['--relay-ca-file', otherCa]]) {
      const d = await forwarder(`smtps://relayuser:relay-secret@127.0.0.1:${r.port}`, extra);
      expect((await smtpSend(d.smtpPort, 'out@example.test', 'over-smtps')).accepted).toBe(true);
      await waitFor(async () => (await queued(d))[0]?.attempts === 1, 'one attempt');
      expect(r.got).toEqual([]);
      expect(JSON.stringify(await queued(d))).toMatch(/certificate/i);
      await d.stop();
    }
    // Without credentials, smtps: verifies too.
    const plain = await forwarder(`smtps://127.0.0.1:${r.port}`);
    expect((await smtpSend(plain.smtpPort, 'out@example.test', 'no-login')).accepted).toBe(true);
    await waitFor(async () => (await queued(plain))[0]?.attempts === 1, 'one attempt');
    expect(r.got).toEqual([]);
    await plain.stop();
    const ok = await forwarder(`smtps://relayuser:relay-secret@127.0.0.1:${r.port}`, ['--relay-ca-file', caFile]);
    expect((await smtpSend(ok.smtpPort, 'out@example.test', 'over-smtps-ok')).accepted).toBe(true);
    const got = await waitFor(
      () => r.got.find((m) => m.data.includes('Subject: over-smtps-ok')),
      'the copy at the relay',
    );
    expect(got).toMatchObject({ user: 'relayuser', tls: true });
    await ok.stop();
  }, 90_000);

  it('an unreadable --relay-ca-file stops the start with one line (exit 78)', async () => {
    const d = startDaemon({ args: ['--relay', 'smtps://127.0.0.1:465', '--relay-ca-file', join(dir, 'none.pem')] });
    await expect(d).rejects.toThrow(/exited with 78[\s\S]*--relay-ca-file: cannot read/);
  });
});
