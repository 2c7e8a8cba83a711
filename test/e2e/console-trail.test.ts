// The console's Trail screen (issue 31 item 2's screen, task item 3), in a real terminal: a
// message sent with smtplib and fetched and deleted with poplib, then the real `vmail console`
// in tmux at 80x24: POP3 Accounts, the account's details (Enter), t: the message's line, newest
// first; Enter opens it into its events (retrieved and deleted by the client); Esc closes it,
// Esc goes back. A forward's trail (t on its row) shows its forwarded copy. (A flooded trail, a
// page at a time: test/unit/trail-screen.test.ts.)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { setup, smtplib } from '../helpers/effects.js';
import { terminal } from '../helpers/tmux.js';

const run = promisify(execFile);
let d: DaemonHandle;

const open = (columns = 80, rows = 24) =>
  terminal(`${process.execPath} ${VMAIL} console --socket ${d.socket}`, { columns, rows });

beforeAll(async () => {
  d = await startDaemon();
  await setup(d, ['alice'], [['team', ['alice@example.test']]]);
  const mail = (id: string) => `From: x@sender.example\r\nSubject: hi\r\nMessage-ID: <${id}>\r\n\r\nbody\r\n`;
  expect((await smtplib(d.smtpPort, 'x@sender.example', ['alice@example.test'], mail('older@sender.example'))).ok).toBe(
    true,
  );
  expect((await smtplib(d.smtpPort, 'x@sender.example', ['team@example.test'], mail('t1@sender.example'))).ok).toBe(
    true,
  );
  await waitFor(async () => {
    const r = await d.cli(['trace', 'alice@example.test', '--json']);
    return (JSON.parse(r.stdout) as { event: string }[]).filter((e) => e.event === 'delivered').length >= 2 ? 1 : null;
  }, 'both copies delivered');
  const script = join(ROOT, 'test/helpers/pop3_fetch_delete.py');
  const r = await run('python3', [script, String(d.pop3Port), 'alice@example.test', 'password-1']);
  expect(r.stdout).toMatch(/"quit": "\+OK/);
  await waitFor(async () => {
    const t = await d.cli(['trace', 'alice@example.test', '--json']);
    return (JSON.parse(t.stdout) as { event: string }[]).filter((e) => e.event === 'deleted').length >= 2 ? 1 : null;
  }, 'the deletions in the trail');
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('the Trail screen at 80x24', () => {
  it('account details, t: the message just fetched, newest first; Enter opens its events; Esc, Esc back', async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      await c.look(/alice\s/);
      c.send('Enter');
      await c.look('Mail client settings');
      c.send('t');
      const trail = await c.look('<t1@sender.example>');
      const lines = trail.split('\n');
      const newest = lines.findIndex((l) => l.includes('<t1@sender.example>'));
      const older = lines.findIndex((l) => l.includes('<older@sender.example>'));
      expect(newest).toBeGreaterThan(0);
      expect(older).toBeGreaterThan(newest);
      expect(trail).toMatch(/Trail of alice@example\.test/);
      // The login of no message has its own line.
      expect(trail).toMatch(/login pop3 127\.0\.0\.1 USER/);
      // The selection is on the top line (the login or the message, whichever has the newer
      // event: they can fall in one millisecond): go to the message and open it.
      const loginLine = lines.findIndex((l) => /login pop3/.test(l));
      for (let i = Math.min(loginLine, newest); i < newest; i++) c.send('Down');
      c.send('Enter');
      // The opened message: one line per event, with its full date (the list shows none).
      const open1 = await c.look(/^\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+retrieved by 127\.0\.0\.1/m);
      // It came through the forward team@ (accepted there): here it was delivered.
      expect(open1).toMatch(/^\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+delivered$/m);
      expect(open1).toMatch(/^\s+\d{4}-.*\s+deleted by 127\.0\.0\.1$/m);
      expect(open1.trimEnd().split('\n').length).toBeLessThanOrEqual(24);
      c.send('Escape');
      await waitFor(() => (/retrieved by 127\.0\.0\.1$/m.test(c.shot()) ? null : 1), 'the events closed');
      c.send('Escape');
      await c.look('Mail client settings');
    } finally {
      c.close();
    }
  });

  it("t on a forward's row: its trail with the forwarded copy", async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('2');
      await c.look(/team\s/);
      c.send('t');
      const trail = await c.look('<t1@sender.example>');
      expect(trail).toMatch(/Trail of team@example\.test: 1 messages/);
      expect(trail).toMatch(/<t1@sender\.example>: .*accepted from <x@sender\.example>/);
      c.send('Enter');
      const opened = await c.look(/^\s+\d{4}-.*\s+forwarded to <alice@example\.test>$/m);
      expect(opened).toMatch(/^\s+\d{4}-.*\s+accepted from <x@sender\.example> via 127\.0\.0\.1/m);
      c.send('Escape');
      c.send('Escape');
      await c.look(/team\s.*alice@example\.test/);
    } finally {
      c.close();
    }
  });
});
