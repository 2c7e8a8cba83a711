// What keeps an open console current at 100,000 accounts without asking for every list again:
// rows.changed notifications carrying the rows each change touched, sizes saved across
// restarts and checked against the folders, and accounts.list by pages.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonSession, type DaemonSnapshot, Patch } from '../../screens/shared/daemon-session.js';
import { ControlClient } from '../../src/control/client.js';
import { type DaemonHandle, ROOT, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { smtpSend } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { RawLines } from '../helpers/raw-socket.js';
import { seedAccounts } from '../helpers/seed.js';

const json = (r: { stdout: string }) => JSON.parse(r.stdout);

describe('rows.changed', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d.stop();
  });

  it('carries every verb on accounts, forwards and domains, queued, cancelled and applied: the patched lists equal the lists', async () => {
    const sub = await RawLines.connect(d.socket);
    await sub.call('subscribe', {}, 'sub');
    // The lists as a console holds them, kept only by the notifications from here on.
    let mirror = {
      accounts: (await sub.call('accounts.list', {}, 'a')).result,
      forwards: (await sub.call('forwards.list', {}, 'f')).result,
      pending: (await sub.call('pending.list', {}, 'p')).result,
      domains: (await sub.call('domains.list', {}, 'd')).result,
    } as DaemonSnapshot;
    let notes = 0;
    // The lists asked for again on another connection, to compare.
    const lists = await ControlClient.connect(d.socket);
    const step = async (what: string, args: string[], input?: string) => {
      const r = await d.cli(args, input);
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      const fresh = async () => ({
        accounts: await lists.call('accounts.list'),
        forwards: await lists.call('forwards.list'),
        pending: await lists.call('pending.list'),
        domains: await lists.call('domains.list'),
      });
      await waitFor(
        async () => {
          for (const line of sub.drain())
            if (line.method === 'rows.changed') {
              notes++;
              mirror = new Patch().rows(line.params).onto(mirror);
            }
          const f = await fresh();
          const same =
            JSON.stringify(f.accounts) === JSON.stringify(mirror.accounts) &&
            JSON.stringify(f.forwards) === JSON.stringify(mirror.forwards) &&
            JSON.stringify(f.pending) === JSON.stringify(mirror.pending) &&
            JSON.stringify(f.domains) === JSON.stringify(mirror.domains);
          return same;
        },
        `the notified rows after ${what}`,
        5000,
      );
    };
    const apply = () => step('apply', ['pending', 'apply']);
    await step('accounts add', ['accounts', 'add', 'ann', '--password-stdin'], 'first password\n');
    await step('accounts add (second)', ['accounts', 'add', 'bob', '--password-stdin'], 'bob password\n');
    await step('forwards add', ['forwards', 'add', 'sales', 'ann@example.test']);
    expect(mirror.accounts.map((a) => [a.name, a.active, a.pending?.action])).toEqual([
      ['ann', false, 'add'],
      ['bob', false, 'add'],
    ]);
    const bobAdd = mirror.pending.find((p) => p.name === 'bob')!;
    await step('pending cancel', ['pending', 'cancel', bobAdd.id]);
    expect(mirror.accounts.map((a) => a.name)).toEqual(['ann']);
    await apply();
    expect(mirror.accounts[0]).toMatchObject({ name: 'ann', active: true, pending: null });
    expect(mirror.forwards[0]).toMatchObject({ name: 'sales', active: true, pending: null });
    await step('accounts passwd', ['accounts', 'passwd', 'ann', '--password-stdin'], 'second password\n');
    await step('accounts quota', ['accounts', 'quota', 'ann', '10M']);
    expect(mirror.accounts[0].pending?.action).toBe('quota');
    await apply();
    expect(mirror.accounts[0].quota).toBe(10 * 1024 * 1024);
    await step('accounts suspend', ['accounts', 'suspend', 'ann']);
    await apply();
    expect(mirror.accounts[0].suspended).toBe(true);
    await step('accounts resume', ['accounts', 'resume', 'ann']);
    await apply();
    expect(mirror.accounts[0].suspended).toBe(false);
    await step('accounts rename', ['accounts', 'rename', 'ann', 'anna']);
    await apply();
    expect(mirror.accounts.map((a) => a.name)).toEqual(['anna']);
    await step('forwards add (replace)', ['forwards', 'add', 'sales', 'anna@example.test', 'x@elsewhere.example']);
    await apply();
    expect(mirror.forwards[0].destinations).toEqual(['anna@example.test', 'x@elsewhere.example']);
    await step('forwards remove', ['forwards', 'remove', 'sales']);
    await apply();
    expect(mirror.forwards).toEqual([]);
    await step('accounts remove', ['accounts', 'remove', 'anna']);
    await apply();
    expect(mirror.accounts).toEqual([]);
    // The domain kind: a domain added with an account and a forward, its quota and catch-all
    // set, then removed with them; its totals in the notified status move with each.
    await step('domains add', ['domains', 'add', 'other.test']);
    await apply();
    await step(
      'accounts add on it',
      ['accounts', 'add', 'ola', '--domain', 'other.test', '--password-stdin'],
      'ola password 1\n',
    );
    await step('forwards add on it', ['forwards', 'add', 'info', 'ola@other.test', '--domain', 'other.test']);
    await step('domains quota', ['domains', 'quota', 'other.test', '5M']);
    await step('domains catchall', ['domains', 'catchall', 'other.test', 'ola']);
    // The quota and the catch-all are one pending change of the domain.
    expect(mirror.domains.find((x) => x.domain === 'other.test')?.pending).toBe(3);
    await apply();
    expect(mirror.domains.find((x) => x.domain === 'other.test')).toMatchObject({
      accounts: 1,
      forwards: 1,
      catchall: 'ola',
      quota: 5 * 1024 * 1024,
      pending: 0,
    });
    await step('domains remove with its accounts', ['domains', 'remove', 'other.test', '--with-accounts']);
    await apply();
    expect(mirror.accounts).toEqual([]);
    expect(mirror.forwards).toEqual([]);
    expect(mirror.domains.map((x) => x.domain)).toEqual(['example.test']);
    expect(mirror.pending).toEqual([]);
    expect(notes).toBeGreaterThanOrEqual(20);
    sub.close();
    lists.close();
  }, 120_000);

  it('an open console shows a change from another client, a delivery and a login without asking for the lists again', async () => {
    expect((await d.cli(['accounts', 'add', 'joy', '--password-stdin'], 'joy password 1\n')).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const session = new DaemonSession(d.socket);
    // Every request the console's client sends, counted on the way out.
    const calls: string[] = [];
    const real = ControlClient.prototype.call;
    ControlClient.prototype.call = function (this: ControlClient, ...args: Parameters<ControlClient['call']>) {
      calls.push(args[0]);
      return real.apply(this, args);
    } as ControlClient['call'];
    try {
      session.start();
      await waitFor(() => session.snapshot.listed, 'the console to load');
      const loaded = calls.length;
      const add = await d.cli(['forwards', 'add', 'live', 'someone@elsewhere.example']);
      expect(add.code).toBe(0);
      await waitFor(() => session.snapshot.forwards.find((f) => f.name === 'live'), 'the forward on the console');
      expect(session.snapshot.status?.pending).toBe(1);
      expect(session.snapshot.pending.map((p) => p.name)).toEqual(['live']);
      await d.cli(['pending', 'apply']);
      await waitFor(() => session.snapshot.forwards.find((f) => f.name === 'live')?.active, 'the applied forward');
      // Mail arrives for joy, and joy's mail client logs in: the row shows both as they happen.
      const joy = () => session.snapshot.accounts.find((a) => a.name === 'joy');
      expect(joy()).toMatchObject({ messages: 0, lastLoginAt: null, lastDeliveryAt: null });
      expect((await smtpSend(d.smtpPort, 'joy@example.test', 'for joy')).accepted).toBe(true);
      await waitFor(() => joy()?.messages === 1, 'the delivery on the console');
      expect(joy()).toMatchObject({ health: { neverFetched: true } });
      expect(joy()?.lastDeliveryAt).not.toBeNull();
      expect(session.snapshot.domains[0]).toMatchObject({ messages: 1 });
      const login = await RawPop3.open(d.pop3Port);
      await login.login('joy@example.test', 'joy password 1');
      await waitFor(() => joy()?.lastLoginAt, 'the login on the console');
      expect(joy()?.lastLoginFrom).toBe('127.0.0.1');
      await login.cmd('QUIT');
      login.close();
      expect(calls.slice(loaded)).toEqual([]);
    } finally {
      ControlClient.prototype.call = real;
      session.close();
    }
  });

  it('keeps what changed while its lists were on their way, though an answer is read after a newer notification', async () => {
    expect((await d.cli(['accounts', 'add', 'kim', '--password-stdin'], 'kim password 1\n')).code).toBe(0);
    expect((await d.cli(['accounts', 'add', 'lou', '--password-stdin'], 'lou password 1\n')).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'old', 'someone@elsewhere.example'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const session = new DaemonSession(d.socket);
    const real = ControlClient.prototype.call;
    let changed = false;
    // Once the accounts are asked for (the forwards were asked just before), this process stops
    // while other clients change and remove an account, add and remove a forward, add a domain
    // and deliver mail: the answers and the notifications after them wait in the socket together
    // and come in one read.
    ControlClient.prototype.call = function (this: ControlClient, ...args: Parameters<ControlClient['call']>) {
      const answer = real.apply(this, args);
      if (args[0] === 'accounts.list' && !changed) {
        changed = true;
        const cli = (...a: string[]) =>
          execFileSync(process.execPath, [VMAIL, ...a], { env: { ...process.env, VMAIL_SOCKET: d.socket } });
        cli('accounts', 'quota', 'kim', '7M');
        cli('accounts', 'remove', 'lou');
        cli('forwards', 'add', 'late', 'someone@elsewhere.example');
        cli('forwards', 'remove', 'old');
        cli('domains', 'add', 'late.test');
        execFileSync(
          'python3',
          [join(ROOT, 'test/helpers/send_smtp.py'), String(d.smtpPort), 'a@b.example', 'kim@example.test'],
          {
            input: 'Subject: while loading\r\n\r\nhello\r\n',
          },
        );
      }
      return answer;
    } as ControlClient['call'];
    try {
      session.start();
      await waitFor(() => session.snapshot.listed, 'the console to load');
      expect(changed).toBe(true);
      const s = session.snapshot;
      const c = await ControlClient.connect(d.socket);
      const [accounts, forwards, pending, domains] = await Promise.all([
        c.call('accounts.list'),
        c.call('forwards.list'),
        c.call('pending.list'),
        c.call('domains.list'),
      ]);
      c.close();
      expect(s.accounts.find((a) => a.name === 'kim')).toMatchObject({ messages: 1, pending: { action: 'quota' } });
      expect(s.forwards.map((f) => f.name)).toContain('late');
      expect(s.forwards.find((f) => f.name === 'old')?.pending?.action).toBe('remove');
      expect(s.domains.find((x) => x.domain === 'late.test')?.change?.action).toBe('add');
      expect(s.accounts).toEqual(accounts);
      expect(s.forwards).toEqual(forwards);
      expect(s.pending).toEqual(pending);
      expect(s.domains).toEqual(domains);
      expect(s.status?.pending).toBe(pending.length);
    } finally {
      ControlClient.prototype.call = real;
      session.close();
    }
  });
});

describe('sizes across restarts', () => {
  it('takes the saved sizes at start and lists again only what changed while it was stopped, also from a torn file', async () => {
    const dataDir = tempDir();
    let d = await startDaemon({ dataDir });
    for (const name of ['ann', 'bob', 'cat'])
      expect((await d.cli(['accounts', 'add', name, '--password-stdin'], 'a password 1\n')).code).toBe(0);
    await d.cli(['pending', 'apply']);
    for (const name of ['ann', 'bob', 'cat', 'cat'])
      expect((await smtpSend(d.smtpPort, `${name}@example.test`, `for ${name}`)).accepted).toBe(true);
    const before = json(await d.cli(['accounts', 'list', '--json']));
    expect(before.map((a: { messages: number }) => a.messages)).toEqual([1, 1, 2]);
    await d.stop();
    const index = join(dataDir, 'mailbox-index');
    expect(readFileSync(index, 'utf8').split('\n')[0]).toBe('vmail-mailbox-index 1');

    // While it is stopped, another program delivers to bob and removes one of cat's messages.
    const mail = join(dataDir, 'mail/example.test');
    writeFileSync(join(mail, 'bob/new/1700000000.M1P1.otherhost'), 'Subject: restored\n\nfrom a backup\n');
    rmSync(join(mail, 'cat/new', readdirSync(join(mail, 'cat/new'))[0]));
    d = await startDaemon({ dataDir });
    expect(d.output()).toContain('mailboxes="3 restored, 0 listed"');
    const expected = [
      ['ann', 1],
      ['bob', 2],
      ['cat', 1],
    ];
    const sizes = async () =>
      json(await d.cli(['accounts', 'list', '--json'])).map((a: { name: string; messages: number }) => [
        a.name,
        a.messages,
      ]);
    await waitFor(async () => JSON.stringify(await sizes()) === JSON.stringify(expected), 'the first sweep', 5000);
    // The domain's totals are the restored sizes, corrected by the sweep.
    expect(json(await d.cli(['domains', 'list', '--json']))[0]).toMatchObject({ accounts: 3, messages: 4 });
    // A delivery after the restart counts on top of the restored size.
    expect((await smtpSend(d.smtpPort, 'ann@example.test', 'after restart')).accepted).toBe(true);
    await waitFor(async () => (await sizes())[0][1] === 2, 'the delivery counted');
    await d.stop();

    // A file cut off mid-line (a crash while writing it, or a full disk): the whole lines are
    // used, the rest listed.
    const text = readFileSync(index, 'utf8');
    writeFileSync(index, text.slice(0, text.indexOf('\n', text.indexOf('\n') + 1) + 12));
    d = await startDaemon({ dataDir });
    expect(d.output()).toContain('mailboxes="1 restored, 2 listed"');
    expect(await sizes()).toEqual([
      ['ann', 2],
      ['bob', 2],
      ['cat', 1],
    ]);
    await d.stop();
  });
});

describe('accounts.list by pages', () => {
  it('gives the slices of the whole list, and refuses a bad offset or limit in one line', async () => {
    const d = await startDaemon();
    for (const name of ['dan', 'eve', 'fay', 'gus', 'hal'])
      await d.cli(['accounts', 'add', name, '--password-stdin'], 'a password 1\n');
    const c = await ControlClient.connect(d.socket);
    const whole = await c.call('accounts.list');
    expect(whole.map((a) => a.name)).toEqual(['dan', 'eve', 'fay', 'gus', 'hal']);
    expect(await c.call('accounts.list', { offset: 1, limit: 2 })).toEqual(whole.slice(1, 3));
    expect(await c.call('accounts.list', { offset: 4, limit: 10 })).toEqual(whole.slice(4));
    expect(await c.call('accounts.list', { offset: 9 })).toEqual([]);
    expect(await c.call('accounts.list', { after: 'eve@example.test', limit: 2 })).toEqual(whole.slice(2, 4));
    // An address that is not there: the page starts where it would be.
    expect(await c.call('accounts.list', { after: 'eva@example.test', limit: 1 })).toEqual(whole.slice(1, 2));
    await expect(c.call('accounts.list', { after: 'dan@example.test', stale: '30d' })).rejects.toThrow(
      '--after pages the list in its own order: not with --stale',
    );
    await expect(c.call('accounts.list', { limit: -1 })).rejects.toThrow('--limit -1: write a whole number from 0');
    await expect(c.call('accounts.list', { offset: 1.5 })).rejects.toThrow('--offset 1.5: write a whole number from 0');
    c.close();
    await d.stop();
  });
});

describe('a console loading 30,000 accounts page by page', () => {
  it("ends with the daemon's list while another client changes rows before, inside and after the pages loaded", async () => {
    const dataDir = tempDir();
    const names = Array.from({ length: 30_000 }, (_, i) => `user${String(i).padStart(5, '0')}`);
    await seedAccounts(dataDir, names);
    const d = await startDaemon({ dataDir });
    const c = await ControlClient.connect(d.socket);
    const session = new DaemonSession(d.socket);
    try {
      // Changes all through the list while the pages come: quotas on queued adds, removals
      // (which drop a queued add), and new accounts at both ends and in the middle.
      let n = 0;
      const changing = (async () => {
        while (!session.snapshot.listed) {
          const name = names[(n * 997) % names.length];
          await c.call('accounts.quota', { name, quota: `${(n % 9) + 1}M` });
          if (n % 3 === 0) await c.call('accounts.remove', { name: names[(n * 1499 + 7) % names.length] });
          // An add hashes its password (tens of ms on a loaded machine): not the first turns',
          // so that quota changes and removals come while the first pages load.
          if (n % 20 === 19)
            await c.call('accounts.add', { name: `${['a', 'm', 'z'][n % 3]}extra${n}`, password: 'a password 1' });
          n++;
        }
      })();
      await c.call('accounts.quota', { name: names[0], quota: '1M' });
      session.start();
      await changing;
      expect(n).toBeGreaterThan(2);
      const fresh = async () => JSON.stringify(await c.call('accounts.list'));
      await waitFor(
        async () => {
          const shown = JSON.stringify(session.snapshot.accounts);
          return shown === (await fresh());
        },
        'the same list',
        15_000,
      ).catch(async (err: Error) => {
        // Which rows differ: a lost change, or only a slow machine.
        const shown = new Map(session.snapshot.accounts.map((a) => [a.address, JSON.stringify(a)]));
        const want = await c.call('accounts.list');
        const differ = want.filter((a) => shown.get(a.address) !== JSON.stringify(a)).map((a) => a.address);
        const extra = [...shown.keys()].filter((k) => !want.some((a) => a.address === k));
        throw new Error(
          `${err.message}: ${differ.length} row(s) differ (${differ.slice(0, 5).join(', ')}), ${extra.length} shown that are gone (${extra.slice(0, 5).join(', ')}); shown ${shown.size}, daemon ${want.length}`,
        );
      });
    } finally {
      session.close();
      c.close();
      await d.stop();
    }
  });
});
