// Every verb on every kind, checked by its effect: add, change, remove, undo, apply now and the
// timed apply, for POP3 accounts and forwards, on two hosted domains at once, through the CLI
// and through the control socket. After each apply: can the address log in over POP3 (poplib),
// is mail to it accepted over SMTP (nodemailer), where did that mail land, was the Maildir made
// or archived, and is the name free again.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { RawLines } from '../helpers/raw-socket.js';
import { TestRelay } from '../helpers/relay.js';

/** The verbs, through one channel (the CLI or the socket), in one domain. */
interface Verbs {
  addAccount(name: string, password: string): Promise<void>;
  passwd(name: string, password: string): Promise<void>;
  removeAccount(name: string): Promise<void>;
  setForward(name: string, destinations: string[]): Promise<void>;
  removeForward(name: string): Promise<void>;
  /** Cancels the pending change of `name` by its id, as an admin undoing it would. */
  undo(name: string): Promise<void>;
  applyNow(): Promise<void>;
}

function cliVerbs(d: DaemonHandle, domain: string): Verbs {
  const ok = async (args: string[], input?: string) => {
    const r = await d.cli(args, input);
    expect(r.code, `vmail ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  return {
    addAccount: async (name, pw) =>
      void (await ok(['accounts', 'add', `${name}@${domain}`, '--password-stdin'], `${pw}\n`)),
    passwd: async (name, pw) =>
      void (await ok(['accounts', 'passwd', name, '--domain', domain, '--password-stdin'], `${pw}\n`)),
    removeAccount: async (name) => void (await ok(['accounts', 'remove', `${name}@${domain}`])),
    setForward: async (name, dests) => void (await ok(['forwards', 'add', `${name}@${domain}`, ...dests])),
    removeForward: async (name) => void (await ok(['forwards', 'remove', name, '--domain', domain])),
    undo: async (name) => {
      const pending = JSON.parse(await ok(['pending', 'list', '--json'])) as { id: string; address: string }[];
      const p = pending.find((x) => x.address === `${name}@${domain}`);
      expect(p, `a pending change for ${name}@${domain}`).toBeDefined();
      await ok(['pending', 'cancel', p!.id]);
    },
    applyNow: async () => void (await ok(['pending', 'apply'])),
  };
}

function socketVerbs(c: RawLines, domain: string): Verbs {
  let id = 0;
  const call = async (method: string, params: Record<string, unknown>) => {
    const r = await c.call(method, params, `m${++id}`);
    expect(r.error, `${method} ${JSON.stringify(params)}`).toBeUndefined();
    return r.result;
  };
  return {
    addAccount: async (name, password) => void (await call('accounts.add', { name, password, domain })),
    passwd: async (name, password) => void (await call('accounts.passwd', { name: `${name}@${domain}`, password })),
    removeAccount: async (name) => void (await call('accounts.remove', { name, domain })),
    setForward: async (name, destinations) => void (await call('forwards.add', { name, destinations, domain })),
    removeForward: async (name) => void (await call('forwards.remove', { name: `${name}@${domain}` })),
    undo: async (name) => {
      const pending = (await call('pending.list', {})) as { id: string; address: string }[];
      const p = pending.find((x) => x.address === `${name}@${domain}`);
      expect(p, `a pending change for ${name}@${domain}`).toBeDefined();
      await call('pending.cancel', { id: p!.id });
    },
    applyNow: async () => void (await call('pending.apply', {})),
  };
}

let d: DaemonHandle;
let relay: TestRelay;
let socket: RawLines;
const DOMAINS = ['alpha.test', 'beta.test'];
const maildir = (domain: string, name: string) => join(d.dataDir, 'mail', domain, name);
let marks = 0;
const mark = () => `matrix-${++marks}-${Date.now()}`;

/** Mail to `address` is accepted, and lands where `where` says within a few seconds. */
async function deliversTo(address: string, where: { maildir?: string; relay?: string }): Promise<void> {
  const m = mark();
  const r = await smtpSend(d.smtpPort, address, m);
  expect(r, `mail to ${address}`).toEqual({ accepted: true });
  if (where.maildir) await waitFor(() => maildirWith(where.maildir!, m).length === 1, `${m} in ${where.maildir}`);
  if (where.relay)
    await waitFor(
      () => relay.received.some((x) => x.to.includes(where.relay!) && x.data.includes(m)),
      `${m} at the relay for ${where.relay}`,
    );
}

async function refuses(address: string): Promise<void> {
  const r = await smtpSend(d.smtpPort, address, mark());
  expect(r.accepted, `mail to ${address} is refused`).toBe(false);
  expect(r.code).toBe(550);
  expect(r.response).toMatch(/5\.1\.1/);
}

async function logsIn(address: string, password: string, expected: boolean): Promise<void> {
  const r = await pop3Login(d.pop3Port, address, password);
  expect(r.ok, `POP3 login ${address} with ${password}: ${r.error ?? 'ok'}`).toBe(expected);
}

beforeAll(async () => {
  relay = new TestRelay();
  await relay.listen();
  d = await startDaemon({
    domains: DOMAINS,
    args: ['--relay', `smtp://127.0.0.1:${relay.port}`, '--auth-failure-delay', '1ms'],
  });
  socket = await RawLines.connect(d.socket);
  // A local account in each domain that forwards can point at.
  for (const domain of DOMAINS) await cliVerbs(d, domain).addAccount('sink', 'sink-password-1');
  await cliVerbs(d, DOMAINS[0]).applyNow();
}, 30_000);

afterAll(async () => {
  socket.close();
  await d.stop();
  await relay.close();
});

// Each walk uses its own names, so that in the other domain they are names nobody made.
const channels: [string, string, () => Verbs, string][] = [
  ['the CLI', DOMAINS[0], () => cliVerbs(d, DOMAINS[0]), 'c'],
  ['the socket', DOMAINS[1], () => socketVerbs(socket, DOMAINS[1]), 's'],
];

describe.each(channels)('through %s, in %s', (_how, domain, verbs, tag) => {
  const other = DOMAINS.find((x) => x !== domain)!;
  const acct = `acct${tag}`;
  const fwd = `fwd${tag}`;
  // Each walk runs about sixteen CLI commands, each a new Node process (about a second apiece on a
  // loaded machine), and POP3 logins that wait out --auth-failure-delay: more than the default 30 s.

  it('POP3 accounts: add, change the password, undo, remove, undo a removal, and the name is free again', async () => {
    const v = verbs();
    const addr = `${acct}@${domain}`;
    await v.addAccount(acct, 'first-pass-1');
    // Queued, not applied: nothing changes yet.
    await logsIn(addr, 'first-pass-1', false);
    await refuses(addr);
    expect(existsSync(maildir(domain, acct))).toBe(false);
    await v.applyNow();
    await logsIn(addr, 'first-pass-1', true);
    await deliversTo(addr, { maildir: maildir(domain, acct) });
    // The same name in the other domain is another address, and does not exist.
    await refuses(`${acct}@${other}`);
    await logsIn(`${acct}@${other}`, 'first-pass-1', false);

    await v.passwd(acct, 'second-pass-2');
    await logsIn(addr, 'first-pass-1', true);
    await v.applyNow();
    await logsIn(addr, 'first-pass-1', false);
    await logsIn(addr, 'second-pass-2', true);

    // Undo a password change: the old password stays.
    await v.passwd(acct, 'third-pass-3');
    await v.undo(acct);
    await v.applyNow();
    await logsIn(addr, 'second-pass-2', true);
    await logsIn(addr, 'third-pass-3', false);

    // Undo a removal: the account stays, with its mail.
    await v.removeAccount(acct);
    await v.undo(acct);
    await v.applyNow();
    await logsIn(addr, 'second-pass-2', true);
    await deliversTo(addr, { maildir: maildir(domain, acct) });

    await v.removeAccount(acct);
    await logsIn(addr, 'second-pass-2', true);
    await v.applyNow();
    await logsIn(addr, 'second-pass-2', false);
    await refuses(addr);
    expect(existsSync(maildir(domain, acct))).toBe(false);
    const archived = readdirSync(join(d.dataDir, 'archive', domain)).filter((n) => n.startsWith(`${acct}-`));
    expect(archived).toHaveLength(1);
    expect(readdirSync(join(d.dataDir, 'archive', domain, archived[0], 'new'))).toHaveLength(2);

    // The name is free: it can become a forward, and mail to it then goes where the forward says.
    await v.setForward(acct, [`sink@${domain}`]);
    await v.applyNow();
    await deliversTo(addr, { maildir: maildir(domain, 'sink') });
    await logsIn(addr, 'second-pass-2', false);
    await v.removeForward(acct);
    await v.applyNow();
    await refuses(addr);
  }, 90_000);

  it('forwards: add, change the destinations, undo, remove, undo a removal, and the name is free again', async () => {
    const v = verbs();
    const addr = `${fwd}@${domain}`;
    await v.setForward(fwd, [`sink@${domain}`]);
    await refuses(addr);
    await v.applyNow();
    await deliversTo(addr, { maildir: maildir(domain, 'sink') });
    await refuses(`${fwd}@${other}`);

    // Change the destinations: mail goes to the new one only after the apply.
    await v.setForward(fwd, ['far@remote.example']);
    await deliversTo(addr, { maildir: maildir(domain, 'sink') });
    await v.applyNow();
    await deliversTo(addr, { relay: 'far@remote.example' });

    // Undo a change of destinations.
    await v.setForward(fwd, [`sink@${domain}`]);
    await v.undo(fwd);
    await v.applyNow();
    await deliversTo(addr, { relay: 'far@remote.example' });

    // Undo a removal.
    await v.removeForward(fwd);
    await v.undo(fwd);
    await v.applyNow();
    await deliversTo(addr, { relay: 'far@remote.example' });

    // Remove: mail is refused after the apply, and the name can become an account.
    await v.removeForward(fwd);
    await deliversTo(addr, { relay: 'far@remote.example' });
    await v.applyNow();
    await refuses(addr);
    await v.addAccount(fwd, 'was-a-forward-1');
    await v.applyNow();
    await logsIn(addr, 'was-a-forward-1', true);
    await deliversTo(addr, { maildir: maildir(domain, fwd) });
  }, 90_000);
});

describe('the timed apply', () => {
  it('applies each verb on each kind at the tick, and it holds after a restart', async () => {
    const t = await startDaemon({ domains: DOMAINS, applyInterval: '2s', args: ['--auth-failure-delay', '1ms'] });
    const cli = (args: string[], input?: string) => t.cli(args, input);
    const tick = async (what: string, check: () => Promise<boolean>) => waitFor(check, what, 8000);
    const login = async (addr: string, pw: string) => (await pop3Login(t.pop3Port, addr, pw)).ok;
    const accepted = async (addr: string) => (await smtpSend(t.smtpPort, addr, mark())).accepted;

    expect((await cli(['accounts', 'add', 'tim@alpha.test', '--password-stdin'], 'tick-pass-1\n')).code).toBe(0);
    expect((await cli(['forwards', 'add', 'tf@beta.test', 'tim@alpha.test'])).code).toBe(0);
    await tick(
      'the add to apply',
      async () => (await login('tim@alpha.test', 'tick-pass-1')) && (await accepted('tf@beta.test')),
    );

    expect((await cli(['accounts', 'passwd', 'tim@alpha.test', '--password-stdin'], 'tick-pass-2\n')).code).toBe(0);
    expect((await cli(['forwards', 'add', 'tf@beta.test', 'sink@beta.test'])).code).toBe(0);
    await tick('the password change to apply', () => login('tim@alpha.test', 'tick-pass-2'));
    expect(JSON.parse((await cli(['forwards', 'list', '--json'])).stdout)[0].destinations).toEqual(['sink@beta.test']);

    expect((await cli(['accounts', 'remove', 'tim@alpha.test'])).code).toBe(0);
    expect((await cli(['forwards', 'remove', 'tf@beta.test'])).code).toBe(0);
    await tick(
      'the removals to apply',
      async () => !(await accepted('tim@alpha.test')) && !(await accepted('tf@beta.test')),
    );
    expect(await login('tim@alpha.test', 'tick-pass-2')).toBe(false);

    // After a restart the removals still hold, and both names are free.
    await t.stop();
    const again = await startDaemon({ dataDir: t.dataDir, domains: DOMAINS, args: ['--auth-failure-delay', '1ms'] });
    expect(JSON.parse((await again.cli(['forwards', 'list', '--json'])).stdout)).toEqual([]);
    expect(JSON.parse((await again.cli(['accounts', 'list', '--json'])).stdout)).toEqual([]);
    expect((await again.cli(['accounts', 'add', 'tf@beta.test', '--password-stdin'], 'now-an-account\n')).code).toBe(0);
    expect((await again.cli(['forwards', 'add', 'tim@alpha.test', 'x@remote.example'])).code).toBe(0);
    await again.stop();
  }, 60_000);
});
