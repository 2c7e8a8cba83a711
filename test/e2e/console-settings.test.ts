// Issue 26, items 7 and 5: the real `vmail console` in tmux at 80x24 against the real daemon
// (started with --hostname, a certificate and a POP3S port). Mail Client Settings shows what a
// mail client needs, as the daemon listens, and p prints it to a file; a pending change of a
// password and a quota is named whole where the admin decides about it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, selfSignedCert, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { tmux } from '../helpers/tmux.js';

const PREFIX = `vmail-settings-${process.pid}`;

let d: DaemonHandle;
let pop3s: number;

beforeAll(async () => {
  const { cert, key } = await selfSignedCert();
  d = await startDaemon({
    applyInterval: '1h',
    args: ['--hostname', 'mail.example.test', '--tls-cert', cert, '--tls-key', key, '--pop3s', '127.0.0.1:0'],
  });
  await d.cli(['accounts', 'add', 'alice', '--password-stdin'], 'password-1\n');
  await d.cli(['accounts', 'add', 'margaret.fitzgerald-jones', '--password-stdin'], 'password-1\n');
  await d.cli(['pending', 'apply']);
  pop3s = JSON.parse((await d.cli(['status', '--json'])).stdout).pop3s.port;
});

afterAll(async () => {
  await d?.stop();
});

/** A console in its own tmux session at 80x24, started in `cwd`. */
function consoleIn(name: string, cwd = tempDir()) {
  const session = `${PREFIX}-${name}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '80',
    '-y',
    '24',
    '-c',
    cwd,
    `${process.execPath} ${VMAIL} console --socket ${d.socket}; sleep 60`,
  );
  const shot = () => tmux('capture-pane', '-p', '-t', session);
  const look = (text: string | RegExp) =>
    waitFor(() => {
      const s = shot();
      return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
    }, `the console to show ${text}`).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
    });
  const send = (...k: string[]) => tmux('send-keys', '-t', session, ...k);
  const close = () => {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      // already gone: the test ended it
    }
  };
  return { session, cwd, shot, look, send, close };
}

/** The lines of the page on screen: between the header's rule and the footer, right-trimmed. */
function pageLines(screen: string): string[] {
  const lines = screen.split('\n').map((l) => l.trimEnd());
  const start = lines.findIndex((l) => /^─+$/.test(l)) + 1;
  return lines.slice(start, start + 20).filter((l) => l !== '');
}

describe('Mail Client Settings at 80x24', () => {
  it('shows the configured host, both POP3 ports with their TLS mode, and the user name that works', async () => {
    const c = consoleIn('show');
    try {
      await c.look('1. POP3 Accounts');
      c.send('4');
      const page = await c.look(/Incoming server\s+mail\.example\.test/);
      expect(page).not.toMatch(/Incoming server\s+(?!\s|mail\.example\.test)/);
      expect(page).toMatch(new RegExp(`Port ${pop3s}\\s+POP3S: SSL/TLS from the first byte \\(implicit TLS\\)`));
      expect(page).toMatch(new RegExp(`Port ${d.pop3Port}\\s+POP3 with STARTTLS \\(STLS\\)`));
      // One domain hosted: the bare name logs in, and the page says why.
      expect(page).toMatch(/Username\s+NAME {2}\(NAME@example\.test works too\)/);
      expect(page).toContain('This server hosts one domain, so the bare name is enough.');
      expect(page).toMatch(/passwords are refused without TLS/);
      // Nothing on the page is cut at the 80th column: every line ends inside the screen.
      for (const l of pageLines(page)) expect(l.length, l).toBeLessThan(80);
      // The outgoing server: this one, submission with STARTTLS, the full address as user name.
      c.send('PageDown');
      // (PageDown may scroll the Outgoing line itself off the top; the file below has it whole.)
      const outgoing = await c.look(/Port \d+\s+STARTTLS, then the password/);
      expect(outgoing).toMatch(/Username\s+your full address, NAME@example\.test/);
    } finally {
      c.close();
    }
  }, 60_000);

  it('p prints the page to a file in the console directory, the same lines as on screen and in the CLI', async () => {
    const c = consoleIn('print');
    const file = join(c.cwd, 'vmail-settings-example.test.txt');
    try {
      await c.look('1. POP3 Accounts');
      c.send('4');
      const page = await c.look(/Incoming server\s+mail\.example\.test/);
      await c.look(/p[: ]print to a file/);
      c.send('p');
      await c.look(/Printed to .*vmail-settings-example\.test\.txt/);
      const text = readFileSync(file, 'utf8');
      const printed = text.split('\n').map((l) => l.trimEnd());
      // Every line on screen is in the file, in the same order.
      let at = 0;
      for (const l of pageLines(page).slice(0, -1)) {
        const found = printed.indexOf(l, at);
        expect(found, `"${l}" in the file after line ${at}`).toBeGreaterThanOrEqual(at);
        at = found + 1;
      }
      expect(text).toMatch(/Outgoing \(SMTP\)\s+mail\.example\.test/);
      // The CLI prints the very same page.
      const cli = await d.cli(['domains', 'settings', 'example.test']);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toBe(text);
    } finally {
      c.close();
    }
  }, 60_000);

  it('takes 4 and p typed in one burst from the menu, and prints once the screen is up', async () => {
    const c = consoleIn('burst');
    const file = join(c.cwd, 'vmail-settings-example.test.txt');
    try {
      await c.look('1. POP3 Accounts');
      // One write: the screen and its key before the screen has answered.
      c.send('4p');
      await c.look(/Printed to .*vmail-settings-example\.test\.txt/);
      expect(readFileSync(file, 'utf8')).toContain('mail.example.test');
      // A resize while on the page, then back: the page is drawn again whole, and prints again.
      tmux('resize-window', '-t', c.session, '-x', '120', '-y', '40');
      await c.look(/Incoming server\s+mail\.example\.test/);
      tmux('resize-window', '-t', c.session, '-x', '80', '-y', '24');
      await c.look(/Incoming server\s+mail\.example\.test/);
    } finally {
      c.close();
    }
  }, 60_000);

  it('says so when the file cannot be written, and writes nothing else', async () => {
    const dir = tempDir();
    execFileSync('chmod', ['555', dir]);
    const c = consoleIn('readonly', dir);
    try {
      await c.look('1. POP3 Accounts');
      c.send('4');
      await c.look(/Incoming server/);
      c.send('p');
      // root writes anywhere; anyone else is told why not.
      const shown = await c.look(/Printed to|Not printed/);
      if (process.getuid?.() !== 0) expect(shown).toMatch(/Not printed: .*vmail-settings-example\.test\.txt/);
      else expect(existsSync(join(dir, 'vmail-settings-example.test.txt'))).toBe(true);
    } finally {
      c.close();
    }
  }, 60_000);
});

describe('a pending change of a password and a quota, named whole (item 5)', () => {
  it('shows both in STATUS, in DETAIL and in the cancel prompt; y cancels both', async () => {
    const address = 'margaret.fitzgerald-jones@example.test';
    await d.cli(['accounts', 'passwd', address, '--password-stdin'], 'new-password-9\n');
    await d.cli(['accounts', 'quota', address, '5M']);
    const queued = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout);
    expect(queued).toHaveLength(1);
    expect(queued[0].parts).toEqual(['password', 'quota']);
    const c = consoleIn('pending');
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      // STATUS names both parts (how wide NAME and STATUS are at 80 columns is item 3's).
      await c.look(/margaret.* password change \+ quota/);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('3');
      await c.look(/1 pending change in example\.test/);
      await c.look(/quota\s+5(\.0)? MB;\s+new\s+password/);
      c.send('c');
      const prompt = await c.look(/\[y\/N\]/);
      // The question, on the one or two lines it takes above the footer.
      const lines = prompt.split('\n');
      const at = lines.findIndex((l) => l.includes('[y/N]'));
      const line = lines
        .slice(at - 1, at + 1)
        .map((l) => l.trim())
        .join(' ');
      expect(line).toMatch(/^Cancel all 2 parts/);
      expect(line).toContain('password change');
      expect(line).toContain('quota change');
      expect(line).toContain(address);
      c.send('y');
      await c.look(/Cancelled: password change \+ quota change/);
      expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toEqual([]);
    } finally {
      c.close();
    }
  }, 60_000);
});

describe('vmail domains settings with two domains hosted', () => {
  it('asks for the whole address, and says why', async () => {
    await d.cli(['domains', 'add', 'other.test']);
    await d.cli(['pending', 'apply']);
    const r = await d.cli(['domains', 'settings', 'other.test']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Username\s+the whole address: NAME@other\.test/);
    expect(r.stdout).toContain('This server hosts 2 domains: a bare name could be any');
    expect(r.stdout).toMatch(/Incoming server\s+mail\.example\.test/);
    const unknown = await d.cli(['domains', 'settings', 'nowhere.test']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/nowhere\.test is not hosted here/);
  }, 60_000);
});
