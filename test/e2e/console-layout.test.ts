// Issue 26 items 3 and 4 in a real terminal: the real `vmail console` in tmux at 80x24 (and
// 200x50) against the real daemon. Every screen is captured and judged by what it shows: the
// menu's items on consecutive lines, addresses whole, nothing cut mid-word, the header's words
// apart; `/` filters the list on screen and Esc brings it back; `?` names the open screen's keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { tmux } from '../helpers/tmux.js';

let d: DaemonHandle;
let n = 0;

/** A console in its own tmux session of the given size. */
function open(columns = 80, rows = 24) {
  const name = `vmail-layout-${process.pid}-${++n}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    name,
    '-x',
    String(columns),
    '-y',
    String(rows),
    `${process.execPath} ${VMAIL} console --socket ${d.socket}`,
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
  const paste = (text: string) => tmux('send-keys', '-l', '-t', name, text);
  return { name, shot, look, send, paste, close: () => tmux('kill-session', '-t', name) };
}

/**
 * Lines with a word cut short: a letter or digit right before the ellipsis (text cut between
 * words ends ` …`, the last word whole).
 */
const cutMidWord = (screen: string) => screen.split('\n').filter((l) => /[A-Za-z0-9]…/.test(l));

const LONG = 'marketing.leads'; // marketing.leads@example.test: 28 characters

beforeAll(async () => {
  d = await startDaemon({ applyInterval: '1h' });
  for (const name of ['alice.wonderland', 'bob', 'carol.christmas'])
    await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
  await d.cli(['forwards', 'add', 'sales.team', 'alice.wonderland@example.test', 'bob@example.test']);
  await d.cli(['pending', 'apply']);
  await d.cli(['accounts', 'add', LONG, '--password-stdin'], 'password-2\n');
  await d.cli(['accounts', 'quota', 'bob', '25M']);
});

afterAll(async () => {
  await d?.stop();
});

describe('the console at 80x24', () => {
  it('draws the main menu on consecutive lines with a steady hint column, the header words apart', async () => {
    const c = open();
    try {
      const menu = await c.look('1. POP3 Accounts');
      const lines = menu.split('\n');
      const items = lines.map((l, i) => ({ l, i })).filter(({ l }) => /^\s*(›\s*)?\d\. /.test(l));
      expect(items.map(({ l }) => /(\d)\. /.exec(l)?.[1])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '0']);
      for (let k = 1; k < items.length; k++) expect(items[k].i).toBe(items[k - 1].i + 1);
      // The hints start in the same column on every line.
      const hintAt = items.map(({ l }) => {
        const m = /\S( {2,})\S/.exec(l.replace(/^\s*›?\s*/, ''));
        return m ? l.indexOf(m[0]) + 1 + m[1].length : -1;
      });
      expect(hintAt[0]).toBeGreaterThan(10);
      expect(new Set(hintAt).size).toBe(1);
      expect(cutMidWord(menu)).toEqual([]);
      // The header: title and connection never run together, on any screen.
      c.send('4');
      const settings = await c.look('Incoming server');
      expect(settings.split('\n')[0]).toMatch(/Mail Client Settings\s{2,}● connected/);
      expect(cutMidWord(settings)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('shows whole names and statuses on POP3 Accounts, and a 28-character address whole on Pending', async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      const accounts = await c.look('alice.wonderland');
      expect(accounts).toMatch(/alice\.wonderland\s+0\s+0 B/);
      expect(accounts).toMatch(/carol\.christmas\s/);
      expect(accounts).toMatch(/marketing\.leads\s.*add in \d/);
      expect(cutMidWord(accounts)).toEqual([]);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('2');
      const forwards = await c.look('sales.team');
      expect(forwards).toContain('alice.wonderland@example.test, bob@example.test');
      expect(cutMidWord(forwards)).toEqual([]);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('3');
      const pending = await c.look(/pending changes? in example\.test/);
      expect(pending).toContain(`${LONG}@example.test`);
      expect(pending).toContain('bob@example.test');
      // The header and the summary; the table's last column (DETAIL) may be cut.
      expect(cutMidWord(pending.split('\n').slice(0, 4).join('\n'))).toEqual([]);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('5');
      const domains = await c.look(/›●example\.test/);
      expect(cutMidWord(domains)).toEqual([]);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('6');
      // The screen's title ("example.test › Needs Attention"), not the menu's own line "6. Needs
      // Attention": matching that sent Escape before the screen came (then Esc and 8 met as Alt-8).
      const attention = await c.look('› Needs Attention');
      expect(cutMidWord(attention)).toEqual([]);
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('8');
      const history = await c.look(/changes?, newest first|Nothing has been changed/);
      expect(history).toMatch(/\d+ changes?, newest first/);
    } finally {
      c.close();
    }
  });

  it('wraps the help at word boundaries: no line of it is cut', async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('9');
      let screen = await c.look('How vmail works');
      const seen: string[] = [];
      // Page through all of it.
      const range = (shot: string) => /scroll \((\d+)-(\d+) of (\d+)\)/.exec(shot);
      for (let page = 0; page < 30; page++) {
        seen.push(screen);
        expect(cutMidWord(screen)).toEqual([]);
        const r = range(screen);
        if (!r || r[2] === r[3]) break;
        c.send('PageDown');
        screen = await c.look(new RegExp(`scroll \\((?!${r[1]}-)\\d+-`));
      }
      expect(seen.join('\n')).toContain('Pending Changes');
    } finally {
      c.close();
    }
  });
});

describe('the console at 200x50', () => {
  it('does not give the NAME column the whole width', async () => {
    const c = open(200, 50);
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      const accounts = await c.look('alice.wonderland');
      const row = accounts.split('\n').find((l) => l.includes('alice.wonderland')) ?? '';
      // The name, then the message count: no more than a few spaces more than the longest name.
      const gap = /alice\.wonderland( +)0/.exec(row)?.[1] ?? '';
      expect(gap.length).toBeLessThan(30);
    } finally {
      c.close();
    }
  });
});

describe('the conventions admins bring (item 4)', () => {
  it('/ filters POP3 Accounts on screen; Esc brings the list back, then leaves', async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      await c.look('carol.christmas');
      c.send('/');
      c.paste('carol');
      const filtered = await c.look(/Filter: \[carol ?\] +1 of 4/);
      expect(filtered).toContain('carol.christmas');
      expect(filtered).not.toContain('alice.wonderland');
      expect(filtered).not.toContain('Search every domain');
      c.send('Escape');
      const back = await c.look('alice.wonderland');
      expect(back).toContain('carol.christmas');
      expect(back).toContain('POP3 Accounts');
      // The same after Enter kept the filter: Esc clears it before it leaves the screen.
      c.send('/');
      c.paste('bob');
      await c.look(/Filter: \[bob ?\] +1 of 4/);
      c.send('Enter');
      c.send('Escape');
      await c.look('alice.wonderland');
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      // Search over every domain has its own key.
      c.send('1');
      await c.look('alice.wonderland');
      c.send('S');
      await c.look('Search every domain');
    } finally {
      c.close();
    }
  });

  it('/ filters Pending Changes and Domains on screen too; the keys under it act on what is shown', async () => {
    // Two pending changes here (the add of the long name, bob's quota), and a second domain
    // waiting to be added, cancelled again at the end.
    await d.cli(['domains', 'add', 'zeta-filter.test']);
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('3');
      await c.look(`${LONG}@example.test`);
      c.send('/');
      c.paste('bob');
      const filtered = await c.look(/Filter: \[bob ?\] +1 of 2/);
      expect(filtered).toContain('bob@example.test');
      expect(filtered).not.toContain(`${LONG}@example.test`);
      expect(filtered).not.toContain('Search every domain');
      // Enter keeps the filter and gives the keys back: c asks about the one change shown.
      c.send('Enter');
      await c.look(/Footer|cancel change/);
      c.send('c');
      await c.look(/Cancel the pending .* of bob@example\.test\? \[y\/N\]/);
      c.send('n');
      // Esc drops the filter first, then leaves.
      c.send('Escape');
      const back = await c.look(`${LONG}@example.test`);
      expect(back).toContain('bob@example.test');
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('5');
      await c.look('zeta-filter.test');
      c.send('f');
      c.paste('zeta');
      const domains = await c.look(/Filter: \[zeta ?\] +1 of 2/);
      expect(domains).toContain('zeta-filter.test');
      // No table row of example.test (the header still names the domain being managed).
      expect(domains).not.toMatch(/example\.test +\d/);
      // Nothing matches: an empty list, and no key acts on a domain that is not shown.
      c.send('BSpace', 'BSpace', 'BSpace', 'BSpace');
      c.paste('nomatch');
      await c.look(/Filter: \[nomatch ?\] +0 of 2/);
      c.send('Enter');
      c.send('d');
      const none = await c.look(/Filter: \[nomatch\] +0 of 2/);
      expect(none).not.toContain('Remove ');
      c.send('Escape');
      await c.look(/example\.test[\s\S]*zeta-filter\.test|zeta-filter\.test[\s\S]*example\.test/);
      // S still searches every domain.
      c.send('S');
      await c.look('Search every domain');
      // The changes are as they were: the filter's keys sent nothing.
      const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { address: string }[];
      expect(pending.map((p) => p.address).sort()).toEqual(
        [`${LONG}@example.test`, 'bob@example.test', 'zeta-filter.test'].sort(),
      );
    } finally {
      c.close();
      const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as {
        id: string;
        address: string;
      }[];
      for (const p of pending.filter((x) => x.address === 'zeta-filter.test')) await d.cli(['pending', 'cancel', p.id]);
    }
  });

  it('? shows the keys of the screen it was pressed on; the menu says 0 for Quit', async () => {
    const c = open();
    try {
      const menu = await c.look('1. POP3 Accounts');
      expect(menu).toMatch(/0\. Quit/);
      c.send('2');
      await c.look('sales.team');
      c.send('?');
      const help = await c.look('Keys on Email Forwarding');
      expect(help).toMatch(/e or Enter\s+edit/);
      expect(help).not.toContain('1-7');
      c.send('Escape');
      await c.look('sales.team');
      c.send('Escape');
      await c.look('1. POP3 Accounts');
      c.send('0');
      await waitFor(() => (tmux('list-sessions').includes(c.name) ? null : true), 'the console to quit').catch(
        () => undefined,
      );
    } finally {
      try {
        c.close();
      } catch {
        // the console quit and its session went with it
      }
    }
  });

  it('shows the position in the list, and z asks before it suspends', async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      c.send('1');
      await c.look('alice.wonderland');
      c.send('G');
      await c.look(/4 of 4/);
      c.send('g');
      await c.look(/1 of 4/);
      c.send('z');
      await c.look(/Suspend alice\.wonderland@example\.test\?.*\[y\/N\]/);
      c.send('n');
      await waitFor(() => (c.shot().includes('Suspend alice') ? null : true), 'the question to go');
      const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout);
      expect(JSON.stringify(pending)).not.toContain('suspend');
    } finally {
      c.close();
    }
  });

  it("an attacker's burst: keys before the screen answers, a paste with escapes, a resize mid-filter", async () => {
    const c = open();
    try {
      await c.look('1. POP3 Accounts');
      // One write: open Accounts, filter, type, with a clear-screen sequence and a bell pasted in.
      c.paste('1/ca\u001b[2J\u0007rol');
      const filtered = await c.look(/Filter: \[carol ?\] +1 of 4/);
      expect(filtered).toContain('carol.christmas');
      expect(filtered).not.toContain('alice.wonderland');
      // A huge paste: the filter takes it, the screen stays 80 columns wide and matches nothing.
      c.paste('x'.repeat(2000));
      const none = await c.look('No account matches the filter.');
      for (const line of none.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
      c.send('C-u');
      c.paste('carol');
      await c.look(/Filter: \[carol ?\] +1 of 4/);
      // Resized mid-edit: wider, then back to 80; the filter and the whole names survive.
      tmux('resize-window', '-t', c.name, '-x', '120', '-y', '30');
      await c.look(/Filter: \[carol ?\] +1 of 4/);
      tmux('resize-window', '-t', c.name, '-x', '80', '-y', '24');
      const back = await c.look(/carol\.christmas\s+0\s+0 B/);
      expect(cutMidWord(back)).toEqual([]);
      c.send('Escape');
      await c.look('alice.wonderland');
    } finally {
      c.close();
    }
  });
});
