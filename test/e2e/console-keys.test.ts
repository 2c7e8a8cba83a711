// Keys typed faster than the daemon answers, in the real `vmail console` in tmux at 80x24,
// against a real daemon holding 10,000 accounts: each burst is sent in ONE send-keys, before
// the screen has answered, and judged by what the daemon queued and by the captured screen.
// Also where the selection stays after a remove or a cancel, notices that follow the apply,
// and a daemon that goes away mid-burst.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntryView, PendingView } from '../../src/control/protocol.js';
import { type DaemonHandle, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';
import { seedAccounts } from '../helpers/seed.js';
import { tmux } from '../helpers/tmux.js';

const ACCOUNTS = 10_000;
const SESSION = `vmail-keys-${process.pid}`;
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
/** One send-keys: tmux writes the keys to the terminal at once, as a fast typist or a paste would. */
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

async function see(text: string | RegExp, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    () => {
      const s = screen();
      return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
    },
    `the terminal to show ${text}`,
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
  });
}

let d: DaemonHandle;
let dataDir = '';

const pending = async (): Promise<PendingView[]> => JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout);
const log = async (address: string): Promise<LogEntryView[]> =>
  JSON.parse((await d.cli(['log', '--address', address, '--json'])).stdout);
/** The selected row's name on the captured screen. */
const selectedName = (s: string) => /^› (\S+)/m.exec(s)?.[1] ?? null;

/** Back to the accounts screen, the selection on its first row. */
async function accountsAtTop(): Promise<void> {
  // Esc drops a filter before it leaves a screen: press it until the menu shows (at most three),
  // each only once the one before has acted. Pressed again before that, on a fast machine the
  // next key can reach the console in the same read as the Esc, and reads as Alt and that key.
  for (let i = 0; i < 3 && !screen().includes('1. POP3 Accounts'); i++) {
    const filtered = screen().includes('Filter:');
    keys('Escape');
    await waitFor(
      () => screen().includes('1. POP3 Accounts') || (filtered && !screen().includes('Filter:')),
      'Esc to act',
      5000,
    );
  }
  await see('1. POP3 Accounts');
  keys('1');
  await see('Add a POP3 account');
  keys('g');
  // The row under the column titles: a notice above may take two lines (an apply after
  // midnight names its date).
  await waitFor(() => {
    const lines = screen().split('\n');
    const titles = lines.findIndex((l) => /^ {2}NAME\s+MSGS/.test(l));
    return titles >= 0 && lines.findIndex((l) => l.startsWith('› ')) === titles + 1;
  }, 'the first row selected');
}

beforeAll(async () => {
  dataDir = tempDir();
  await seedAccounts(
    dataDir,
    Array.from({ length: ACCOUNTS }, (_, i) => `u${String(i).padStart(5, '0')}`),
  );
  // Every two hours: nothing applies by itself while the tests run (unless one crosses an even
  // hour), and the screens must not say "on the hour".
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
  await see(`POP3 Accounts (${ACCOUNTS})`, 60_000);
}, 180_000);

afterAll(async () => {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // already gone
  }
  await d?.stop();
  // 10,000 maildirs: removed here, without blocking, rather than by the helpers' synchronous clean-up.
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 180_000);

describe('keys typed while a request is in flight, at 10,000 accounts', () => {
  it('l 5M Enter j j j: the quota is queued for the row seen, then the selection moves three rows', async () => {
    keys('1');
    await see(/› u00000 /);
    keys('l', '5M', 'Enter', 'j', 'j', 'j');
    await see(/Queued: quota change u00000@example\.test/);
    await waitFor(() => selectedName(screen()) === 'u00003', 'the selection on u00003').catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
    });
    const quota = (await pending()).filter((p) => p.action === 'quota' || p.parts?.includes('quota'));
    expect(quota.map((p) => p.address)).toEqual(['u00000@example.test']);
  }, 60_000);

  it('a chain.two Tab pass Enter p newpass Enter: the add and the password change are both sent', async () => {
    await accountsAtTop();
    keys('a', 'chain.two', 'Tab', 'chain-pass-1', 'Enter', 'p', 'new-pass-22', 'Enter');
    // After the add the selection is on the new row, and p changed its password.
    await waitFor(
      async () => (await log('chain.two@example.test')).some((e) => e.method === 'accounts.passwd'),
      'the password change to reach the daemon',
    );
    expect((await pending()).some((p) => p.address === 'chain.two@example.test' && p.action === 'add')).toBe(true);
    await see(/› chain\.two /);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'chain.two@example.test', 'new-pass-22')).ok).toBe(true);
  }, 60_000);

  it('three adds typed in one burst queue three, and the selection ends on the last', async () => {
    await accountsAtTop();
    const add = (n: number) => ['a', `burst${n}`, 'Tab', `burst-pass-${n}`, 'Enter'];
    keys(...add(1), ...add(2), ...add(3));
    await waitFor(
      async () => (await pending()).filter((p) => /^burst\d@/.test(p.address)).length === 3,
      'three adds queued',
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${JSON.stringify(await pending())}\n${screen()}`);
    });
    await see(/› burst3 /);
  }, 60_000);
});

describe('the selection after a remove or a cancel', () => {
  it('stays at the same place, not at the top', async () => {
    // burst1..3 are pending adds at the top of the list: remove burst2, which cancels its add.
    await accountsAtTop();
    await see(/› burst1 /);
    keys('j', 'd');
    await see('Remove burst2@example.test?');
    keys('y');
    await see(/Cancelled the pending add of burst2@example\.test/);
    await waitFor(() => !/^ {2}burst2 /m.test(screen()), 'burst2 to go');
    expect(selectedName(screen())).toBe('burst3');

    // Pending Changes (oldest first: burst1, burst3, u00001's quota): cancel the second; the
    // selection stays on its line, which is now the third's.
    await d.cli(['accounts', 'quota', 'u00001', '2M']);
    keys('Escape');
    await see('1. POP3 Accounts');
    keys('3');
    await see(/3 pending changes in example\.test/);
    const mark = () =>
      screen()
        .split('\n')
        .findIndex((l) => l.startsWith('›'));
    await waitFor(() => mark() > 0, 'a selected row');
    const first = mark();
    keys('j');
    await waitFor(() => mark() === first + 1, 'the second row selected');
    keys('c');
    await see('[y/N]');
    keys('y');
    await see(/Cancelled: add burst3@example\.test/);
    await see('2 pending changes in example.test');
    await waitFor(() => mark() === first + 1, 'the selection on the same line').catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}`);
    });
    expect(screen().split('\n')[first + 1]).toContain('u00001');
  }, 60_000);
});

describe('notices follow what they announce', () => {
  it('a queued change says it applied once it has; the interval is the daemon’s', async () => {
    await accountsAtTop();
    keys('f', 'u00000', 'Enter');
    await see(/› u00000 /);
    keys('z', 'y');
    await see(/✓ Queued: .*suspension of u00000@example\.test, a/);
    await d.cli(['pending', 'apply']);
    await see(/✓ Applied: .*suspension of u00000@example\.test/);
    expect(screen()).not.toMatch(/Queued: .*suspension of u00000/);
    // An undo's notice goes at the next apply.
    keys('z', 'y');
    await see(/Queued: resumption of u00000@example\.test/);
    keys('u', 'y');
    await see(/✓ Undone: the pending resumption of u00000@example\.test/);
    await d.cli(['accounts', 'quota', 'u00009', '1M']);
    await d.cli(['pending', 'apply']);
    await waitFor(() => !screen().includes('Undone:'), 'the undo notice to go');
    keys('f', 'C-u', 'Enter');
    // Every two hours, not "on the hour".
    const shot = await see(/Changes apply every 2 hours\./);
    expect(shot).not.toContain('on the hour');
  }, 60_000);
});

describe('a daemon that goes away and comes back', () => {
  it('keeps a burst typed as it went, says NOT queued, and reconnects', async () => {
    await accountsAtTop();
    await d.stop();
    keys('a', 'gone', 'Tab', 'gone-pass-1', 'Enter');
    await see('The vmail daemon cannot be reached.');
    await see(/not sent|Not confirmed/);
    const start = Date.now();
    d = await startDaemon({ applyInterval: '2h', dataDir: d.dataDir });
    await see('● connected', 20_000);
    await see(/the add of gone@example\.test was NOT queued; send it again/);
    expect(Date.now() - start).toBeLessThan(20_000);
    expect((await pending()).some((p) => p.address === 'gone@example.test')).toBe(false);
    // What was typed is still in the form: Enter sends it now.
    keys('Enter');
    await see(/Queued: add gone@example\.test/);
    expect((await pending()).some((p) => p.address === 'gone@example.test')).toBe(true);
  }, 90_000);
});
