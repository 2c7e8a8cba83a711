// Hostile test of round 7's console (Ink 6.8 under @alcalzone/ansi-tokenize 0.3.2): an
// outsider's escape sequences (SGR colours, OSC 8 link, OSC 0 title, cursor moves, C1 CSI, lone
// ESC) in a Message-ID (a HELO holding them is refused), shown on the real console's Trail screen in tmux at
// 80x24. Judged by what the terminal got (capture-pane -e): the text made visible, no title set,
// no colour or cursor move of the outsider's; the title still bold and the selection inverse.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { setup } from '../helpers/effects.js';
import { RawSmtp } from '../helpers/smtp-raw.js';
import { terminal } from '../helpers/tmux.js';

let d: DaemonHandle;
const ESC = '\u001b';
/** Every kind of sequence an outsider may try, in a Message-ID (bytes as sent, latin1). */
const EVIL_ID = `<a\u009b7m${ESC}Z${ESC}[5;5H${ESC}[31mRED${ESC}]8;;http://evil.example/${ESC}\\LINK${ESC}]8;;${ESC}\\${ESC}]0;PWNED${'\u0007'}${ESC}[2J@evil.example>`;
const EVIL_HELO = `h${ESC}[44mBLUE${ESC}]0;HELOTITLE${'\u0007'}`;

beforeAll(async () => {
  d = await startDaemon();
  await setup(d, ['alice']);
  const s = await RawSmtp.open(d.smtpPort);
  try {
    expect((await s.reply())?.code).toBe(220);
    // A HELO holding escapes is refused at the door (it never reaches the trail).
    expect((await s.cmd(`HELO ${EVIL_HELO}`))?.code).toBe(501);
    expect((await s.cmd('HELO h.sender.example'))?.code).toBe(250);
    expect((await s.cmd('MAIL FROM:<x@sender.example>'))?.code).toBe(250);
    expect((await s.cmd('RCPT TO:<alice@example.test>'))?.code).toBe(250);
    expect((await s.cmd('DATA'))?.code).toBe(354);
    // Byte for byte (latin1): 0x9b is the C1 CSI itself, not UTF-8's two bytes for it.
    s.write(
      Buffer.from(`From: x@sender.example\r\nMessage-ID: ${EVIL_ID}\r\nSubject: hi\r\n\r\nbody\r\n.\r\n`, 'latin1'),
    );
    expect((await s.reply())?.code).toBe(250);
  } finally {
    s.close();
  }
  await waitFor(async () => {
    const r = await d.cli(['trace', 'alice@example.test', '--json']);
    return (JSON.parse(r.stdout) as { event: string }[]).some((e) => e.event === 'delivered') ? 1 : null;
  }, 'the message delivered');
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('the Trail screen with an outsider escape sequences', () => {
  it('shows them as text, sets no title, draws no colour of theirs; the title bold and the selection inverse as before', async () => {
    const c = terminal(`${process.execPath} ${VMAIL} console --socket ${d.socket}`, { columns: 80, rows: 24 });
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      await c.look(/alice\s/);
      c.send('Enter');
      await c.look('Mail client settings');
      c.send('t');
      const plain = await c.look('Trail of alice@example.test: 1 messages');
      c.send('Enter');
      const opened = await c.look(/^\s+\d{4}-.*accepted from/m);
      const raw = execFileSync('tmux', ['capture-pane', '-e', '-p', '-t', c.name], { encoding: 'utf8' });
      const title = execFileSync('tmux', ['display-message', '-p', '-t', c.name, '#{pane_title}'], {
        encoding: 'utf8',
      });
      // Shown as text, the escapes made visible.
      expect(plain).toContain('<a\\x9b7m\\x1bZ\\x1b[5;5H\\x1b[31mRED\\x1b]8;;http://evil');
      expect(opened).toMatch(/accepted from <x@sender\.example> via 127\.0\.0\.1 \(h\.sender/);
      // No title of theirs, no screen cleared, the layout whole: the title line first, footer last.
      expect(title).not.toMatch(/PWNED|HELOTITLE/);
      const lines = opened.split('\n');
      expect(lines[0]).toMatch(/^vmail example\.test › Trail\s+● connected/);
      expect(lines[2]).toMatch(/^Trail of alice@example\.test/);
      expect(lines.filter((l) => l.trim()).at(-1)).toMatch(/^Enter its events\s+Esc back/);
      expect(lines.length).toBeLessThanOrEqual(25);
      // The terminal got no colour the outsider asked for (31 red, 44 blue) and no link.
      expect(raw).not.toMatch(/\u001b\[(\d+;)*31m|\u001b\[(\d+;)*44m|\u001b\]8;/);
      // The title bold, the selected message's line inverse (as drawn before the change).
      const rawLines = raw.split('\n');
      /** The SGR parameters in force where `text` starts on `line` (tmux writes them just before). */
      const styleAt = (line: string | undefined, text: string | RegExp) =>
        (line ?? '')
          .slice(0, (line ?? '').search(text))
          .match(/\u001b\[[0-9;]*m/g)
          ?.join('') ?? '';
      expect(styleAt(rawLines[2], 'Trail of')).toMatch(/[[;]1[;m]/);
      const sel = rawLines.find((l) => l.includes('<a\\x9b7m'));
      expect(styleAt(sel, '<a\\x9b')).toMatch(/[[;]7[;m]/);
      // The inverse ends on its line: the events under it are not inverse.
      const ev = rawLines.find((l) => /accepted from/.test(l) && /^\s*(\u001b\[[0-9;]*m)*\s+\d{4}-/.test(l));
      expect(ev, raw).toBeDefined();
      expect(styleAt(ev, /\d{4}-/)).not.toMatch(/[[;]7[;m]/);
    } finally {
      c.close();
    }
  });
});

describe('the History screen (and vmail log) with escape sequences in a refused request', () => {
  it("a refused add's name holding an OSC title, SGR red and a C1 CSI shows as text: no title set, no colour of theirs", async () => {
    const evil = `a${ESC}]0;HISTTITLE\u0007${ESC}[31mRED\u009b2J${ESC}[1;1Hb@example.test`;
    const r = await d.cli(['accounts', 'add', evil, '--password-stdin'], 'password-1\n');
    expect(r.code).toBe(1);
    // `vmail log` (the same entries as text) writes no control byte of theirs either.
    const log = await d.cli(['log']);
    expect(log.code).toBe(0);
    expect(log.stdout).toMatch(/a\\x1b\]0;histtitle\\x07/i);
    expect(log.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const c = terminal(`${process.execPath} ${VMAIL} console --socket ${d.socket}`, { columns: 80, rows: 24 });
    try {
      await c.look('1. POP3 Accounts');
      c.send('8');
      const plain = await c.look(/a\\x1b\]0;histtitle/i);
      const raw = execFileSync('tmux', ['capture-pane', '-e', '-p', '-t', c.name], { encoding: 'utf8' });
      const title = execFileSync('tmux', ['display-message', '-p', '-t', c.name, '#{pane_title}'], {
        encoding: 'utf8',
      });
      expect(title).not.toMatch(/HISTTITLE/);
      expect(raw).not.toMatch(/\u001b\[(\d+;)*31m/);
      // The name's text is on the row, its control bytes made visible.
      expect(plain).toMatch(/a\\x1b\]0;histtitle\\x07/i);
    } finally {
      c.close();
    }
  });
});
