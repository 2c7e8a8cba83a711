// Line editing in every field of the real `vmail console`, in tmux at 80x24, against the real
// daemon: Home/End, Ctrl-A/E/U/K/W, Delete forward, Left/Right by grapheme, the password mask,
// a long field that scrolls to its cursor, capitals kept as typed, the search field's cursor,
// and bracketed paste (one event, control characters and escape sequences stripped). Judged by
// the captured screen and by what the daemon queued.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { tmux } from '../helpers/tmux.js';

let d: DaemonHandle;
let n = 0;

beforeAll(async () => {
  d = await startDaemon({ applyInterval: '1h' });
  await d.cli(['accounts', 'add', 'alice', '--password-stdin'], 'password-1\n');
  await d.cli(['pending', 'apply']);
});

afterAll(async () => {
  await d?.stop();
});

interface Pending {
  address: string;
  action: string;
  parts?: string[];
}
const pending = async (): Promise<Pending[]> => JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout);

/** A console of its own in tmux at 80x24; `close` ends it. */
function terminal() {
  const name = `vmail-edit-${process.pid}-${++n}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    name,
    '-x',
    '80',
    '-y',
    '24',
    `${process.execPath} ${VMAIL} console --socket ${d.socket}; echo "CONSOLE-EXIT=$?"; sleep 60`,
  );
  const shot = () => tmux('capture-pane', '-p', '-t', name);
  const look = (text: string | RegExp) =>
    waitFor(() => {
      const s = shot();
      return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
    }, `the console to show ${text}`).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
    });
  const send = (...k: string[]) => tmux('send-keys', '-t', name, ...k);
  const literal = (text: string) => tmux('send-keys', '-l', '-t', name, text);
  /** A bracketed paste, as a terminal sends one to an application that asked for it. */
  const paste = (text: string) => {
    const file = join(tmpdir(), `${name}.paste`);
    writeFileSync(file, text);
    tmux('load-buffer', '-b', name, file);
    tmux('paste-buffer', '-p', '-d', '-b', name, '-t', name);
  };
  const lineOf = (s: string, re: RegExp) => s.split('\n').find((l) => re.test(l)) ?? '';
  return {
    name,
    shot,
    look,
    send,
    literal,
    paste,
    lineOf,
    close: () => tmux('kill-session', '-t', name),
  };
}

describe('line editing in the console at 80x24', () => {
  it('abcd Home z End y Left Left BSpace Delete gives zaby, on screen and as queued', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      // One burst, typed before the screen answered.
      t.send('a', 'abcd', 'Home', 'z', 'End', 'y', 'Left', 'Left', 'BSpace', 'DC');
      await t.look(/Add a POP3 account: \[zaby\]/);
      t.send('Tab', 'password-22', 'Enter');
      await t.look(/Queued: add zaby@example\.test/);
      expect((await pending()).map((p) => p.address)).toContain('zaby@example.test');
    } finally {
      t.close();
    }
  }, 60_000);

  it('Ctrl-A, Ctrl-E, Ctrl-K, Ctrl-U in the name; Ctrl-W in the destinations; queued as edited', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('2');
      await t.look('Add a forwarding address');
      t.send('a', 'mid', 'C-a', 'pre', 'C-e', 'post');
      await t.look(/\[premidpost \]/);
      // Ctrl-K: from the cursor to the end.
      t.send('Left', 'Left', 'Left', 'Left', 'C-k');
      await t.look(/\[premid \]/);
      // Ctrl-U: from the start to the cursor.
      t.send('Left', 'Left', 'Left', 'C-u');
      await t.look(/\[mid\]/);
      t.send('Tab');
      t.literal('bob@example.test junk.words');
      await t.look(/junk\.words \]/);
      // Ctrl-W: the word before the cursor.
      t.send('C-w');
      const s = await t.look(/@example\.test {2}\]/);
      expect(s).not.toContain('junk');
      t.send('Enter');
      await t.look(/Queued: add mid@example\.test -> bob@example\.test/);
      expect((await pending()).map((p) => p.address)).toContain('mid@example.test');
    } finally {
      t.close();
    }
  }, 60_000);

  it('moves and deletes by grapheme, masks one star per character, and Delete works forward', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      t.send('f');
      t.literal('ab😀');
      t.send('Left', 'BSpace');
      await t.look(/Filter: \[a😀/);
      // Delete at the start takes the first character, not nothing and not the one before.
      t.send('Home', 'DC');
      await t.look(/Filter: \[😀/);
      t.send('C-e', 'C-u', 'Escape');
      // The filter closed (its footer gone) before the next key: an Escape and a letter that
      // arrive together are one key, Alt and the letter, as in every terminal program.
      await t.look('a:add');
      t.send('a', 'emo', 'Tab');
      // 11 characters, one of them an emoji (two UTF-16 units): 11 stars.
      t.literal('secret-😀-pw');
      await t.look(/password \[\*{11} \]/);
      expect(t.shot()).not.toMatch(/\*{12}/);
      t.send('Enter');
      await t.look(/Queued: add emo@example\.test/);
    } finally {
      t.close();
    }
  }, 60_000);

  it('keeps capitals as typed in the name field and says the name is saved in lower case', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      t.send('a', 'Bob.Smith');
      await t.look(/\[Bob\.Smith \]/);
      await t.look(/saved in lower case: bob\.smith/);
      t.send('Tab', 'password-22', 'Enter');
      await t.look(/Queued: add bob\.smith@example\.test/);
      expect((await pending()).map((p) => p.address)).toContain('bob.smith@example.test');
    } finally {
      t.close();
    }
  }, 60_000);

  it('scrolls a long field to keep the cursor in view, also after a resize mid-edit', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('2');
      await t.look('Add a forwarding address');
      t.send('a', 'long', 'Tab');
      const dests = Array.from({ length: 6 }, (_, i) => `dest${i}@far${i}.example`).join(' ');
      t.literal(dests);
      // The end, where the cursor is, shows; the line stays within 80 columns.
      let s = await t.look(/far5\.example \]/);
      expect(t.lineOf(s, /dest5@far5/).length).toBeLessThanOrEqual(80);
      t.send('Home');
      s = await t.look(/\[dest0@far0\.exam/);
      expect(s).not.toMatch(/far5\.example \]/);
      t.send('End');
      await t.look(/far5\.example \]/);
      // Wider, the field shows more of the text, the cursor still in view; back at 80, the same.
      tmux('resize-window', '-t', t.name, '-x', '120', '-y', '30');
      await t.look(/dest4@far4\.example dest5@far5\.example \]/);
      tmux('resize-window', '-t', t.name, '-x', '80', '-y', '24');
      s = await t.look(/\[…[^\]]*far5\.example \]/);
      expect(t.lineOf(s, /dest5@far5/).length).toBeLessThanOrEqual(80);
      t.send('Enter');
      await t.look(/Queued: add long@example\.test -> dest0@far0\.example/);
      const p = (await pending()).find((x) => x.address === 'long@example.test');
      expect(p).toBeDefined();
      const f = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
      expect(JSON.stringify(f.find((x) => x.address === 'long@example.test'))).toContain('dest5@far5.example');
    } finally {
      t.close();
    }
  }, 60_000);

  it('the search field takes Left and Right like every field', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('/');
      await t.look('Search every domain');
      t.send('alce', 'Left', 'Left', 'i', 'Right', 'Right');
      await t.look(/Search every domain: \[?alice/);
      await t.look(/1 match\b/);
    } finally {
      t.close();
    }
  }, 60_000);

  it('takes a bracketed paste as one event, stripped of control characters and escape sequences', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look('Add a POP3 account');
      t.send('a');
      await t.look(/Add a POP3 account: \[ \]/);
      // A newline, a Tab, a "clear screen", a Ctrl-C: each would act as a key if split.
      t.paste('pas\nte\td\u001b[2J-na\u0003me');
      await t.look(/Add a POP3 account: \[pasted-name \]/);
      t.send('Tab', 'password-22', 'Enter');
      await t.look(/Queued: add pasted-name@example\.test/);
      // Outside a field a paste is not a row of commands: q does not quit, d does not ask.
      t.paste('dq');
      t.send('j');
      await new Promise((r) => setTimeout(r, 300));
      expect(t.shot()).not.toContain('CONSOLE-EXIT');
      expect(t.shot()).not.toMatch(/Remove .*\[y\/N\]/);
      expect(t.shot()).toContain('Add a POP3 account');
      // A huge paste: the console stays up and the field stays on one line.
      t.send('a');
      await t.look(/Add a POP3 account: \[ \]/);
      t.paste('x'.repeat(20_000));
      const s = await t.look(/x{10,} \]/);
      expect(t.lineOf(s, /Add a POP3 account/).length).toBeLessThanOrEqual(80);
      t.send('C-u');
      await t.look(/Add a POP3 account: \[ \]/);
      t.send('Escape');
      // Apart from the Escape, or the two are Alt-q.
      await new Promise((r) => setTimeout(r, 200));
      t.send('q');
      await t.look('CONSOLE-EXIT=0');
    } finally {
      t.close();
    }
  }, 60_000);

  it('edits the same way in the domain field, the quota field and the import path', async () => {
    const t = terminal();
    try {
      await t.look('1. POP3 Accounts');
      t.send('5');
      await t.look(/Domains/);
      t.send('a', 'ample.org', 'Home', 'ex');
      await t.look(/\[example\.org\]/);
      t.send('Enter');
      await t.look(/example\.org/);
      await waitFor(
        async () => (await pending()).some((p) => p.address === 'example.org'),
        'the domain add to be queued',
      );
      t.send('Escape');
      await t.look('1. POP3 Accounts');
      t.send('1');
      await t.look(/› alice /);
      t.send('l', '5M', 'Home', '2');
      await t.look(/\[25M\]/);
      t.send('Enter');
      await t.look(/Queued: .*alice@example\.test/);
      await waitFor(
        async () => (await pending()).some((p) => p.address === 'alice@example.test' && p.action === 'quota'),
        'the quota to be queued',
      );
      t.send('i');
      await t.look(/Import/);
      t.send('tmp/x.csv', 'Home', '/', 'End', 'Left', 'DC', 'v');
      await t.look(/\[\/tmp\/x\.csv/);
    } finally {
      t.close();
    }
  }, 60_000);
});
