// Filtering POP3 Accounts as an admin types, in the real `vmail console` (the bundled build) in
// tmux at 80x24 against a daemon holding 3,000 accounts: the list shown matches the filter after
// typing, Backspace, a paste and keys sent faster than frames. And the mechanism that made those
// keys cheaper (issue 30, target 2): Ink's frames share their caches, bounded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { render, Text } from 'ink';
import React from 'react';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameCaches, shareFrameCaches } from '../../screens/shared/frame-caches.js';
import { fakeTerminal } from '../bench/console.js';
import { type DaemonHandle, ROOT, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { seedAccounts } from '../helpers/seed.js';
import { tmux } from '../helpers/tmux.js';

const ACCOUNTS = 3000;
const names = Array.from({ length: ACCOUNTS }, (_, i) => `u${String(i).padStart(4, '0')}`);
const SESSION = `vmail-filter-${process.pid}`;
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
/** One send-keys: the keys reach the terminal at once, faster than the console draws frames. */
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

let d: DaemonHandle;

/** The names on the table's rows, top to bottom. */
const shownNames = (s: string) =>
  s
    .split('\n')
    .map((l) => /^[› ] (u\d{4}) /.exec(l)?.[1])
    .filter((n): n is string => Boolean(n));

/** Waits until the screen shows the filter `text` with the names that hold it, from the first. */
async function showsFilter(text: string): Promise<string> {
  const want = names.filter((n) => n.includes(text.toLowerCase()));
  return waitFor(
    () => {
      const s = screen();
      const rows = shownNames(s);
      const counted = s.includes(`${want.length} of ${ACCOUNTS}`);
      return counted && rows.length > 0 && rows.join() === want.slice(0, rows.length).join() ? s : null;
    },
    `the list filtered by "${text}" (${want.length} rows)`,
    15_000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
  });
}

beforeAll(async () => {
  const dataDir = tempDir();
  await seedAccounts(dataDir, names);
  d = await startDaemon({ dataDir, applyInterval: '2h' });
  await d.cli(['pending', 'apply']);
  tmux(
    'new-session',
    '-d',
    '-s',
    SESSION,
    '-x',
    '80',
    '-y',
    '24',
    `${process.execPath} ${VMAIL} console --socket ${d.socket}; sleep 60`,
  );
  await waitFor(() => screen().includes(`POP3 Accounts (${ACCOUNTS})`), 'the menu', 60_000);
  keys('1');
  await waitFor(() => shownNames(screen())[0] === 'u0000', 'the accounts list', 30_000);
}, 120_000);

afterAll(async () => {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // The session is gone already: nothing to close.
  }
  await d?.stop();
}, 60_000);

describe('the filter at 80x24: what is shown matches what is typed', () => {
  it('typed in one burst, Backspace, typed again: every key counts, the rows hold the filter', async () => {
    keys('f', 'u', '1', '2');
    await showsFilter('u12');
    keys('BSpace', '3', '9');
    const s = await showsFilter('u139');
    expect(shownNames(s)).toEqual([
      'u1390',
      'u1391',
      'u1392',
      'u1393',
      'u1394',
      'u1395',
      'u1396',
      'u1397',
      'u1398',
      'u1399',
    ]);
    // Capitals match either case; erasing goes back through the wider lists.
    keys('C-u', 'U', '2', '9', '9', '9');
    await showsFilter('u2999');
    keys('BSpace', 'BSpace', 'BSpace');
    await showsFilter('u2');
    keys('BSpace', 'BSpace');
    await showsFilter('');
  }, 60_000);

  it('a paste is one filter: the list narrows to it; Esc brings every account back', async () => {
    keys('C-u');
    await showsFilter('');
    tmux('send-keys', '-l', '-t', SESSION, '0042');
    const s = await showsFilter('0042');
    expect(shownNames(s)).toEqual(['u0042']);
    keys('Escape');
    await waitFor(() => !screen().includes('Filter:') && shownNames(screen()).length > 10, 'the whole list back');
  }, 60_000);

  it('attacker: 5,000 pasted characters and 300 distinct filters typed in bursts lose nothing and stop nothing', async () => {
    keys('f');
    await waitFor(() => screen().includes('Filter:'), 'the filter field');
    tmux('send-keys', '-l', '-t', SESSION, 'x'.repeat(5000));
    // "0 of N" after the field's bracket: "3000 of 3000" holds "0 of 3000" too.
    const none = new RegExp(`\\]\\s+0 of ${ACCOUNTS}`);
    await waitFor(() => none.test(screen()), 'nothing to match');
    expect(screen()).toContain('No account matches the filter.');
    keys('C-u');
    await showsFilter('');
    // Each burst a new text: every frame's lines are new to the caches. Each digit is erased
    // but the burst's last: the field ends with one digit a burst, in order.
    let left = '';
    for (let i = 0; i < 300; i += 30) {
      const burst = Array.from({ length: 30 }, (_, k) => [String((i + k) % 10), 'BSpace']).flat();
      keys(...burst, String(i % 7));
      left += String(i % 7);
    }
    await waitFor(() => screen().includes(`Filter: [${left}`) || null, `the field to hold ${left}`, 30_000).catch(
      (err) => {
        throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
      },
    );
    expect(screen()).toMatch(none);
    keys('C-u', '2', '9', '9', '9');
    await showsFilter('2999');
  }, 120_000);
});

describe("Ink's frames share their caches (screens/shared/frame-caches.ts)", () => {
  it('every frame of the Ink the tests load draws with the same caches, and draws what it did before', async () => {
    const inkOutput = await import(new URL('./output.js', import.meta.resolve('ink')).href);
    shareFrameCaches(inkOutput.default);
    const proto = inkOutput.default.prototype;
    const get = proto.get;
    const used = new Set<unknown>();
    proto.get = function (this: { caches: unknown }) {
      const out = get.call(this);
      used.add(this.caches);
      return out;
    };
    try {
      const term = fakeTerminal(40, 5);
      // debug: every frame is written as it is drawn, CI or not (under CI=true Ink writes only the
      // last frame, at unmount).
      const ink = render(React.createElement(Text, null, 'first frame'), {
        stdout: term.stdout,
        patchConsole: false,
        debug: true,
      });
      for (const text of ['second frame', 'third frame', 'first frame']) {
        ink.rerender(React.createElement(Text, null, text));
        await waitFor(() => term.frames.some((f) => f.text.includes(text)) || null, text);
      }
      ink.unmount();
      expect(used.size).toBe(1);
      expect(term.frames.map((f) => f.text).join('')).toContain('third frame');
    } finally {
      proto.get = get;
    }
  });

  it('attacker: lines never seen before do not grow the caches past their bound', () => {
    const fresh = () => ({ styledChars: new Map<string, unknown>(), widths: new Map(), blockWidths: new Map() });
    const first = frameCaches(fresh());
    for (let i = 0; i < 20_000; i++) frameCaches(fresh()).styledChars.set(`line ${i}`, []);
    const now = frameCaches(fresh());
    expect(now.styledChars.size).toBeLessThanOrEqual(5001);
    expect(now).not.toBe(first);
  });

  it('the console as built (dist/console) calls it on its own Ink', () => {
    const bundle = readFileSync(join(ROOT, 'dist/console/run.js'), 'utf8');
    expect(bundle).toContain('shareFrameCaches(Output)');
  });
});
