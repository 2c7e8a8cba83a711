// The real `vmail console` in a real terminal (tmux, 80x24) against the real daemon: walk the
// menu, add an account with keys sent in one burst, resize, and quit back to the shell.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { tmux } from '../helpers/tmux.js';

const SESSION = `vmail-e2e-${process.pid}`;
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

async function see(text: string | RegExp): Promise<string> {
  return waitFor(() => {
    const s = screen();
    return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
  }, `the terminal to show ${text}`).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
  });
}

let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon({ applyInterval: '1h' });
  await d.cli(['accounts', 'add', 'alice', '--password-stdin'], 'password-1\n');
  await d.cli(['pending', 'apply']);
  const cmd = `printf 'BEFORE-CONSOLE\\n'; ${process.execPath} ${VMAIL} console --socket ${d.socket}; echo "CONSOLE-EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', cmd);
});

afterAll(async () => {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // already gone
  }
  await d?.stop();
});

/** A second console in its own tmux session, to walk a feature through; `menuKey` is its screen. */
function walkSession(name: string, menuKey: string, screenTitle: string) {
  const walk = `${SESSION}-${name}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    walk,
    '-x',
    '80',
    '-y',
    '24',
    `${process.execPath} ${VMAIL} console --socket ${d.socket}`,
  );
  const shot = () => tmux('capture-pane', '-p', '-t', walk);
  const look = (text: string | RegExp) =>
    waitFor(() => {
      const s = shot();
      return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
    }, `the console to show ${text}`).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
    });
  const send = (...k: string[]) => tmux('send-keys', '-t', walk, ...k);
  /** Applies every pending change from Pending Changes, then comes back to the screen. */
  const applyNow = async () => {
    send('Escape');
    await look('1. POP3 Accounts');
    send('3');
    await look(/pending change/);
    send('A');
    await look(/Apply the \d+ pending change\(s\) of example\.test now/);
    send('y');
    await look(/Applied \d+ change\(s\) of example\.test now/);
    send('Escape');
    await look('1. POP3 Accounts');
    send(menuKey);
    await look(screenTitle);
  };
  return { walk, look, send, applyNow, close: () => tmux('kill-session', '-t', walk) };
}

describe('vmail console in tmux at 80x24', () => {
  it('walks the menu, takes a burst of keys, survives a resize, and restores the screen on quit', async () => {
    const menu = await see('1. POP3 Accounts');
    expect(menu).toMatch(/vmail example\.test › Main menu/);
    expect(menu).toContain('● connected');
    expect(menu.replace(/\n$/, '').split('\n')).toHaveLength(24);
    expect(menu.split('\n')[0]).toMatch(/^vmail example\.test/);

    keys('Enter');
    await see('Add a POP3 account');
    // Every key of the screen fits the 80-column footer, on two lines.
    await see(
      /a:add p:passwd l:quota z:suspend r:rename d:remove u:undo \/:filter S:search all\s*\n\s*s:sort i:import Enter:info Esc:menu \?:help q:quit/,
    );
    // One write: a, the name, Tab, the password, Enter.
    keys('aburst', 'Tab', 'password-22', 'Enter');
    await see(/Queued: add burst@example\.test/);
    await see(/burst\s+0\s+0 B\s+-\s+-\s+add in/);

    // Pasted into every field: tmux sends a literal string in one write, as a terminal does a paste.
    keys('a');
    await see(/Add a POP3 account: \[ \]/);
    tmux('send-keys', '-l', '-t', SESSION, 'pasted-name');
    keys('Tab');
    tmux('send-keys', '-l', '-t', SESSION, 'a pasted password, with spaces');
    keys('Enter');
    await see(/Queued: add pasted-name@example\.test/);
    keys('f');
    tmux('send-keys', '-l', '-t', SESSION, 'pasted');
    await see(/Filter: \[pasted \] {2}1 of 3/);
    keys('Escape');
    await new Promise((r) => setTimeout(r, 100));
    keys('C-u');

    keys('Escape');
    await see('1. POP3 Accounts');
    keys('2');
    await see('Add a forwarding address');
    keys('Escape');
    await new Promise((r) => setTimeout(r, 100));
    keys('3');
    await see(/2 pending changes in example\.test/);
    keys('Escape');
    await new Promise((r) => setTimeout(r, 100));
    keys('4');
    await see('Incoming server');
    keys('Escape');
    await new Promise((r) => setTimeout(r, 100));
    keys('5');
    // Domains: the managed one marked, its applied account, its two pending adds.
    await see(/›●example\.test\s+1\s+0\s+0\s+0 B\s+2 pending/);
    keys('Escape');
    await new Promise((r) => setTimeout(r, 100));
    keys('9');
    await see('How vmail works');
    keys('Escape');
    await see('1. POP3 Accounts');

    tmux('resize-window', '-t', SESSION, '-x', '20', '-y', '5');
    await see('Terminal too small');
    tmux('resize-window', '-t', SESSION, '-x', '80', '-y', '24');
    await see('1. POP3 Accounts');

    // Colors are on: the status line is green.
    expect(tmux('capture-pane', '-e', '-p', '-t', SESSION)).toMatch(/\u001b\[(?:[0-9;]*;)?3[0-7]m/);

    keys('q');
    const after = await see('CONSOLE-EXIT=0');
    // The alternate screen is gone: what was on the terminal before is back.
    expect(after).toContain('BEFORE-CONSOLE');
    expect(after).not.toContain('POP3 Accounts');
  }, 60_000);

  it('walks a forward through the console: add, edit, remove, apply now; checked by SMTP', async () => {
    const { smtpSend } = await import('../helpers/effects.js');
    const { walk, look, send, applyNow, close } = walkSession('fwd', '2', 'Add a forwarding address');
    try {
      await look('1. POP3 Accounts');
      send('2');
      await look('Add a forwarding address');
      // Add, in one burst: a, the name, Tab, the destination, Enter.
      send('ainfo', 'Tab', 'alice@example.test', 'Enter');
      await look(/Queued: add info@example\.test -> alice@example\.test/);
      expect((await smtpSend(d.smtpPort, 'info@example.test', 'before-apply')).code).toBe(550);
      await applyNow();
      await look(/info\s+alice@example\.test\s+active/);
      expect((await smtpSend(d.smtpPort, 'info@example.test', 'after-add')).accepted).toBe(true);
      // Edit the destinations: Enter on the row, clear, type the new one.
      send('Enter');
      await look(/Forward info@example\.test to: \[alice@example\.test/);
      send('C-u');
      tmux('send-keys', '-l', '-t', walk, 'outside@far.example');
      send('Enter');
      await look(/Queued: destination change info@example\.test -> outside@far\.example/);
      await applyNow();
      await look(/info\s+outside@far\.example\s+active/);
      // Remove, answering the question.
      send('d');
      await look('Remove info@example.test? Mail to it is refused after the next apply. [y/N]');
      send('y');
      await look(/Queued: removal of info@example\.test/);
      await applyNow();
      await look('No forwarding addresses in example.test yet');
      expect((await smtpSend(d.smtpPort, 'info@example.test', 'after-remove')).code).toBe(550);
      expect(JSON.parse((await d.cli(['forwards', 'list', '--json'])).stdout)).toEqual([]);
    } finally {
      close();
    }
  }, 60_000);

  it('walks a quota and a suspension through the console; checked by POP3 and SMTP', async () => {
    const { pop3Login, smtpSend } = await import('../helpers/effects.js');
    const { look, send, applyNow, close } = walkSession('policy', '1', 'Add a POP3 account');
    try {
      expect((await smtpSend(d.smtpPort, 'alice@example.test', 'some mail')).accepted).toBe(true);
      await look('1. POP3 Accounts');
      send('1');
      await look(/› alice /);
      // l: the quota field, for the selected account.
      send('l');
      await look(/Quota for alice@example\.test: \[/);
      send('2K', 'Enter');
      await look(/Queued: quota change alice@example\.test/);
      await applyNow();
      await look(/alice\s+\d+\s+\d+ B\s+\d+% 2K\s/);
      // z: suspended once applied; POP3 refuses it, SMTP still delivers to it.
      // z asks first, as d does.
      send('z');
      await look(/Suspend alice@example\.test\? .*\[y\/N\]/);
      send('y');
      await look(/Queued: suspension of alice@example\.test/);
      await applyNow();
      // Its mail has never been fetched, and the status says that too.
      await look(/alice .* suspended, never fetched\s*$/m);
      const refused = await pop3Login(d.pop3Port, 'alice', 'password-1');
      expect(refused.error).toMatch(/\[SYS\/PERM\] This account is suspended/);
      expect((await smtpSend(d.smtpPort, 'alice@example.test', 'while suspended')).accepted).toBe(true);
      // z again resumes it.
      send('z');
      await look(/Resume alice@example\.test\? .*\[y\/N\]/);
      send('y');
      await look(/Queued: resumption of alice@example\.test/);
      await applyNow();
      await look(/alice .* active, never fetched\s*$/m);
      expect((await pop3Login(d.pop3Port, 'alice', 'password-1')).ok).toBe(true);
      // Sorted by how full the mailboxes are: s twice.
      send('s', 's');
      await look(/sorted by quota/);
    } finally {
      close();
    }
  }, 60_000);

  it('honours NO_COLOR', async () => {
    const plain = `${SESSION}-plain`;
    tmux(
      'new-session',
      '-d',
      '-s',
      plain,
      '-x',
      '80',
      '-y',
      '24',
      `NO_COLOR=1 ${process.execPath} ${VMAIL} console --socket ${d.socket}`,
    );
    try {
      const shot = await waitFor(() => {
        const s = tmux('capture-pane', '-e', '-p', '-t', plain);
        return s.includes('● connected') ? s : null;
      }, 'the console without colors');
      expect(shot).not.toMatch(/\u001b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38)(?:;[0-9;]*)?m/);
      expect(shot).toContain('1. POP3 Accounts');
    } finally {
      tmux('kill-session', '-t', plain);
    }
  });

  it('walks Needs Attention, History and Search across two domains, and jumps to what it finds', async () => {
    await d.cli(['domains', 'add', 'other.test']);
    await d.cli(['pending', 'apply']);
    await d.cli(['accounts', 'add', 'bob@other.test', '--password-stdin'], 'password-2\n');
    await d.cli(['forwards', 'add', 'sales@other.test', 'alice@example.test']);
    await d.cli(['pending', 'apply']);
    const { smtpSend } = await import('../helpers/effects.js');
    expect((await smtpSend(d.smtpPort, 'bob@other.test', 'waiting mail')).accepted).toBe(true);
    const { look, send, close } = walkSession('oversight', '6', 'Needs Attention');
    try {
      // Two domains: the console asks which to manage first.
      await look(/other\.test/);
      send('Enter');
      // The menu says at once that mail is waiting uncollected.
      await look(/⚠ \d mailbox(es)? on your domains ha(s|ve) mail nobody collects/);
      send('6');
      await look(/bob@other\.test\s+never fetched\s+1\s/);
      // Enter goes to bob on his own domain, whichever was open.
      send('j', 'k');
      const row = await look(/› bob@other\.test/);
      expect(row).toMatch(/› bob@other\.test/);
      send('Enter');
      await look(/other\.test › POP3 Accounts/);
      await look(/› bob\s/);
      // h: who changed bob, and when.
      send('h');
      await look(/History/);
      await look(/root\s+apply\s+bob@other\.test\s+applied add/);
      await look(/root\s+accounts\.add\s+bob@other\.test\s+queued add/);
      send('a');
      await look(/forwards\.add\s+sales@other\.test/);
      // Esc goes back where History was opened from: bob's table, then the menu.
      send('Escape');
      await look(/other\.test › POP3 Accounts/);
      // The jump filtered the list down to bob: Esc drops that filter first, then leaves.
      send('Escape');
      await look(/1 account, sorted by name/);
      send('Escape');
      await look('1. POP3 Accounts');
      // / searches names and destinations on every domain; Enter jumps to the forward.
      send('/');
      await look('Search every domain');
      send('alice@ex');
      await look(/sales@other\.test\s+forward\s+to alice@example\.test/);
      await look(/alice@example\.test\s+account/);
      send('Down');
      await look(/› sales@other\.test/);
      send('Enter');
      await look(/other\.test › Email Forwarding/);
      await look(/› sales\s/);
    } finally {
      close();
    }
  }, 60_000);

  it('imports a CSV through the console: the preview, Esc while hashing queues nothing, s queues the good rows', async () => {
    const { pop3Login } = await import('../helpers/effects.js');
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tempDir } = await import('../helpers/daemon.js');
    const file = join(tempDir(), 'people.csv');
    const rows = Array.from({ length: 150 }, (_, i) => `imp${i};imp-pass-${i};`);
    rows[4] = 'bad name;imp-pass-x;';
    writeFileSync(file, `name;password;quota\r\n${rows.join('\r\n')}\r\n`);
    const before = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout).length;
    const { look, send, close } = walkSession('import', '1', 'Add a POP3 account');
    try {
      await look(/other\.test/);
      send('Enter');
      await look('1. POP3 Accounts');
      send('1');
      await look('Add a POP3 account');
      send('i');
      await look('Import accounts into example.test from CSV');
      send(file, 'Enter');
      await look(/row 2: add account imp0@example\.test/);
      await look(/row 6: refused "bad name": invalid name/);
      await look(/1 row\(s\) refused: s queues the other 149/);
      // s starts it; Esc while the passwords are hashed stops it, and nothing is queued.
      send('s');
      await look(/Hashing passwords \[#*\.*\] \d+\/149 +\d+\/s/);
      send('Escape');
      await look(/stopped: nothing was queued/);
      expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toHaveLength(before);
      // Again, to the end.
      send('Enter');
      await look(/1 row\(s\) refused/);
      send('s');
      await look(/Queued 149 change\(s\), skipped 1 refused row\(s\)/);
      expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toHaveLength(before + 149);
      await d.cli(['pending', 'apply']);
      expect((await pop3Login(d.pop3Port, 'imp7@example.test', 'imp-pass-7')).ok).toBe(true);
    } finally {
      close();
    }
  }, 90_000);
});
