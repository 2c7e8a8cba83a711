// The POP3 server of the real daemon, driven over real sockets: a table of protocol exchanges,
// Python's poplib and curl fetching fixture messages byte for byte, and the bad input list.
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/maildir/maildir.js';
import { type DaemonHandle, ROOT, selfSignedCert, startDaemon, waitFor } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';
import { asSent, RawPop3, stuffed } from '../helpers/pop3.js';
import { RawLines } from '../helpers/raw-socket.js';

const run = promisify(execFile);
const FIX = join(ROOT, 'fixtures/messages');
const fixture = (name: string) => readFileSync(join(FIX, name));
const SMALL = ['dot-lines.eml', 'bare-lf.eml', 'no-final-newline.eml', 'utf8-headers.eml'];

let d: DaemonHandle;
const box = (name: string) => join(d.dataDir, 'mail/example.test', name);

async function account(name: string, password = 'password-1'): Promise<void> {
  const r = await d.cli(['accounts', 'add', name, '--password-stdin'], `${password}\n`);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  // Tests here open many connections one after another; the per-address cap has its own test.
  d = await startDaemon({
    args: ['--auth-failure-delay', '1ms', '--rescan-interval', '1s', '--max-connections-per-address', '500'],
  });
  for (const name of ['sales', 'bob', 'empty', 'big', 'locked', 'sizes']) await account(name);
  await d.cli(['pending', 'apply']);
  for (const f of SMALL) await deliver(box('sales'), fixture(f));
  for (const f of SMALL) await deliver(box('bob'), fixture(f));
  await deliver(box('big'), fixture('attachment-5mb.eml'));
  await deliver(box('big'), fixture('dot-lines.eml'));
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('protocol exchanges', () => {
  // [description, commands, expected replies (first lines)]
  const table: [string, string[], (string | RegExp)[]][] = [
    [
      'commands before login are refused',
      ['STAT', 'LIST', 'RETR 1', 'DELE 1', 'UIDL', 'TOP 1 0', 'NOOP', 'RSET'],
      Array(8).fill(/^-ERR Not logged in/),
    ],
    ['an unknown command', ['FROB', ''], [/^-ERR Unknown command/, /^-ERR Empty command/]],
    ['PASS without USER', ['PASS x'], [/^-ERR No username given/]],
    ['a wrong password gets [AUTH]', ['USER sales', 'PASS wrong-one'], ['+OK', '-ERR [AUTH] Authentication failed.']],
    [
      'an unknown user gets the same answer',
      ['USER nobody', 'PASS password-1'],
      ['+OK', '-ERR [AUTH] Authentication failed.'],
    ],
    [
      'verbs are case-insensitive',
      ['user empty', 'pAsS password-1', 'stat', 'quit'],
      ['+OK', '+OK Logged in.', '+OK 0 0', /^\+OK/],
    ],
    [
      'USER/PASS, STAT, LIST n, UIDL n, NOOP, QUIT',
      ['USER sales', 'PASS password-1', 'STAT', 'LIST 1', 'UIDL 1', 'NOOP', 'QUIT'],
      ['+OK', '+OK Logged in.', /^\+OK 4 \d+$/, /^\+OK 1 \d+$/, /^\+OK 1 \S+$/, '+OK', /^\+OK Logging out/],
    ],
    [
      'message numbers 0, -1, 99999, 1x',
      ['USER sales', 'PASS password-1', 'RETR 0', 'RETR -1', 'LIST 99999', 'DELE 1x', 'TOP 1 x', 'QUIT'],
      [
        '+OK',
        '+OK Logged in.',
        '-ERR There is no such message.',
        '-ERR Invalid message number.',
        '-ERR There is no such message.',
        '-ERR Invalid message number.',
        '-ERR Invalid number of lines.',
        /^\+OK/,
      ],
    ],
    [
      'DELE twice, RETR of a deleted message, RSET brings it back',
      [
        'USER sales',
        'PASS password-1',
        'DELE 2',
        'DELE 2',
        'LIST 2',
        'UIDL 2',
        'TOP 2 0',
        'STAT',
        'RSET',
        'LIST 2',
        'QUIT',
      ],
      [
        '+OK',
        '+OK Logged in.',
        /^\+OK/,
        '-ERR Message is deleted.',
        '-ERR Message is deleted.',
        '-ERR Message is deleted.',
        '-ERR Message is deleted.',
        /^\+OK 3 /,
        /^\+OK 4 /,
        /^\+OK 2 \d+/,
        /^\+OK Logging out\.$/,
      ],
    ],
    [
      'wrong argument counts',
      ['USER', 'USER a b', 'CAPA x'],
      [/^-ERR Wrong number/, /^-ERR Wrong number/, /^-ERR Wrong number/],
    ],
    [
      'USER and AUTH in TRANSACTION are refused',
      ['USER empty', 'PASS password-1', 'USER x', 'AUTH PLAIN', 'QUIT'],
      ['+OK', '+OK Logged in.', /^-ERR Already logged in/, /^-ERR Already logged in/, /^\+OK/],
    ],
    [
      'AUTH PLAIN with an initial response',
      [`AUTH PLAIN ${Buffer.from('\0empty\0password-1').toString('base64')}`, 'QUIT'],
      ['+OK Logged in.', /^\+OK/],
    ],
    [
      'AUTH PLAIN in two steps',
      ['AUTH PLAIN', Buffer.from('\0empty@example.test\0password-1').toString('base64'), 'QUIT'],
      ['+ ', '+OK Logged in.', /^\+OK/],
    ],
    [
      'AUTH PLAIN cancelled with *',
      ['AUTH PLAIN', '*', 'NOOP'],
      ['+ ', '-ERR Authentication cancelled.', /^-ERR Not logged in/],
    ],
    [
      'AUTH PLAIN with garbage and with another authzid',
      ['AUTH PLAIN !!!', `AUTH PLAIN ${Buffer.from('bob\0empty\0password-1').toString('base64')}`, 'AUTH LOGIN'],
      [
        '-ERR [AUTH] Invalid base64 data.',
        '-ERR [AUTH] Authorization as another user is not allowed.',
        '-ERR Unsupported authentication mechanism.',
      ],
    ],
    [
      'a command over 255 octets, then a normal one',
      [`USER ${'a'.repeat(300)}`, 'NOOP'],
      ['-ERR Line too long.', /^-ERR Not logged in/],
    ],
    ['binary garbage', ['\u0000\u00ff\u0001\u00fe', 'QUIT'], [/^-ERR Unknown command/, /^\+OK/]],
  ];
  for (const [what, commands, expected] of table) {
    it(what, async () => {
      const c = await RawPop3.open(d.pop3Port);
      try {
        for (let i = 0; i < commands.length; i++) {
          const reply = await c.cmd(commands[i]);
          const want = expected[i];
          if (typeof want === 'string') expect(reply, commands[i]).toBe(want);
          else expect(reply, commands[i]).toMatch(want);
          if (/^\+OK/.test(reply) && /^(LIST|UIDL|CAPA|AUTH)$/i.test(commands[i])) await c.body();
        }
      } finally {
        c.close();
      }
    });
  }

  it('greets, lists CAPA in both states, and answers AUTH alone with the mechanisms', async () => {
    const c = await RawPop3.open(d.pop3Port, false);
    expect(await c.line()).toBe('+OK vmail ready.');
    const capa = await c.multi('CAPA');
    expect(capa.body.toString().split('\r\n')).toEqual([
      'TOP',
      'UIDL',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
      'USER',
      'SASL PLAIN',
      'IMPLEMENTATION vmail',
    ]);
    expect((await c.multi('AUTH')).body.toString()).toBe('PLAIN');
    await c.login('empty', 'password-1');
    expect((await c.multi('CAPA')).body.toString()).not.toMatch(/USER|SASL/);
    c.close();
  });

  it('answers pipelined commands in order', async () => {
    const c = await RawPop3.open(d.pop3Port);
    c.write('USER sales\r\nPASS password-1\r\nSTAT\r\nLIST\r\nUIDL\r\nNOOP\r\nQUIT\r\n');
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toBe('+OK Logged in.');
    expect(await c.line()).toMatch(/^\+OK 4 \d+$/);
    expect(await c.line()).toMatch(/^\+OK 4 messages/);
    expect((await c.body()).toString().split('\r\n')).toHaveLength(4);
    expect(await c.line()).toBe('+OK');
    const uids = (await c.body()).toString().split('\r\n');
    expect(uids).toHaveLength(4);
    for (const u of uids) expect(u).toMatch(/^\d \S{1,70}$/);
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toMatch(/^\+OK Logging out/);
    c.close();
  });

  it('sends messages CRLF and dot-stuffed, sizes as LIST says, TOP with the header and k lines', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('sales', 'password-1');
    const list = (await c.multi('LIST')).body
      .toString()
      .split('\r\n')
      .map((l) => Number(l.split(' ')[1]));
    for (let i = 0; i < SMALL.length; i++) {
      const data = fixture(SMALL[i]);
      const { first, body } = await c.multi(`RETR ${i + 1}`);
      expect(first).toBe(`+OK ${asSent(data).length} octets`);
      expect(list[i]).toBe(asSent(data).length);
      expect(Buffer.concat([body, Buffer.from('\r\n')]).equals(stuffed(data))).toBe(true);
    }
    const top = await c.multi('TOP 1 2');
    const sent = asSent(fixture('dot-lines.eml')).toString();
    const header = sent.slice(0, sent.indexOf('\r\n\r\n') + 4);
    const bodyLines = sent
      .slice(header.length)
      .split('\r\n')
      .slice(0, 2)
      .map((l) => (l.startsWith('.') ? `.${l}` : l));
    expect(`${top.body.toString()}\r\n`).toBe(`${header}${bodyLines.join('\r\n')}\r\n`);
    const top0 = await c.multi('TOP 1 0');
    expect(`${top0.body.toString()}\r\n`).toBe(header);
    await c.cmd('QUIT');
    c.close();
  });
});

describe('real clients', () => {
  it("Python's poplib fetches every message byte for byte, with USER/PASS and AUTH PLAIN", async () => {
    for (const mode of ['', 'auth-plain']) {
      const { stdout } = await run('python3', [
        join(ROOT, 'test/helpers/fetch_pop3.py'),
        String(d.pop3Port),
        'bob',
        'password-1',
        mode,
      ]);
      const r = JSON.parse(stdout);
      expect(r.welcome).toBe('+OK vmail ready.');
      expect(r.capa).toEqual(
        expect.arrayContaining([
          'TOP',
          'UIDL',
          'USER',
          'SASL',
          'PIPELINING',
          'RESP-CODES',
          'AUTH-RESP-CODE',
          'IMPLEMENTATION',
        ]),
      );
      expect(r.stat[0]).toBe(SMALL.length);
      expect(r.stat[1]).toBe(SMALL.reduce((s, f) => s + asSent(fixture(f)).length, 0));
      SMALL.forEach((f, i) => {
        expect(Buffer.from(r.messages[i].data, 'base64').equals(asSent(fixture(f))), f).toBe(true);
      });
      expect(r.uidl).toHaveLength(SMALL.length);
    }
  });

  it('curl fetches a message and lists the mailbox', async () => {
    const url = `pop3://127.0.0.1:${d.pop3Port}`;
    const list = await run('curl', ['-s', '--user', 'bob:password-1', `${url}/`]);
    expect(list.stdout.trim().split(/\r?\n/)).toHaveLength(SMALL.length);
    for (let i = 0; i < SMALL.length; i++) {
      const r = await run('curl', ['-s', '--user', 'bob@example.test:password-1', `${url}/${i + 1}`], {
        encoding: 'buffer',
      });
      expect((r.stdout as Buffer).equals(asSent(fixture(SMALL[i]))), SMALL[i]).toBe(true);
    }
  });

  it('streams the 5 MB message intact', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('big', 'password-1');
    const data = fixture('attachment-5mb.eml');
    const { first, body } = await c.multi('RETR 1');
    expect(first).toBe(`+OK ${asSent(data).length} octets`);
    expect(Buffer.concat([body, Buffer.from('\r\n')]).equals(stuffed(data))).toBe(true);
    await c.cmd('QUIT');
    c.close();
  });
});

describe('state, locks and deletion', () => {
  it('only QUIT deletes: a dropped connection after DELE deletes nothing', async () => {
    await account('drop');
    await d.cli(['pending', 'apply']);
    for (const f of SMALL) await deliver(box('drop'), fixture(f));
    const c = await RawPop3.open(d.pop3Port);
    await c.login('drop', 'password-1');
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.cmd('DELE 2')).toMatch(/^\+OK/);
    c.close();
    const again = await waitFor(async () => {
      const x = await RawPop3.open(d.pop3Port);
      await x.cmd('USER drop');
      if ((await x.cmd('PASS password-1')).startsWith('+OK')) return x;
      x.close();
      return null;
    }, 'the lock of the dropped session to go');
    expect(await again.cmd('STAT')).toMatch(/^\+OK 4 /);
    expect(await again.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await again.cmd('QUIT')).toBe('+OK Logging out, 1 message deleted.');
    again.close();
    expect(readdirSync(join(box('drop'), 'new'))).toHaveLength(3);
  });

  it('a second session on a locked mailbox gets [IN-USE]; the lock goes with the first', async () => {
    const a = await RawPop3.open(d.pop3Port);
    await a.login('locked', 'password-1');
    const b = await RawPop3.open(d.pop3Port);
    expect(await b.cmd('USER locked')).toBe('+OK');
    expect(await b.cmd('PASS password-1')).toBe('-ERR [IN-USE] Mailbox is locked by another POP3 session.');
    expect(await a.cmd('QUIT')).toMatch(/^\+OK/);
    a.close();
    await b.cmd('USER locked');
    expect(await b.cmd('PASS password-1')).toBe('+OK Logged in.');
    b.close();
  });

  it('a file deleted by hand while a session has it listed: -ERR for it, the rest still served', async () => {
    await account('gone');
    await d.cli(['pending', 'apply']);
    await deliver(box('gone'), fixture('dot-lines.eml'));
    await deliver(box('gone'), fixture('bare-lf.eml'));
    const c = await RawPop3.open(d.pop3Port);
    await c.login('gone', 'password-1');
    const [first] = readdirSync(join(box('gone'), 'new')).sort();
    unlinkSync(join(box('gone'), 'new', first));
    expect(await c.cmd('RETR 1')).toBe('-ERR Message is no longer on the server.');
    const { first: ok } = await c.multi('RETR 2');
    expect(ok).toMatch(/^\+OK/);
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.cmd('QUIT')).toMatch(/^\+OK Logging out/);
    c.close();
  });

  it('a client that disconnects mid-RETR of the 5 MB message loses nothing, and others are served', async () => {
    const c = await RawPop3.open(d.pop3Port);
    await c.login('big', 'password-1');
    c.write('RETR 1\r\n');
    await new Promise((r) => setTimeout(r, 20));
    c.close();
    const again = await waitFor(async () => {
      const x = await RawPop3.open(d.pop3Port);
      await x.cmd('USER big');
      if ((await x.cmd('PASS password-1')).startsWith('+OK')) return x;
      x.close();
      return null;
    }, 'the big mailbox to be free again');
    expect(await again.cmd('STAT')).toMatch(/^\+OK 2 /);
    const { body } = await again.multi('RETR 1');
    expect(Buffer.concat([body, Buffer.from('\r\n')]).equals(stuffed(fixture('attachment-5mb.eml')))).toBe(true);
    again.close();
  });

  it('answers 5,000 pipelined commands in order from a client that reads only at the end', async () => {
    const c = await RawPop3.open(d.pop3Port);
    c.write(`USER sales\r\nPASS password-1\r\n${'LIST 1\r\nRETR 1\r\n'.repeat(2500)}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toBe('+OK Logged in.');
    const size = asSent(fixture(SMALL[0])).length;
    for (let i = 0; i < 2500; i++) {
      expect(await c.line()).toBe(`+OK 1 ${size}`);
      expect(await c.line()).toBe(`+OK ${size} octets`);
      expect(Buffer.concat([await c.body(), Buffer.from('\r\n')]).equals(stuffed(fixture(SMALL[0])))).toBe(true);
    }
    expect(await c.cmd('QUIT')).toMatch(/^\+OK/);
    c.close();
  });

  it('survives a 1 MB line without a newline and keeps the session usable', async () => {
    const c = await RawPop3.open(d.pop3Port);
    c.write(Buffer.alloc(1024 * 1024, 0x41));
    expect(await c.line()).toBe('-ERR Line too long.');
    c.write('\r\n');
    expect(await c.cmd('NOOP')).toMatch(/^-ERR Not logged in/);
    await c.login('empty', 'password-1');
    expect(await c.cmd('STAT')).toBe('+OK 0 0');
    c.close();
  });

  it('a client that hangs up at any moment of a login, even one it made before, leaves the mailbox free', async () => {
    // The realistic prior state: the mailbox was opened once, so the next login is fast (the
    // password is cached, the listing quick) and a hang-up lands while the mailbox is opened.
    const first = await RawPop3.open(d.pop3Port);
    await first.login('locked', 'password-1');
    await first.quit();
    const hangUps: [string, (c: RawPop3) => Promise<void> | void][] = [
      ['after USER', (c) => c.write('USER locked\r\n')],
      ['with USER and PASS in one write', (c) => c.write('USER locked\r\nPASS password-1\r\n')],
      [
        'in the middle of an AUTH PLAIN exchange',
        (c) => c.write(`AUTH PLAIN\r\n${Buffer.from('\0locked\0password-1').toString('base64')}\r\n`),
      ],
      [
        'in the middle of a RETR',
        async (c) => {
          c.write('USER locked\r\nPASS password-1\r\nRETR 1\r\n');
          await c.line();
        },
      ],
      [
        'after DELE, before QUIT',
        async (c) => {
          await c.login('locked', 'password-1');
          await c.cmd('DELE 1');
        },
      ],
    ];
    await deliver(box('locked'), fixture('attachment-5mb.eml'));
    for (const [when, act] of hangUps) {
      for (const delayMs of [0, 1, 3, 10]) {
        const c = await RawPop3.open(d.pop3Port);
        await act(c);
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        c.close();
      }
      // The next client gets the mailbox, whatever the moment the last one hung up.
      const next = await waitFor(
        async () => {
          const c = await RawPop3.open(d.pop3Port);
          await c.cmd('USER locked');
          const reply = await c.cmd('PASS password-1');
          if (reply === '+OK Logged in.') return c;
          c.close();
          expect(reply, `a hang-up ${when}`).toBe('-ERR [IN-USE] Mailbox is locked by another POP3 session.');
          return null;
        },
        `the mailbox to be free after a hang-up ${when}`,
        2000,
      );
      // A hang-up deletes nothing.
      expect(await next.cmd('STAT'), when).toMatch(/^\+OK 1 \d+$/);
      await next.quit();
    }
  }, 60_000);

  it('clients hanging up in the middle of a big RETR never cut another client off', async () => {
    // Each hang-up used to close the message file twice; the second close could hit the
    // descriptor number the next client's socket had been given meanwhile, which then went
    // dead without a word (or an open file of another session did: [SYS/TEMP] Internal error).
    const bystander = await RawPop3.open(d.pop3Port);
    await bystander.login('empty', 'password-1');
    for (let round = 0; round < 100; round++) {
      for (const delayMs of [0, 1, 3, 10]) {
        const c = await RawPop3.open(d.pop3Port);
        c.write('USER big\r\nPASS password-1\r\nRETR 1\r\n');
        expect(await c.line(), `round ${round}, the next client's first answer`).toBe('+OK');
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        c.close();
      }
      if (round % 10 === 0) expect(await bystander.cmd('STAT'), `round ${round}`).toBe('+OK 0 0');
    }
    await bystander.quit();
    expect(d.output()).not.toMatch(/EBADF|Internal error/);
  }, 60_000);

  it('every password accounts add accepts logs in with USER/PASS and AUTH PLAIN, in one step and two', async () => {
    const passwords: [string, string][] = [
      ['pw-utf8', 'pässwört-9'],
      ['pw-spaces', '        '],
      ['pw-edges', ' lead and trail '],
      ['pw-long', 'é'.repeat(128)],
      ['pw-euro', '€'.repeat(128)],
      ['pw-astral', '🔑🗝️🔐🔒🔓x1y2'],
      ['pw-ascii', '"quoted" \\ back\\slash%s'],
    ];
    for (const [name, pw] of passwords) {
      const r = await d.cli(['accounts', 'add', name, '--password-stdin'], `${pw}\n`);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    await d.cli(['pending', 'apply']);
    for (const [name, pw] of passwords) {
      // Python's poplib: USER/PASS and AUTH PLAIN with an initial response.
      expect(await pop3Login(d.pop3Port, name, pw), `${name} USER/PASS`).toMatchObject({ ok: true });
      expect(await pop3Login(d.pop3Port, name, pw, 'auth-plain'), `${name} AUTH PLAIN`).toMatchObject({ ok: true });
      // AUTH PLAIN in two steps, and USER/PASS as raw bytes.
      const c = await RawPop3.open(d.pop3Port);
      expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
      expect(await c.cmd(Buffer.from(`\0${name}\0${pw}`).toString('base64')), `${name} AUTH PLAIN in two steps`).toBe(
        '+OK Logged in.',
      );
      await c.quit();
      const u = await RawPop3.open(d.pop3Port);
      await u.cmd(`USER ${name}`);
      expect(await u.cmd(`PASS ${pw}`), `${name} raw PASS`).toBe('+OK Logged in.');
      await u.quit();
    }
    // The same text composed or decomposed is the same password.
    const nfd = 'pässwört-9'.normalize('NFD');
    expect(await pop3Login(d.pop3Port, 'pw-utf8', nfd)).toMatchObject({ ok: true });
    // What no client can send is refused at add, with one line.
    for (const bad of ['abc\u0085defgh', 'abc\u2028defgh', 'abcdefgh\u007f', 'tab\there-x', 'abc\u2029defgh']) {
      const r = await d.cli(['accounts', 'add', 'pw-bad', '--password-stdin'], `${bad}\n`);
      expect(r.code, JSON.stringify(bad)).toBe(1);
      expect(r.stderr).toBe('vmail: the password may not contain control characters or line breaks\n');
    }
    const sock = await RawLines.connect(d.socket);
    const lone = await sock.call('accounts.add', { name: 'pw-bad', password: 'abc\ud800defgh' });
    expect(lone.error).toMatchObject({ code: -32000, data: { field: 'password' } });
    sock.close();
  }, 60_000);
});

describe('guessing passwords', () => {
  it('parallel guesses from one address are judged one at a time, slower and slower; other addresses go on', async () => {
    const g = await startDaemon({ args: ['--auth-failure-delay', '50ms', '--max-connections-per-address', '200'] });
    await g.cli(['accounts', 'add', 'target', '--password-stdin'], 'right-password-1\n');
    await g.cli(['accounts', 'add', 'other', '--password-stdin'], 'right-password-2\n');
    await g.cli(['pending', 'apply']);
    const conns = await Promise.all(Array.from({ length: 100 }, () => RawPop3.open(g.pop3Port)));
    const answered: string[] = [];
    const t0 = Date.now();
    for (const [i, c] of conns.entries()) {
      c.write(`USER target\r\nPASS wrong-${i}\r\n`);
      void c
        .line()
        .then(() => c.line())
        .then(
          (l) => answered.push(l),
          () => {},
        );
    }
    await new Promise((r) => setTimeout(r, 3000));
    // Judged in turn, each failure holding the next for 50 ms more: about ten in three seconds
    // (one connection at a time would get the same), where parallel answers would be dozens.
    expect(answered.length).toBeGreaterThanOrEqual(5);
    expect(answered.length).toBeLessThanOrEqual(12);
    expect(new Set(answered)).toEqual(new Set(['-ERR [AUTH] Authentication failed.']));
    // Another address logs in at once, in the middle of it.
    const t1 = Date.now();
    const elsewhere = await RawPop3.open(g.pop3Port, true, '127.0.0.2');
    await elsewhere.login('other', 'right-password-2');
    expect(Date.now() - t1).toBeLessThan(1000);
    await elsewhere.quit();
    // Each failure is logged, for fail2ban.
    const logged = g
      .output()
      .split('\n')
      .filter((l) => / pop3 login failed user=target rip=127\.0\.0\.1 failures=\d+$/.test(l));
    expect(logged.length).toBeGreaterThanOrEqual(answered.length);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Guesses from clients that hung up are never judged.
    for (const c of conns) c.close();
    const before = g
      .output()
      .split('\n')
      .filter((l) => l.includes('pop3 login failed')).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(
      g
        .output()
        .split('\n')
        .filter((l) => l.includes('pop3 login failed')).length,
    ).toBeLessThanOrEqual(before + 1);
    await g.stop();
  }, 30_000);

  it('caps the connections one address may hold, and not those of others', async () => {
    const g = await startDaemon({ args: ['--max-connections-per-address', '5'] });
    const conns = await Promise.all(Array.from({ length: 5 }, () => RawPop3.open(g.pop3Port)));
    const extra = await RawPop3.open(g.pop3Port, false);
    expect(await extra.line()).toBe('-ERR [SYS/TEMP] Too many connections from your address; try again later.');
    const other = await RawPop3.open(g.pop3Port, false, '127.0.0.3');
    expect(await other.line()).toMatch(/^\+OK/);
    other.close();
    for (const c of conns) c.close();
    await waitFor(async () => {
      const c = await RawPop3.open(g.pop3Port, false);
      const ok = (await c.line()).startsWith('+OK');
      c.close();
      return ok;
    }, 'the address to be let in again');
    await g.stop();
  });
});

describe('accounts and sizes', () => {
  it('a pending add cannot log in; a pending removal still can until the apply', async () => {
    await account('newbie');
    const c = await RawPop3.open(d.pop3Port);
    await c.cmd('USER newbie');
    expect(await c.cmd('PASS password-1')).toBe('-ERR [AUTH] Authentication failed.');
    await d.cli(['pending', 'apply']);
    await d.cli(['accounts', 'remove', 'newbie']);
    await c.cmd('USER newbie');
    expect(await c.cmd('PASS password-1')).toBe('+OK Logged in.');
    // The apply ends the session of a removed account without deleting anything.
    await d.cli(['pending', 'apply']);
    expect(await c.line()).toBe('-ERR [SYS/TEMP] This mailbox was removed.');
    c.close();
  });

  it('accounts list reports what STAT reports, moves live, and shows the last login', async () => {
    const sub = await RawLines.connect(d.socket);
    await sub.call('subscribe');
    for (const f of SMALL) await deliver(box('sizes'), fixture(f));
    // A file copied in by hand, without sizes in its name, is measured and counted.
    cpSync(
      join(ROOT, 'fixtures/maildir/sample/new/1764150060.M2P1Q2.sample'),
      join(box('sizes'), 'new/1764150060.M2P1Q2.sample'),
    );
    const expected = {
      messages: 5,
      bytes: [...SMALL, 'bare-lf.eml'].reduce((s, f) => s + asSent(fixture(f)).length, 0),
    };
    const note = await waitFor(async () => {
      const n = await sub.next(3000).catch(() => null);
      return n?.method === 'mailbox.size' && n.params.address === 'sizes@example.test' && n.params.messages === 5
        ? n
        : null;
    }, 'a mailbox.size notification');
    // Files put in by hand are not deliveries: the last delivery time stays as it was.
    // With it, the account's health (these files are a year old, never fetched) and its domain's
    // total, so a console puts it onto its rows as they are.
    const domain = JSON.parse((await d.cli(['domains', 'list', '--json'])).stdout)[0];
    expect(note.params).toEqual({
      address: 'sizes@example.test',
      ...expected,
      lastDeliveryAt: null,
      health: {
        lastLoginDays: null,
        neverFetched: true,
        oldestDays: expect.any(Number),
        piling: true,
        clients: 0,
        clientsNote: null,
        deletedUnseen: {},
      },
      domainTotal: { messages: domain.messages, bytes: domain.bytes },
    });
    expect(note.params.health.oldestDays).toBeGreaterThan(30);
    const c = await RawPop3.open(d.pop3Port);
    await c.login('sizes', 'password-1');
    expect(await c.cmd('STAT')).toBe(`+OK ${expected.messages} ${expected.bytes}`);
    const row = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout).find((a: any) => a.name === 'sizes');
    expect(row).toMatchObject(expected);
    expect(row.lastLoginFrom).toBe('127.0.0.1');
    expect(Date.now() - Date.parse(row.lastLoginAt)).toBeLessThan(10_000);
    const firstSize = Number((await c.cmd('LIST 1')).split(' ')[2]);
    await c.cmd('DELE 1');
    await c.cmd('QUIT');
    c.close();
    const after = await waitFor(async () => {
      const r = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout).find((a: any) => a.name === 'sizes');
      return r.messages === 4 ? r : null;
    }, 'the size to drop after QUIT');
    expect(after.bytes).toBe(expected.bytes - firstSize);
    sub.close();
  });
});

describe('Maildirs that other programs write', () => {
  let m: DaemonHandle;
  const mbox = (name: string) => join(m.dataDir, 'mail/example.test', name);
  beforeAll(async () => {
    // No periodic rescan to lean on: a change must be seen because the folder is watched.
    m = await startDaemon({ args: ['--rescan-interval', '1h'] });
    for (const name of ['watched', 'migrated'])
      await m.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
    await m.cli(['pending', 'apply']);
  });
  afterAll(async () => {
    await m.stop();
  });
  const row = async (name: string) =>
    JSON.parse((await m.cli(['accounts', 'list', '--json'])).stdout).find((a: any) => a.name === name);

  it('counts files put in new/ and cur/ by hand within 2 s, and files taken away', async () => {
    const sub = await RawLines.connect(m.socket);
    await sub.call('subscribe');
    const a = fixture('dot-lines.eml');
    const b = fixture('bare-lf.eml');
    // As rsync does it: a hidden temporary name, then a rename.
    writeFileSync(join(mbox('watched'), 'new/.1700000001.1.oldhost.Xy12'), a);
    renameSync(
      join(mbox('watched'), 'new/.1700000001.1.oldhost.Xy12'),
      join(mbox('watched'), 'new/1700000001.1.oldhost'),
    );
    // As a restore might: straight into cur/, with flags.
    writeFileSync(join(mbox('watched'), 'cur/1700000002.2.oldhost:2,S'), b);
    const t0 = Date.now();
    const expected = { messages: 2, bytes: asSent(a).length + asSent(b).length };
    await waitFor(async () => (await row('watched')).messages === 2, 'the copied files to be counted', 2000);
    expect(await row('watched')).toMatchObject(expected);
    expect(Date.now() - t0).toBeLessThan(2000);
    const note = await waitFor(async () => {
      const n = await sub.next(2000).catch(() => null);
      return n?.method === 'mailbox.size' && n.params.messages === 2 ? n : null;
    }, 'the size notification');
    expect(note.params).toMatchObject({ address: 'watched@example.test', ...expected });
    unlinkSync(join(mbox('watched'), 'new/1700000001.1.oldhost'));
    await waitFor(async () => (await row('watched')).messages === 1, 'the removed file to be counted out', 2000);
    sub.close();
  });

  it('serves files without size tags with sizes measured once and remembered across a restart', async () => {
    const files = ['dot-lines.eml', 'bare-lf.eml', 'no-final-newline.eml', 'utf8-headers.eml'];
    for (const [i, f] of files.entries()) {
      writeFileSync(join(mbox('migrated'), 'cur', `${1_700_000_100 + i}.${i}.qmailhost:2,S`), fixture(f));
    }
    const c = await waitFor(
      async () => ((await row('migrated')).messages === 4 ? RawPop3.open(m.pop3Port) : null),
      'the migrated files to be counted',
    );
    await c.login('migrated', 'password-1');
    const list = (await c.multi('LIST')).body
      .toString()
      .split('\r\n')
      .map((l) => Number(l.split(' ')[1]));
    expect(list).toEqual(files.map((f) => asSent(fixture(f)).length));
    for (const [i, f] of files.entries())
      expect(Buffer.concat([(await c.multi(`RETR ${i + 1}`)).body, Buffer.from('\r\n')])).toEqual(stuffed(fixture(f)));
    await c.quit();
    // Remembered beside the Maildir, as Courier keeps its size list: bytes on disk and as sent.
    const remembered = readFileSync(join(mbox('migrated'), 'vmail-sizes'), 'utf8')
      .trim()
      .split('\n');
    expect(remembered[0]).toBe('vmail-sizes 1');
    expect(remembered.slice(1).sort()).toEqual(
      files
        .map((f, i) => `${1_700_000_100 + i}.${i}.qmailhost ${fixture(f).length} ${asSent(fixture(f)).length}`)
        .sort(),
    );
    await m.stop();
    m = await startDaemon({ dataDir: m.dataDir, args: ['--rescan-interval', '1h'] });
    expect(await row('migrated')).toMatchObject({ messages: 4, bytes: list.reduce((x, y) => x + y, 0) });
  });

  it('removes what crashes left in tmp/ after 36 hours, and nothing younger', async () => {
    const old = join(mbox('watched'), 'tmp/1700000000.M1P1.crashed');
    const young = join(mbox('watched'), 'tmp/1700000000.M2P1.inflight');
    writeFileSync(old, 'half a message');
    writeFileSync(young, 'a delivery in progress');
    const then = (Date.now() - 37 * 3_600_000) / 1000;
    utimesSync(old, then, then);
    await m.stop();
    m = await startDaemon({ dataDir: m.dataDir, args: ['--rescan-interval', '2s'] });
    await waitFor(() => !existsSync(old), 'the stale tmp file to go', 8000);
    expect(existsSync(young)).toBe(true);
    // The line comes once the pass has ended, which may be a moment after the file went.
    await waitFor(() => / maildir tmp cleaned /.test(m.output()), 'the cleaning to be logged', 5000);
    expect(m.output()).toMatch(/ maildir tmp cleaned removed=1 older_than=36h /);
  });
});

describe('limits and TLS', () => {
  it('ends an idle session with -ERR and deletes nothing it had marked', async () => {
    const idle = await startDaemon({ args: ['--pop3-idle-timeout', '1s'] });
    await idle.cli(['accounts', 'add', 'idle', '--password-stdin'], 'password-1\n');
    await idle.cli(['pending', 'apply']);
    await deliver(join(idle.dataDir, 'mail/example.test/idle'), fixture('dot-lines.eml'));
    const c = await RawPop3.open(idle.pop3Port);
    await c.login('idle', 'password-1');
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.line(3000)).toBe('-ERR Disconnected for inactivity.');
    await waitFor(() => c.closed, 'the server to close the idle connection');
    expect(readdirSync(join(idle.dataDir, 'mail/example.test/idle/new'))).toHaveLength(1);
    await idle.stop();
  });

  it('caps connections with [SYS/TEMP] and serves again when one closes', async () => {
    const small = await startDaemon({ args: ['--max-connections', '2'] });
    const a = await RawPop3.open(small.pop3Port);
    const b = await RawPop3.open(small.pop3Port);
    const c = await RawPop3.open(small.pop3Port, false);
    expect(await c.line()).toBe('-ERR [SYS/TEMP] Too many connections; try again later.');
    a.close();
    await waitFor(async () => {
      const x = await RawPop3.open(small.pop3Port, false);
      const l = await x.line();
      x.close();
      return l.startsWith('+OK');
    }, 'a free connection slot');
    b.close();
    await small.stop();
  });

  it('with a certificate: STLS and POP3S for poplib, STARTTLS for smtplib', async () => {
    const { cert, key } = await selfSignedCert();
    const t = await startDaemon({ args: ['--tls-cert', cert, '--tls-key', key, '--pop3s', '127.0.0.1:0'] });
    await t.cli(['accounts', 'add', 'tls', '--password-stdin'], 'password-1\n');
    await t.cli(['pending', 'apply']);
    await deliver(join(t.dataDir, 'mail/example.test/tls'), fixture('dot-lines.eml'));
    const { stdout } = await run('python3', [
      join(ROOT, 'test/helpers/fetch_pop3.py'),
      String(t.pop3Port),
      'tls',
      'password-1',
      'stls',
    ]);
    const r = JSON.parse(stdout);
    expect(r.capa).toContain('STLS');
    expect(r.capa_after_stls).not.toContain('STLS');
    expect(Buffer.from(r.messages[0].data, 'base64').equals(asSent(fixture('dot-lines.eml')))).toBe(true);
    // POP3S: TLS from the first byte on its own port.
    const status = JSON.parse((await t.cli(['status', '--json'])).stdout);
    expect(status.pop3s.port).toBeGreaterThan(0);
    const overSsl = JSON.parse(
      (
        await run('python3', [
          join(ROOT, 'test/helpers/fetch_pop3.py'),
          String(status.pop3s.port),
          'tls',
          'password-1',
          'ssl',
        ])
      ).stdout,
    );
    expect(overSsl.capa).not.toContain('STLS');
    expect(Buffer.from(overSsl.messages[0].data, 'base64').equals(asSent(fixture('dot-lines.eml')))).toBe(true);
    // SMTP offers STARTTLS with the same certificate, and the Received: header says so.
    const smtp = await new Promise<any>((resolve, reject) => {
      const p = execFile(
        'python3',
        [join(ROOT, 'test/helpers/send_smtp.py'), String(t.smtpPort), 'a@example.org', 'tls@example.test', 'starttls'],
        (err, out) => (err ? reject(err) : resolve(JSON.parse(out))),
      );
      p.stdin!.end('Subject: over tls\r\n\r\nhello\r\n');
    });
    expect(smtp.ehlo).toContain('STARTTLS');
    expect(smtp.starttls).toBe(220);
    expect(smtp.ok).toBe(true);
    const viaTls = JSON.parse(
      (await run('python3', [join(ROOT, 'test/helpers/fetch_pop3.py'), String(t.pop3Port), 'tls', 'password-1']))
        .stdout,
    );
    expect(Buffer.from(viaTls.messages[1].data, 'base64').toString()).toMatch(/with ESMTPS id/);
    // Commands pipelined before the handshake are discarded.
    const c = await RawPop3.open(t.pop3Port);
    c.write('STLS\r\nUSER evil\r\n');
    expect(await c.line()).toBe('+OK Begin TLS negotiation now.');
    c.close();
    await t.stop();
  });
});
