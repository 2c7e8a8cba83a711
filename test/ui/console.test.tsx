// The console against a real daemon on a temp socket, driven by real key sequences written
// through the key gate into ink-testing-library's stdin, reading the frames it draws. Keys go
// in as a terminal sends them, in bursts, with no pauses between them.

import { join } from 'node:path';
import { render } from 'ink-testing-library';
import nodemailer from 'nodemailer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../../screens/app/app.js';
import { DaemonSession } from '../../screens/shared/daemon-session.js';
import { KeyGate } from '../../screens/shared/key-gate.js';
import { type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { closedPort } from '../helpers/relay.js';

const KEYS = {
  up: '\u001b[A',
  down: '\u001b[B',
  left: '\u001b[D',
  right: '\u001b[C',
  enter: '\r',
  esc: '\u001b',
  tab: '\t',
  backspace: '\u007f',
  ctrlU: '\u0015',
};

let d: DaemonHandle;
let session: DaemonSession;
let ui: ReturnType<typeof render>;
let gate: KeyGate;

/** The console as `vmail console` runs it: keys reach Ink through the gate. */
function mount(s: DaemonSession): { ui: ReturnType<typeof render>; gate: KeyGate } {
  let view: ReturnType<typeof render> | null = null;
  const g = new KeyGate((k) => view?.stdin.write(k));
  view = render(<App session={s} gate={g} />);
  return { ui: view, gate: g };
}

/** Sends keys as one burst, as a fast typist or a paste would. */
async function press(...keys: string[]): Promise<void> {
  for (const k of keys) {
    gate.push(k);
    // A lone Escape is told from the start of a sequence by what follows it within a moment.
    if (k === KEYS.esc) await new Promise((r) => setTimeout(r, 60));
  }
}

async function type(text: string): Promise<void> {
  gate.push(text);
}

/** Waits until every key sent has been handled and drawn. */
async function settled(): Promise<void> {
  await waitFor(() => gate.idle, 'the keys to be handled');
}

async function see(text: string | RegExp, timeoutMs = 8000): Promise<string> {
  return waitFor(
    () => {
      const frame = ui.lastFrame() ?? '';
      return (typeof text === 'string' ? frame.includes(text) : text.test(frame)) ? frame : null;
    },
    `the console to show ${text}`,
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- last frame ---\n${ui.lastFrame()}`);
  });
}

function rowOf(frame: string, name: string): string {
  return frame.split('\n').find((l) => new RegExp(`^[ ›] ${name.replace('.', '\\.')}\\s`).test(l)) ?? '';
}

async function openAccounts(): Promise<void> {
  await see('1. POP3 Accounts');
  await press(KEYS.enter);
  await see('Add a POP3 account');
}

beforeEach(async () => {
  d = await startDaemon({ applyInterval: '1h' });
  for (const name of ['alice', 'bob']) await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
  await d.cli(['pending', 'apply']);
  session = new DaemonSession(d.socket);
  session.start();
  ({ ui, gate } = mount(session));
});

afterEach(async () => {
  ui.unmount();
  session.close();
  await d.stop();
});

describe('POP3 Accounts', () => {
  it('adds an account, shows it pending with a countdown, then active after the apply', async () => {
    await openAccounts();
    await press('a');
    await type('sales');
    await press(KEYS.tab);
    await type('correct horse');
    await press(KEYS.enter);
    await see(/Queued: add sales@example\.test, applies at (?:\d{4}-\d\d-\d\d )?[\d:]+ \(in \d+:\d\d\)/);
    const frame = await waitFor(
      () => (/add in \d+:\d\d/.test(rowOf(ui.lastFrame() ?? '', 'sales')) ? ui.lastFrame() : null),
      'the pending add in the table',
    );
    expect(frame).toMatch(/next apply (?:\d{4}-\d\d-\d\d )?[\d:]+ in \d+:\d\d/);
    await d.cli(['pending', 'apply']);
    await waitFor(() => /active/.test(rowOf(ui.lastFrame() ?? '', 'sales')), 'sales to become active');
  });

  it('shows an invalid name beside the field and queues nothing', async () => {
    await openAccounts();
    await press('a');
    await type('../etc');
    await press(KEYS.tab);
    await type('password-1');
    await press(KEYS.enter);
    await see(/name: invalid name "\.\.\/etc"/);
    await press(KEYS.esc);
    await press('a');
    await type('carol');
    await press(KEYS.tab);
    await type('short');
    await press(KEYS.enter);
    await see('password: the password is too short');
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('changes a password with p', async () => {
    await openAccounts();
    await see('alice');
    await press('p');
    await see('New password for alice@example.test');
    await type('new-password-9');
    await press(KEYS.enter);
    await see('Queued: password change alice@example.test');
    await waitFor(
      () => /password change in \d+:\d\d/.test(rowOf(ui.lastFrame() ?? '', 'alice')),
      'the countdown in the table',
    );
  });

  it('removes with a confirmation whose default is No, and undoes with u', async () => {
    await openAccounts();
    await see('bob');
    await press(KEYS.down);
    await press('d');
    await see('Remove bob@example.test? Its mail is archived at the next apply. [y/N]');
    await press(KEYS.enter);
    await waitFor(() => !(ui.lastFrame() ?? '').includes('[y/N]'), 'the question to go');
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toEqual([]);
    await press('d');
    await see('[y/N]');
    await press('y');
    await see('Queued: removal of bob@example.test');
    await waitFor(
      () => /removal in \d+:\d\d/.test(rowOf(ui.lastFrame() ?? '', 'bob')),
      'the pending removal in the table',
    );
    // u asks first, as d does.
    await press('u');
    await see('Undo the pending change of bob@example.test? It will not be applied. [y/N]');
    await press('y');
    await see('Undone: the pending removal of bob@example.test');
    await waitFor(() => /active/.test(rowOf(ui.lastFrame() ?? '', 'bob')), 'bob to be active again');
  });

  it('filters with / and sorts by size with s; a size moves when mail arrives', async () => {
    await openAccounts();
    await see('bob');
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
    await t.sendMail({ from: 'x@example.org', to: 'bob@example.test', subject: 'hello', text: 'x'.repeat(3000) });
    t.close();
    const frame = await waitFor(() => {
      const f = ui.lastFrame() ?? '';
      return /\s1\s+3\.\d KB/.test(rowOf(f, 'bob')) ? f : null;
    }, 'bob to show one message of about 3 KB');
    expect(rowOf(frame, 'alice')).toMatch(/\s0\s+0 B/);
    await press('s');
    const sorted = await see('sorted by size');
    expect(sorted.indexOf(' bob ')).toBeLessThan(sorted.indexOf(' alice '));
    await press('f');
    await type('ali');
    // The filter's count (the title's position says `1 of 2` too).
    const filtered = await see(/Filter: \[ali ?\] +1 of 2/);
    expect(rowOf(filtered, 'alice')).not.toBe('');
    expect(rowOf(filtered, 'bob')).toBe('');
  });

  it('a change sent as the daemon dies is reported, then checked once the daemon is back', async () => {
    await openAccounts();
    await press('a');
    await type('lost');
    await press(KEYS.tab);
    await type('password-1');
    gate.push(KEYS.enter);
    await d.kill9();
    await see('Not confirmed: the daemon went away before answering.');
    d = await startDaemon({ applyInterval: '1h', dataDir: d.dataDir });
    const queued = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout).some((p: any) => p.name === 'lost');
    await see(
      queued
        ? 'The daemon is back: the add of lost@example.test is queued'
        : 'The daemon is back: the add of lost@example.test was NOT queued; send it again',
      15_000,
    );
  });

  it('says when the daemon goes away, and comes back by itself', async () => {
    await openAccounts();
    await press('a');
    await type('half');
    await d.stop();
    await see('The vmail daemon cannot be reached.');
    await see(`Looked for it at: ${d.socket}`);
    d = await startDaemon({ applyInterval: '1h', dataDir: d.dataDir });
    await see('● connected');
    await see('alice');
    // What was being typed is still there.
    await see('[half ]');
  });
});

describe('domain settings', () => {
  it('c on the Domains screen sets the catch-all; mail for an unknown name then reaches it', async () => {
    await see('1. POP3 Accounts');
    // The menu shows the domain's totals.
    await see(/example\.test: 0 messages \(0 B\) in 2 mailboxes; catch-all none; quota for new accounts none/);
    await press('5');
    await see(/›●example\.test/);
    await see('example.test: catch-all none (unknown names get 550)');
    await press('c');
    await see(/Catch-all of example\.test \(gets mail for unknown names\): \[/);
    await type('alice');
    await press(KEYS.enter);
    await see(/Queued: catch-all change example\.test \(catch-all alice\)/);
    expect((await smtpSend(d.smtpPort, 'nobody@example.test', 'too-early')).code).toBe(550);
    await d.cli(['pending', 'apply']);
    await see('example.test: catch-all alice@example.test');
    expect((await smtpSend(d.smtpPort, 'nobody@example.test', 'for-nobody')).accepted).toBe(true);
    expect(maildirWith(join(d.dataDir, 'mail/example.test/alice'), 'for-nobody')).toHaveLength(1);
  });
});

describe('the header', () => {
  it('says when the spam filter (rspamd) cannot be reached', async () => {
    await see('● connected');
    expect(ui.lastFrame()).not.toContain('rspamd');
    ui.unmount();
    session.close();
    await d.stop();
    d = await startDaemon({
      applyInterval: '1h',
      dataDir: d.dataDir,
      args: ['--rspamd', `http://127.0.0.1:${await closedPort()}`],
    });
    session = new DaemonSession(d.socket);
    session.start();
    ({ ui, gate } = mount(session));
    await see('✕ rspamd down');
  });
});

describe('more than one domain', () => {
  it('asks which domain first, and manages the one picked', async () => {
    const two = await startDaemon({ applyInterval: '1h', domains: ['example.test', 'second.test'] });
    await two.cli(['accounts', 'add', 'carl@second.test', '--password-stdin'], 'password-1\n');
    const s2 = new DaemonSession(two.socket);
    s2.start();
    const { ui: view, gate: g2 } = mount(s2);
    try {
      await waitFor(() => (view.lastFrame() ?? '').includes('vmail - › Domains'), 'the Domains screen');
      expect(view.lastFrame()).toMatch(/second\.test\s+0\s+0\s+0\s+0 B\s+1 pending/);
      g2.push(`${KEYS.down}${KEYS.enter}`);
      await waitFor(
        () => (view.lastFrame() ?? '').includes('vmail second.test › Main menu'),
        'the menu of second.test',
      );
      g2.push(KEYS.enter);
      await waitFor(() => /carl\s+0\s+0 B\s+-\s+-\s+add in/.test(view.lastFrame() ?? ''), 'carl in second.test');
      expect(view.lastFrame()).toContain('@second.test');
    } finally {
      view.unmount();
      s2.close();
      await two.stop();
    }
  });

  it('adds a domain, applies it now and manages it; removes one with its accounts, by their effect', async () => {
    const two = await startDaemon({ applyInterval: '1h', domains: ['example.test', 'second.test'] });
    await two.cli(['accounts', 'add', 'carl@second.test', '--password-stdin'], 'password-1\n');
    await two.cli(['pending', 'apply']);
    const s2 = new DaemonSession(two.socket);
    s2.start();
    const { ui: view, gate: g2 } = mount(s2);
    const show = (text: string | RegExp, what: string) =>
      waitFor(() => {
        const f = view.lastFrame() ?? '';
        return typeof text === 'string' ? f.includes(text) : text.test(f);
      }, what).catch((err) => {
        throw new Error(`${(err as Error).message}\n--- last frame ---\n${view.lastFrame()}`);
      });
    try {
      await show('Add a domain: [example.org]', 'the Domains screen');
      g2.push('a');
      g2.push('Third.Test');
      g2.push(KEYS.enter);
      await show(/Queued: add third\.test, applies at/, 'the add queued');
      await show(/third\.test\s+0\s+0\s+0\s+0 B\s+add in \d+:\d\d/, 'the row counting down');
      // Not hosted until applied: Enter says so; A applies it after a yes.
      g2.push('G');
      g2.push(KEYS.enter);
      await show(/third\.test is hosted once its add applies at .*: press A/, 'why it cannot be managed yet');
      g2.push('A');
      await show('Apply the 1 pending change(s) of third.test now? (y/N)', 'the question');
      g2.push('y');
      await show('Applied 1 change(s) of third.test now.', 'the apply');
      await show(/third\.test\s+0\s+0\s+0\s+0 B\s+hosted/, 'third.test hosted');
      expect(JSON.parse((await two.cli(['status', '--json'])).stdout).domains).toContain('third.test');
      g2.push(KEYS.enter);
      await show('vmail third.test › Main menu', 'the menu of third.test');

      // Back to Domains from the menu; remove second.test, which has an account.
      g2.push('5');
      await show(/›●third\.test/, 'the Domains screen with third.test managed');
      g2.push('k');
      g2.push('d');
      await show('Remove second.test with its 1 account(s), 0 forward(s)? Mail is archived. (y/N)', 'the question');
      g2.push('y');
      await show(/Queued: removal of second\.test with its accounts/, 'the removal queued');
      await two.cli(['pending', 'apply']);
      await waitFor(() => !/^[ ›][ ●]second\.test/m.test(view.lastFrame() ?? ''), 'second.test gone from the list');
      expect((await pop3Login(two.pop3Port, 'carl@second.test', 'password-1')).ok).toBe(false);
      expect(JSON.parse((await two.cli(['status', '--json'])).stdout).domains).toEqual(['example.test', 'third.test']);
    } finally {
      view.unmount();
      s2.close();
      await two.stop();
    }
  }, 30_000);
});

describe('navigation', () => {
  it('walks the menu with arrows, j/k and number keys; Esc goes back; ? opens help', async () => {
    await see('1. POP3 Accounts');
    await press('j', 'j');
    await press(KEYS.enter);
    await see('Pending Changes');
    await press(KEYS.esc);
    await see('1. POP3 Accounts');
    await press('2');
    await see('Add a forwarding address');
    await press('?');
    await see('How vmail works');
    await press(KEYS.esc);
    await see('Add a forwarding address');
    await press(KEYS.esc, '4');
    await see('Incoming server');
  });

  it('queues a forward and applies all pending changes with A after a confirmation', async () => {
    await see('1. POP3 Accounts');
    await press('2');
    await see('Add a forwarding address');
    await press('a');
    await type('info');
    await press(KEYS.tab);
    await type('alice@example.test, boss@example.org');
    await press(KEYS.enter);
    await see('Queued: add info@example.test -> alice@example.test, boss@example.org');
    await press(KEYS.esc, '3');
    await see(/1 pending change in example\.test; they apply at/);
    await press('A');
    await see('Apply the 1 pending change(s) of example.test now');
    await press('y');
    await see('Applied 1 change(s) of example.test now.');
    await see('Nothing is waiting in example.test');
  });
});

describe('keys in bursts, through the gate', () => {
  it('a, a name, Tab, a password, Enter in one write: 20 of 20 land in the right fields', async () => {
    await openAccounts();
    for (let run = 0; run < 20; run++) {
      await type(`aburst${run}\tpassword-2${run}\r`);
      await see(`Queued: add burst${run}@example.test`);
    }
    expect(
      JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)
        .map((p: any) => p.name)
        .sort(),
    ).toEqual(Array.from({ length: 20 }, (_, i) => `burst${i}`).sort());
    await d.cli(['pending', 'apply']);
    for (const run of [0, 7, 19])
      expect(await pop3Login(d.pop3Port, `burst${run}`, `password-2${run}`)).toMatchObject({ ok: true });
  }, 60_000);

  it('a 200-character paste into the destinations field: 20 of 20 arrive whole', async () => {
    await see('1. POP3 Accounts');
    await press('2');
    await see('Add a forwarding address');
    for (let run = 0; run < 20; run++) {
      const dests = Array.from({ length: 12 }, (_, i) => `r${run}x${i}@far${i}.example.org`);
      const paste = dests.join(', ');
      expect(paste.length).toBeGreaterThanOrEqual(200);
      await type(`apaste${run}\t`);
      await type(paste);
      await type('\r');
      await see(`Queued: add paste${run}@example.test -> ${dests[0]}`);
      const fwd = JSON.parse((await d.cli(['forwards', 'list', '--json'])).stdout).find(
        (f: any) => f.name === `paste${run}`,
      );
      expect(fwd.destinations).toEqual(dests);
    }
  }, 60_000);

  it('300 random keys with cursor moves and deletions: 20 of 20 leave the field as typed', async () => {
    await see('1. POP3 Accounts');
    await press('2');
    await see('Add a forwarding address');
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 20; run++) {
      // The edit model of a one-line field: a cursor, insert at it, delete before it.
      let text = '';
      let cursor = 0;
      let keys = '';
      for (let i = 0; i < 300; i++) {
        const r = random();
        if (r < 0.55 || text.length === 0) {
          const ch = 'abcdefghijklmnopqrstuvwxyz0123456789.@-'[Math.floor(random() * 39)];
          text = text.slice(0, cursor) + ch + text.slice(cursor);
          cursor++;
          keys += ch;
        } else if (r < 0.75) {
          if (cursor > 0) {
            text = text.slice(0, cursor - 1) + text.slice(cursor);
            cursor--;
          }
          keys += KEYS.backspace;
        } else if (r < 0.88) {
          cursor = Math.max(0, cursor - 1);
          keys += KEYS.left;
        } else {
          cursor = Math.min(text.length, cursor + 1);
          keys += KEYS.right;
        }
        // Keep the field short enough to read back whole from the frame: Ctrl-E then Ctrl-U
        // (all before the cursor) clear it.
        if (text.length > 30) {
          keys += `\u0005${KEYS.ctrlU}`;
          text = '';
          cursor = 0;
        }
      }
      await type(`arandom${run}\t`);
      gate.push(keys);
      await settled();
      const line = (ui.lastFrame() ?? '').split('\n').find((l) => l.startsWith('Add a forwarding address')) ?? '';
      const shown = /-> \[(.*)\] \[Change\]/.exec(line)?.[1] ?? '';
      expect(shown.trimEnd(), `run ${run}`).toBe(text);
      await press(KEYS.esc);
    }
  }, 60_000);
});

describe('a pending change of several settings', () => {
  it('names every part: the Pending list, its DETAIL, the accounts STATUS and the cancel question', async () => {
    await d.cli(['accounts', 'passwd', 'alice', '--password-stdin'], 'password-new-2\n');
    await d.cli(['accounts', 'quota', 'alice', '25M']);
    await openAccounts();
    await see(/alice\s.*password change \+ quota/);
    await press(KEYS.esc, '3');
    const frame = await see(/1 pending change in example\.test/);
    const row = frame.split('\n').find((l) => l.includes('alice@example.test')) ?? '';
    expect(row, frame).toMatch(/ password \+ quota /);
    expect(row, frame).toMatch(/quota 25 MB; new pa/);
    await press('c');
    await see('Cancel all 2 parts (password change + quota change) of alice@example.test? [y/N]');
    await press('y');
    await see('Cancelled: password change + quota change alice@example.test');
    await see('Nothing is waiting in example.test');
    // By effect: neither part applies.
    await d.cli(['pending', 'apply']);
    expect(await pop3Login(d.pop3Port, 'alice', 'password-1')).toMatchObject({ ok: true });
  });
});
