// systemd's readiness protocol, as systemd hears it: the test binds a Unix datagram socket (as
// /run/systemd/notify is), starts the real daemon with NOTIFY_SOCKET naming it, and reads what
// arrives: READY=1 once POP3 answers, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
// SIGTERM. Then the attacker's sockets: a regular file, a folder, a path that is not there, a
// path too long for sockaddr_un, an abstract name: the daemon starts and serves all the same,
// with one line in its log that says why systemd hears nothing.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';

interface Receiver {
  messages: string[];
  close(): void;
}

function receiver(path: string): Receiver {
  const unix = createRequire(import.meta.url)('unix-dgram') as {
    createSocket(
      type: 'unix_dgram',
      onMessage: (buf: Buffer) => void,
    ): {
      bind(path: string): void;
      close(): void;
      on(e: 'error', l: (err: Error) => void): void;
    };
  };
  const messages: string[] = [];
  const sock = unix.createSocket('unix_dgram', (buf) => messages.push(buf.toString('utf8')));
  sock.on('error', (err) => {
    throw err;
  });
  sock.bind(path);
  return { messages, close: () => sock.close() };
}

/** The POP3 greeting, read right away on a fresh connection. */
function pop3Greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString());
    });
    s.once('error', reject);
  });
}

afterAll(() => cleanUp());

describe('sd_notify to $NOTIFY_SOCKET', () => {
  let dir: string;
  let rx: Receiver;
  let d: DaemonHandle;
  let pop3AtReady: string;

  beforeAll(async () => {
    dir = tempDir('vmail-notify-');
    rx = receiver(join(dir, 'notify'));
    const started = startDaemon({ env: { NOTIFY_SOCKET: join(dir, 'notify') } });
    // READY=1 may come before the helper has parsed the ready line: wait for the datagram,
    // then ask POP3 at once, on the port the ready line gave.
    d = await started;
    await waitFor(() => rx.messages.some((m) => /^READY=1$/m.test(m)), 'READY=1');
    pop3AtReady = await pop3Greeting(d.pop3Port);
  });

  afterAll(() => rx.close());

  it('sends READY=1 with a STATUS= summary once the listeners are up', async () => {
    expect(pop3AtReady).toMatch(/^\+OK/);
    const ready = rx.messages.find((m) => /^READY=1$/m.test(m))!;
    expect(ready).toMatch(/^STATUS=1 domains, 0 accounts, 0 forwards, 0 pending, queue 0$/m);
    expect(ready).toMatch(new RegExp(`^MAINPID=${d.proc.pid}$`, 'm'));
    // The socket is not handed on to what the daemon runs.
    expect(d.output()).not.toMatch(/notify socket unusable/);
  });

  it('the summary follows the store: an account added and applied shows in the next STATUS=', async () => {
    expect((await d.cli(['accounts', 'add', 'ann@example.test', '--password-stdin'], 'pw-ann-1\n')).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const before = rx.messages.length;
    d.proc.kill('SIGHUP');
    await waitFor(() => rx.messages.slice(before).some((m) => /^READY=1$/m.test(m)), 'READY=1 after SIGHUP');
    const after = rx.messages.slice(before);
    const reloading = after.findIndex((m) => /^RELOADING=1$/m.test(m));
    const ready = after.findIndex((m) => /^READY=1$/m.test(m));
    expect(reloading).toBeGreaterThanOrEqual(0);
    expect(reloading).toBeLessThan(ready);
    // systemd >= 253 wants the monotonic clock with RELOADING=1 (Type=notify-reload).
    expect(after[reloading]).toMatch(/^MONOTONIC_USEC=\d+$/m);
    expect(after[ready]).toMatch(/^STATUS=1 domains, 1 accounts,/m);
  });

  it('sends STOPPING=1 on SIGTERM, and exits 0', async () => {
    const before = rx.messages.length;
    expect(await d.stop()).toBe(0);
    expect(rx.messages.slice(before).some((m) => /^STOPPING=1$/m.test(m))).toBe(true);
  });
});

describe('attacker: NOTIFY_SOCKET that is no socket', () => {
  const cases: [string, (dir: string) => string, RegExp][] = [
    [
      'a regular file',
      (dir) => {
        writeFileSync(join(dir, 'file'), 'not a socket');
        return join(dir, 'file');
      },
      /ECONNREFUSED/,
    ],
    [
      'a folder',
      (dir) => {
        mkdirSync(join(dir, 'folder'));
        return join(dir, 'folder');
      },
      /ECONNREFUSED|EPROTOTYPE|errno/,
    ],
    ['a path that is not there', (dir) => join(dir, 'missing', 'notify'), /ENOENT/],
    ['a path too long for a socket address', (dir) => join(dir, 'x'.repeat(5000)), /longer than 107 bytes/],
    ['an abstract name', () => '@vmail-test-notify', /abstract/],
    ['a relative path', () => 'notify.sock', /absolute/],
  ];
  for (const [what, make, why] of cases) {
    it(`${what}: the daemon starts and serves, with one line saying why`, async () => {
      const dir = tempDir('vmail-notify-bad-');
      const d = await startDaemon({ env: { NOTIFY_SOCKET: make(dir) } });
      expect(await pop3Greeting(d.pop3Port)).toMatch(/^\+OK/);
      const lines = d
        .output()
        .split('\n')
        .filter((l) => l.includes('notify socket unusable'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(why);
      // Far under the 5000 characters given: the line is not the attacker's megaphone.
      expect(lines[0].length).toBeLessThan(500);
      expect(await d.stop()).toBe(0);
    });
  }
});
