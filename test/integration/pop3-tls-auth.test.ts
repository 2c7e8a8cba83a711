// Logins only over TLS (issue 24 item 6, --require-tls-auth): with a certificate and the
// setting unset, a client that is not this host (127.0.0.2 stands for one: only 127.0.0.1 and
// ::1 are exempt) gets Dovecot's answer to USER, PASS and AUTH until it has done STLS, and CAPA
// offers STLS but no login; 127.0.0.1 logs in in clear. `yes` holds for 127.0.0.1 too, `no`
// for nobody. A real daemon, raw POP3 over real sockets, TLS by Node's client.
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { RawPop3 } from '../helpers/pop3.js';

const REFUSED = '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.';
const REMOTE = '127.0.0.2';
const PLAIN = Buffer.from('\0sales\0password-1').toString('base64');

let cert: string;
let key: string;

beforeAll(async () => {
  ({ cert, key } = await selfSignedCert());
}, 30_000);

async function daemon(args: string[]): Promise<DaemonHandle> {
  const d = await startDaemon({ args: ['--auth-failure-delay', '1ms', ...args] });
  const add = await d.cli(['accounts', 'add', 'sales', '--password-stdin'], 'password-1\n');
  expect(add.code, add.stderr).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  return d;
}

async function capa(c: RawPop3): Promise<string[]> {
  const { first, body } = await c.multi('CAPA');
  expect(first).toMatch(/^\+OK/);
  return body.toString('latin1').split('\r\n');
}

/** USER/PASS in clear from `from`: logged in (STAT answers) or the refusal. */
async function clearLogin(d: DaemonHandle, from: string): Promise<string[]> {
  const c = await RawPop3.open(d.pop3Port, true, from);
  const replies = [await c.cmd('USER sales'), await c.cmd('PASS password-1'), await c.cmd('STAT')];
  c.close();
  return replies;
}

describe('a certificate and --require-tls-auth unset', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await daemon(['--tls-cert', cert, '--tls-key', key, '--pop3s', '127.0.0.1:0']);
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('from another address: USER, PASS and AUTH PLAIN are refused in clear, CAPA offers STLS and no login; after STLS the login works', async () => {
    const c = await RawPop3.open(d.pop3Port, true, REMOTE);
    const before = await capa(c);
    expect(before).toContain('STLS');
    expect(before).not.toContain('USER');
    expect(before.filter((l) => l.startsWith('SASL'))).toEqual([]);
    expect(await c.cmd('USER sales')).toBe(REFUSED);
    expect(await c.cmd('PASS password-1')).toBe(REFUSED);
    expect(await c.cmd(`AUTH PLAIN ${PLAIN}`)).toBe(REFUSED);
    // AUTH PLAIN without its response: refused at once, so the next line is a command again.
    expect(await c.cmd('AUTH PLAIN')).toBe(REFUSED);
    expect(await c.cmd('STAT')).toBe('-ERR Not logged in.');
    await c.startTls();
    const after = await capa(c);
    expect(after).toContain('USER');
    expect(after).toContain('SASL PLAIN');
    expect(after).not.toContain('STLS');
    await c.login('sales', 'password-1');
    expect(await c.cmd('STAT')).toBe('+OK 0 0');
    await c.quit();
    expect(d.output()).toMatch(/pop3 login refused rip=127\.0\.0\.2 why="no TLS"/);
  });

  it('from 127.0.0.1 the login in clear works, as it did', async () => {
    expect(await clearLogin(d, '127.0.0.1')).toEqual(['+OK', '+OK Logged in.', '+OK 0 0']);
    const c = await RawPop3.open(d.pop3Port, true, '127.0.0.1');
    expect(await capa(c)).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN', 'STLS']));
    c.close();
  });

  it('a pipelined login in clear is refused line by line; POP3S from another address logs in', async () => {
    const c = await RawPop3.open(d.pop3Port, true, REMOTE);
    c.write('USER sales\r\nPASS password-1\r\nSTAT\r\n');
    expect([await c.line(), await c.line(), await c.line()]).toEqual([REFUSED, REFUSED, '-ERR Not logged in.']);
    c.close();
    const port = JSON.parse((await d.cli(['status', '--json'])).stdout).pop3s.port as number;
    const raw = connect({ host: '127.0.0.1', port, localAddress: REMOTE });
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false });
    let got = '';
    s.on('data', (b) => (got += b));
    const until = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(got); i++) await new Promise((r) => setTimeout(r, 50));
      return got;
    };
    await until(/\r\n/);
    s.write('USER sales\r\nPASS password-1\r\nSTAT\r\n');
    expect(await until(/\+OK 0 0\r\n/)).toMatch(/\+OK Logged in\.\r\n\+OK 0 0\r\n/);
    s.destroy();
  });
});

describe('--require-tls-auth yes, no, and no certificate', () => {
  it('yes: 127.0.0.1 is refused in clear too', async () => {
    const d = await daemon(['--tls-cert', cert, '--tls-key', key, '--require-tls-auth', 'yes']);
    expect(await clearLogin(d, '127.0.0.1')).toEqual([REFUSED, REFUSED, '-ERR Not logged in.']);
    await d.stop();
  });

  it('no: another address logs in in clear although a certificate is set', async () => {
    const d = await daemon(['--tls-cert', cert, '--tls-key', key, '--require-tls-auth', 'no']);
    expect(await clearLogin(d, REMOTE)).toEqual(['+OK', '+OK Logged in.', '+OK 0 0']);
    await d.stop();
  });

  it('SIGHUP applies a new require-tls-auth from the settings file', async () => {
    const dir = tempDir();
    const conf = join(dir, 'vmail.conf');
    const write = (v: string) =>
      writeFileSync(conf, `tls-cert = "${cert}"\ntls-key = "${key}"\nrequire-tls-auth = "${v}"\n`);
    write('no');
    const d = await startDaemon({ dataDir: dir, args: ['--config', conf, '--auth-failure-delay', '1ms'] });
    await d.cli(['accounts', 'add', 'sales', '--password-stdin'], 'password-1\n');
    await d.cli(['pending', 'apply']);
    expect(await clearLogin(d, REMOTE)).toEqual(['+OK', '+OK Logged in.', '+OK 0 0']);
    write('yes');
    d.proc.kill('SIGHUP');
    await waitFor(() => /daemon reloaded changed=require-tls-auth/.test(d.output()), 'the reload');
    expect(await clearLogin(d, REMOTE)).toEqual([REFUSED, REFUSED, '-ERR Not logged in.']);
    await d.stop();
  });

  it('no certificate: logins in clear work (there is no TLS to require); yes without one, or a bad value, is a config error', async () => {
    const d = await daemon([]);
    expect(await clearLogin(d, REMOTE)).toEqual(['+OK', '+OK Logged in.', '+OK 0 0']);
    await d.stop();
    for (const [args, message] of [
      [['--require-tls-auth', 'yes'], /--require-tls-auth yes needs tls-cert and tls-key/],
      [['--require-tls-auth', 'maybe'], /--require-tls-auth "maybe": yes or no/],
    ] as const) {
      const r = await startDaemon({ args: [...args] }).then(
        () => null,
        (err: Error) => err.message,
      );
      expect(r).toMatch(message);
      expect(r).toMatch(/exited with 78/);
    }
  });
});
