// Settings errors that say what to do, as an admin meets them: `vmail config check` (text and
// --json) on files with several mistakes, each named with its line in one run; a near key's
// "did you mean"; an unquoted value shown quoted; a TLS key the daemon's user cannot read
// (a real second user, runuser); VMAIL_CONFIG naming no file. Then the attacker's files: 10 MB,
// binary junk, keys of 10,000 characters: a clear line, no hang. And a user outside group
// vmail at the running daemon's socket: exit 69 with the socket's path and the usermod hint.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, LOOPBACK_LISTENERS, runCli, selfSignedCert, startDaemon, tempDir, VMAIL } from '../helpers/daemon.js';
import { idOf, makeUsers, type Users, vmailAs } from '../helpers/users.js';

const tag = `${process.pid % 100000}`;
const DAEMON_USER = `vmcfg${tag}`;
const OUTSIDER = `vmout${tag}`;
let users: Users;

beforeAll(() => {
  users = makeUsers([DAEMON_USER, OUTSIDER]);
});

afterAll(() => {
  users.remove();
  cleanUp();
});

function file(body: string | Buffer): string {
  const f = join(tempDir('vmail-cfg-'), 'vmail.conf');
  writeFileSync(f, body);
  return f;
}

const check = (f: string, json = false, env: Record<string, string> = {}) =>
  runCli(['config', 'check', '--config', f, ...(json ? ['--json'] : [])], { env });

describe('config check names every problem in one run', () => {
  const body = [
    'domain = "example.com"',
    'aply-interval = "1h"',
    'apply-interval = 30m',
    'max-message-size = "lots"',
    'log-level = "loud"',
    '',
  ].join('\n');

  it('each with its line, in the file order, and exit 78', async () => {
    const f = file(body);
    const r = await check(f);
    expect(r.code).toBe(78);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `vmail: ${f}:2: unknown setting "aply-interval": did you mean apply-interval?`,
      `vmail: ${f}:3: apply-interval = 30m: a value that is not a number is written in quotes: apply-interval = "30m"`,
      `vmail: ${f}:4: max-message-size "lots": write a size like 25M, 512K or 1048576`,
      `vmail: ${f}:5: log-level "loud": one of error, warning, notice, info, debug`,
    ]);
    expect(r.stdout).toBe('');
  });

  it('--json prints them as JSON, and exits 78', async () => {
    const f = file(body);
    const r = await check(f, true);
    expect(r.code).toBe(78);
    const { file: named, problems } = JSON.parse(r.stdout);
    expect(named).toBe(f);
    expect(problems.map((p: { line: number; key: string }) => [p.line, p.key])).toEqual([
      [2, 'aply-interval'],
      [3, 'apply-interval'],
      [4, 'max-message-size'],
      [5, 'log-level'],
    ]);
    expect(problems[1].message).toContain('apply-interval = "30m"');
  });

  it('the daemon refuses the same file with its first problem, 78', async () => {
    const r = await runCli(['daemon', '--config', file(body), '--data-dir', tempDir()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/:2: unknown setting "aply-interval": did you mean apply-interval\?/);
  });

  it('a near key in other forms: an underscore, a letter too many; a far one gets no guess', async () => {
    const f = file('domain = "example.com"\nmax_connections = "10"\nsmtpp = "127.0.0.1:25"\nfrobnicate = "yes"\n');
    const lines = (await check(f)).stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/:2: unknown setting "max_connections": did you mean max-connections\?$/);
    expect(lines[1]).toMatch(/:3: unknown setting "smtpp": did you mean smtp\?$/);
    expect(lines[2]).toMatch(/:4: unknown setting "frobnicate" \(vmail daemon --help lists the settings\)$/);
  });

  it('a good file still prints every setting, and --json has no problems', async () => {
    const f = file('domain = "example.com"\napply-interval = "30m"\n');
    const r = await check(f, true);
    expect(r.code, r.stderr).toBe(0);
    const parsed = JSON.parse(r.stdout);
    expect(parsed.problems).toEqual([]);
    expect(parsed.settings['apply-interval']).toEqual({ value: '30m', source: `${f}:2` });
  });
});

describe('VMAIL_CONFIG naming a file that is not there', () => {
  it('is an error for config check, the daemon and a client command, not the defaults', async () => {
    const env = { VMAIL_CONFIG: join(tempDir(), 'missing.conf') };
    for (const args of [['config', 'check'], ['daemon', '--data-dir', tempDir()], ['status']]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(78);
      expect(r.stderr).toBe(`vmail: VMAIL_CONFIG=${env.VMAIL_CONFIG}: no such file (unset it to use the defaults)\n`);
    }
  });
});

describe("a TLS key the daemon's user cannot read", () => {
  it('is named by config check with its line and what to do; readable, it passes', async () => {
    const { cert, key } = await selfSignedCert();
    chmodSync(key, 0o600);
    chmodSync(join(key, '..'), 0o755);
    const f = file(`domain = "example.com"\nuser = "${DAEMON_USER}"\ntls-cert = "${cert}"\ntls-key = "${key}"\n`);
    const r = await check(f);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(
      new RegExp(`^vmail: ${f}:4: tls-key ${key}: the daemon's user ${DAEMON_USER} cannot read it: .*chgrp`, 'm'),
    );
    // The certificate is world-readable (openssl writes it 0644 under the umask): not named.
    expect(r.stderr).not.toMatch(/tls-cert/);
    // As certbot's deploy hook would: the key to the daemon's group, and the folders passable.
    chownSync(key, 0, idOf(DAEMON_USER, '-g'));
    chmodSync(key, 0o640);
    const ok = await check(f);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('attacker: settings files that are not settings', () => {
  it('10 MB: refused at once, by its size', async () => {
    const f = file(Buffer.alloc(10 * 1024 * 1024, 'a = "b"\n'));
    const r = await check(f);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`vmail: ${f}: 10485760 bytes: a settings file is a few kilobytes; is this the right file?\n`);
  });

  it('binary junk: one line saying so', async () => {
    const junk = Buffer.concat([randomBytes(64 * 1024), Buffer.from([0])]);
    const f = file(junk);
    const r = await check(f);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`vmail: ${f}: binary data, not a TOML settings file\n`);
  });

  it('text junk without NUL bytes: a bounded list of lines, no hang', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `=== ${i} ]]] {{{`);
    const f = file(lines.join('\n'));
    const r = await check(f);
    expect(r.code).toBe(78);
    const out = r.stderr.trimEnd().split('\n');
    expect(out.length).toBeLessThanOrEqual(51);
    expect(out.at(-1)).toMatch(/too many problems: not read further/);
  });

  it('keys of 10,000 characters: named cut short, no guess, no quadratic wait', async () => {
    const keys = Array.from({ length: 90 }, (_, i) => `${'k'.repeat(10_000)}${i} = "x"`);
    const f = file(['domain = "example.com"', ...keys].join('\n'));
    const r = await check(f, true);
    expect(r.code).toBe(78);
    const { problems } = JSON.parse(r.stdout);
    expect(problems).toHaveLength(90);
    for (const p of problems) {
      expect(p.message.length).toBeLessThan(200);
      expect(p.message).not.toMatch(/did you mean/);
    }
    expect(problems[0].line).toBe(2);
  });
});

describe('a user outside group vmail at the running daemon', () => {
  it('gets exit 69 with the socket path and how to get access', async () => {
    const d = await startDaemon();
    // The socket's folder is passable, the socket itself for its owner and group only.
    chmodSync(d.dataDir, 0o755);
    const r = await vmailAs(OUTSIDER, ['status'], d.socket);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(d.socket);
    expect(r.stderr).toMatch(/usermod -aG \S+ \S+.*log in again/);
    expect(r.stderr).not.toMatch(/start it with/);
    expect(await d.stop()).toBe(0);
  });
});

describe('a listener given a bare port', () => {
  it('--smtp 2525 is shown the SMTP listener forms, not POP3 port 110', async () => {
    const r = await runCli(['daemon', '--smtp', '2525', '--data-dir', tempDir()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      'vmail: --smtp "2525": write HOST:PORT, e.g. 0.0.0.0:2525 (every address) or 127.0.0.1:2525 (port 0 picks a free one)\n',
    );
    const word = await runCli(['daemon', '--smtp', 'mail', '--data-dir', tempDir()]);
    expect(word.stderr).toMatch(/e\.g\. 0\.0\.0\.0:25 /);
    expect(word.stderr).not.toMatch(/110/);
  });
});

describe('a daemon that cannot create its socket', () => {
  it('names the path and the permission it lacks', async () => {
    const base = tempDir('vmail-sock-');
    chmodSync(base, 0o755);
    const data = join(base, 'data');
    const closed = join(base, 'closed');
    mkdirSync(data);
    mkdirSync(closed, { mode: 0o755 });
    chownSync(data, idOf(OUTSIDER, '-u'), idOf(OUTSIDER, '-g'));
    const socket = join(closed, 'control.sock');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(
        'runuser',
        ['-u', OUTSIDER, '--', process.execPath, VMAIL, 'daemon', '--data-dir', data].concat([
          '--socket',
          socket,
          ...LOOPBACK_LISTENERS,
          '--domain',
          'example.test',
        ]),
      );
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `cannot create the control socket ${socket}: user ${idOf(OUTSIDER, '-u')} lacks write and search permission on ${closed}`,
    );
  });
});
