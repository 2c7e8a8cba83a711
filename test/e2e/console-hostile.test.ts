// A hostile tester's console tests (issue 26): the real `vmail console` in tmux at 80x24 against
// the real daemon. What a terminal can send that the key gate did not expect (a paste that
// never ends, a paste's end mark split over two reads, an end mark inside the pasted text), and
// where the Mail Client Settings page's `p` writes (a symbolic link, a hard link, a FIFO named
// as its file). Judged by the captured screen, the console's exit status, the files on disk and
// what the daemon queued.
import { execFileSync } from 'node:child_process';
import { linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { tmux } from '../helpers/tmux.js';

const PREFIX = `vmail-hostile-${process.pid}`;
const FILE = 'vmail-settings-example.test.txt';

let d: DaemonHandle;
let n = 0;

beforeAll(async () => {
  d = await startDaemon({ applyInterval: '1h' });
  await d.cli(['accounts', 'add', 'alice', '--password-stdin'], 'password-1\n');
  await d.cli(['accounts', 'add', 'bob', '--password-stdin'], 'password-1\n');
  await d.cli(['pending', 'apply']);
});

afterAll(async () => {
  await d?.stop();
});

interface Pending {
  address: string;
  action: string;
}
const pending = async (): Promise<Pending[]> => JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout);

/** A console of its own in tmux at 80x24, started in `cwd`; its exit status is printed after it. */
function terminal(cwd = tempDir()) {
  const name = `${PREFIX}-${++n}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    name,
    '-x',
    '80',
    '-y',
    '24',
    '-c',
    cwd,
    `${process.execPath} ${VMAIL} console --socket ${d.socket}; echo "CONSOLE-EXIT=$?"; sleep 60`,
  );
  const shot = () => tmux('capture-pane', '-p', '-t', name);
  const look = (text: string | RegExp, timeoutMs?: number) =>
    waitFor(
      () => {
        const s = shot();
        return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
      },
      `the console to show ${text}`,
      timeoutMs,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
    });
  const send = (...k: string[]) => tmux('send-keys', '-t', name, ...k);
  /** Bytes exactly as given, in one write to the terminal (as a terminal sends what it is given). */
  const raw = (text: string) =>
    tmux('send-keys', '-t', name, '-H', ...[...Buffer.from(text, 'utf8')].map((b) => b.toString(16).padStart(2, '0')));
  /** Bytes exactly as given, written to the terminal by tmux in one go (for what is too long for send-keys). */
  const rawLong = (text: string) => {
    const file = join(tempDir(), 'bytes');
    writeFileSync(file, text);
    tmux('load-buffer', '-b', name, file);
    tmux('paste-buffer', '-r', '-d', '-b', name, '-t', name);
  };
  const close = () => {
    try {
      tmux('kill-session', '-t', name);
    } catch {
      // already gone
    }
  };
  return { name, cwd, shot, look, send, raw, rawLong, close };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pastes the key gate did not expect', () => {
  it('a paste that never ends (ESC[200~ and no end mark) does not take every later key: Ctrl-C still quits', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      t.send('a');
      await t.look(/Add a POP3 account: \[ \]/);
      // The start mark and some text, and then nothing: a terminal cut off, a paste with a stray
      // start mark sent by a terminal without bracketed paste, a cat of a file to the tty.
      t.raw('\u001b[200~abc');
      // Once nothing more comes, what came is the paste: it lands in the field...
      await t.look(/Add a POP3 account: \[abc/);
      // ...and the keys are the admin's again: Ctrl-C quits as it always does.
      t.send('C-c');
      await t.look('CONSOLE-EXIT=130');
    } finally {
      t.close();
    }
  }, 60_000);

  it("a paste's end mark split over two reads (a slow link) still ends the paste; the next key is a key", async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      t.send('a');
      await t.look(/Add a POP3 account: \[ \]/);
      // The end mark's first bytes in one read, its last two in the next, 200 ms later (longer
      // than a lone Escape is waited for).
      t.raw('\u001b[200~xyz\u001b[20');
      await sleep(200);
      t.raw('1~');
      t.raw('Q');
      await t.look(/Add a POP3 account: \[xyzQ/);
      const s = t.shot();
      expect(s).not.toContain('1~');
      t.send('C-c');
      await t.look('CONSOLE-EXIT=130');
    } finally {
      t.close();
    }
  }, 60_000);

  it('an end mark inside the pasted text does not turn the rest of the paste into commands (d, y)', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look(/alice\s/);
      // The list has the keys (no field): a paste is dropped whole, never run as commands. This
      // one carries an end mark of its own, as text copied from a hostile page or mail would,
      // sent as a terminal that does not filter pasted escapes sends it.
      t.raw('\u001b[200~x\u001b[201~dy\u001b[201~');
      // A key after the paste: once Help shows, everything before it has been acted on.
      t.send('?');
      await t.look('Keys on POP3 Accounts');
      expect(t.shot()).not.toMatch(/Queued: removal/);
      expect((await pending()).filter((p) => p.action === 'remove')).toEqual([]);
    } finally {
      t.close();
    }
  }, 60_000);
});

describe('pastes the key gate did not expect, longer than one read', () => {
  it('an end mark inside a long paste (its real end in a later read) does not run the rest as commands', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look(/alice\s/);
      // 60 KB after the inner end mark: the terminal's end mark comes several reads later.
      t.rawLong(`\u001b[200~x\u001b[201~dy${'x'.repeat(60_000)}\u001b[201~`);
      t.send('?');
      await t.look('Keys on POP3 Accounts', 30_000);
      expect((await pending()).filter((p) => p.action === 'remove')).toEqual([]);
    } finally {
      t.close();
    }
  }, 90_000);
});

describe("Mail Client Settings' p writes only a plain file of its own name", () => {
  it('does not follow a symbolic link named vmail-settings-DOMAIN.txt: the file it points at stays as it was', async () => {
    const cwd = tempDir();
    const victim = join(tempDir(), 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(cwd, FILE));
    const t = terminal(cwd);
    try {
      await t.look('1. POP3 Accounts');
      t.send('4');
      await t.look('Incoming server');
      t.send('p');
      await t.look(/Printed to|Not printed/);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      await t.look(/Not printed: .*vmail-settings-example\.test\.txt/);
    } finally {
      t.close();
    }
  }, 60_000);

  it('does not write through a hard link named vmail-settings-DOMAIN.txt', async () => {
    const cwd = tempDir();
    const victim = join(cwd, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    linkSync(victim, join(cwd, FILE));
    const t = terminal(cwd);
    try {
      await t.look('1. POP3 Accounts');
      t.send('4');
      await t.look('Incoming server');
      t.send('p');
      await t.look(/Printed to|Not printed/);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      await t.look(/Not printed: .*vmail-settings-example\.test\.txt/);
    } finally {
      t.close();
    }
  }, 60_000);

  it('a FIFO named vmail-settings-DOMAIN.txt: p says why not, and the keys are not held (Esc goes back)', async () => {
    const cwd = tempDir();
    execFileSync('mkfifo', [join(cwd, FILE)]);
    const t = terminal(cwd);
    try {
      await t.look('1. POP3 Accounts');
      t.send('4');
      await t.look('Incoming server');
      t.send('p');
      await t.look(/Not printed: .*vmail-settings-example\.test\.txt/);
      t.send('Escape');
      await t.look('1. POP3 Accounts');
      t.send('q');
      await t.look('CONSOLE-EXIT=0');
    } finally {
      t.close();
    }
  }, 60_000);

  it('a plain file of that name from an earlier print is written again', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, FILE), 'an older print\n');
    const t = terminal(cwd);
    try {
      await t.look('1. POP3 Accounts');
      t.send('4');
      await t.look('Incoming server');
      t.send('p');
      await t.look(/Printed to .*vmail-settings-example\.test\.txt/);
      const text = readFileSync(join(cwd, FILE), 'utf8');
      expect(text).not.toContain('an older print');
      expect(text).toContain('Incoming server');
    } finally {
      t.close();
    }
  }, 60_000);
});

describe('a daemon that stops answering mid-request', () => {
  it('holds the keys typed after the request, but Ctrl-C quits at once; they act once it answers', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look(/alice\s/);
      process.kill(d.proc.pid!, 'SIGSTOP');
      try {
        // The add goes out and gets no answer; Escape waits behind it.
        t.send('a', 'carol', 'Tab', 'password-33', 'Enter');
        t.send('Escape');
        await sleep(500);
        expect(t.shot()).toContain('Add a POP3 account');
      } finally {
        process.kill(d.proc.pid!, 'SIGCONT');
      }
      await t.look(/Queued: add carol@example\.test|1\. POP3 Accounts/);
      await t.look('1. POP3 Accounts');
      // Ctrl-C with keys held behind a request that gets no answer.
      process.kill(d.proc.pid!, 'SIGSTOP');
      try {
        t.send('1');
        await t.look('Add a POP3 account');
        t.send('a', 'dave', 'Tab', 'password-44', 'Enter', 'j', 'j', 'k');
        await sleep(300);
        t.send('C-c');
        await t.look('CONSOLE-EXIT=130');
      } finally {
        process.kill(d.proc.pid!, 'SIGCONT');
      }
    } finally {
      t.close();
    }
  }, 60_000);
});
