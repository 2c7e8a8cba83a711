// The audit log names who changed what as the kernel reports the client (SO_PEERCRED): two real
// Unix users (made here; needs root) use the control socket through its group, and each entry
// names the right one, with the uid and the pid of their vmail process. A client that claims to
// be someone else (its environment, a parameter) is still named as who it is.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntryView } from '../../src/control/protocol.js';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';
import { idOf, makeUsers, type Users, vmailAs } from '../helpers/users.js';

const tag = `${process.pid % 100000}`;
const ALICE = `vmala${tag}`;
const BOB = `vmbob${tag}`;

type Entry = LogEntryView;

let users: Users;
let d: DaemonHandle;

beforeAll(async () => {
  users = makeUsers([ALICE, BOB]);
  execFileSync('usermod', ['-aG', ALICE, BOB]);
  d = await startDaemon({ args: ['--audit-retention', '30d'] });
  // The socket and its folder belong to one group that both users are in.
  const gid = idOf(ALICE, '-g');
  chownSync(d.dataDir, 0, gid);
  chmodSync(d.dataDir, 0o750);
  chownSync(d.socket, 0, gid);
});

afterAll(() => users?.remove());

async function log(args: string[] = []): Promise<Entry[]> {
  const r = await d.cli(['log', '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Entry[];
}

describe('vmail log', () => {
  it('names each of two Unix users for the changes they made, with uid and pid, and who applied them', async () => {
    const a = await vmailAs(ALICE, ['accounts', 'add', 'ann', '--password-stdin'], d.socket, 'ann-pass-123\n');
    expect(a.code, a.stderr).toBe(0);
    const b = await vmailAs(BOB, ['forwards', 'add', 'sales', 'ann@example.test'], d.socket);
    expect(b.code, b.stderr).toBe(0);
    const refused = await vmailAs(BOB, ['accounts', 'remove', 'nobody'], d.socket);
    expect(refused.code).toBe(1);
    const apply = await vmailAs(ALICE, ['pending', 'apply'], d.socket);
    expect(apply.stdout).toMatch(/Applied 2 change/);
    // By effect: the account exists.
    expect((await pop3Login(d.pop3Port, 'ann', 'ann-pass-123')).ok).toBe(true);

    // The daemon's first start is on record, with its settings.
    const all = await log();
    expect(all[0]).toMatchObject({ method: 'config.start', outcome: 'first start with these settings', user: 'root' });
    expect(all[0].params['audit-retention']).toBe('30');
    const entries = all.filter((e) => !e.method.startsWith('config.'));
    const alice = { user: ALICE, uid: idOf(ALICE, '-u') };
    const bob = { user: BOB, uid: idOf(BOB, '-u') };
    expect(entries.map((e) => [e.user, e.method, e.params.address ?? '-', e.outcome])).toEqual([
      [ALICE, 'accounts.add', 'ann@example.test', 'queued add (change 1)'],
      [BOB, 'forwards.add', 'sales@example.test', 'queued add (change 2)'],
      [BOB, 'accounts.remove', '-', 'refused: nobody@example.test is not an account'],
      [ALICE, 'apply', 'ann@example.test', 'applied add (change 1)'],
      [ALICE, 'apply', 'sales@example.test', 'applied add (change 2)'],
      [ALICE, 'pending.apply', '-', 'applied 2, failed 0'],
    ]);
    expect(entries[0]).toMatchObject(alice);
    expect(entries[1]).toMatchObject(bob);
    expect(entries[1].params).toMatchObject({ name: 'sales', destinations: 'ann@example.test' });
    expect(entries[4].params.requestedBy).toBe(BOB);
    // The pid is the vmail process the user ran (a child of runuser), never the daemon's.
    for (const e of entries) {
      expect(e.pid).toBeGreaterThan(1);
      expect(e.pid).not.toBe(d.proc.pid);
    }
    expect(new Set(entries.filter((e) => e.method !== 'apply').map((e) => e.pid)).size).toBe(4);
    // Never a password.
    expect(JSON.stringify(entries)).not.toMatch(/ann-pass-123|argon2|scrypt/);

    // Filters: by user, by address, by time.
    expect((await log(['--user', BOB])).map((e) => e.method)).toEqual(['forwards.add', 'accounts.remove']);
    expect((await log(['--user', String(alice.uid)])).every((e) => e.user === ALICE)).toBe(true);
    expect((await log(['--address', 'sales@example.test'])).map((e) => e.method)).toEqual(['forwards.add', 'apply']);
    expect(await log(['--since', '2030-01-01'])).toEqual([]);
    expect((await log(['--since', '1h'])).length).toBe(7);
    const table = await d.cli(['log', '--address', 'ann@example.test']);
    expect(table.stdout).toMatch(new RegExp(`${ALICE}\\[\\d+\\]\\s+accounts.add\\s+ann@example.test`));
    expect((await d.cli(['log', '--since', 'yesterday'])).stderr).toMatch(/^vmail: --since "yesterday": write a time/);
  });

  it('a client cannot claim to be someone else: not by its environment, not by a parameter', async () => {
    const before = (await log()).length;
    expect(before).toBe(7);
    // Bob's process says it is root in every variable a program might read.
    const env = ['USER=root', 'LOGNAME=root', 'SUDO_USER=root', 'SUDO_UID=0'];
    execFileSync('runuser', [
      '-u',
      BOB,
      '--',
      'env',
      ...env,
      process.execPath,
      VMAIL,
      'accounts',
      'suspend',
      'ann',
      '--socket',
      d.socket,
    ]);
    // A raw client that adds a user of its own choosing to the request.
    const raw = `
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(d.socket)})
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "accounts.resume", "params": {"name": "ann", "user": "root"}}) + "\\n").encode())
print(s.makefile().readline())
`;
    const answer = execFileSync('runuser', ['-u', BOB, '--', 'python3', '-c', raw], { encoding: 'utf8' });
    expect(JSON.parse(answer).error.message).toMatch(/unknown parameter "user"/);
    const entries = (await log()).slice(before);
    expect(entries.map((e) => [e.user, e.uid, e.method, e.outcome.slice(0, 40)])).toEqual([
      [BOB, idOf(BOB, '-u'), 'accounts.suspend', 'queued suspend (change 3)'],
      [BOB, idOf(BOB, '-u'), 'accounts.resume', 'refused: accounts.resume: unknown parame'],
    ]);
    // The pending change itself says who asked for it.
    const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { requestedBy: string }[];
    expect(pending.map((p) => p.requestedBy)).toEqual([BOB]);
  });

  it('keeps entries for --audit-retention: older ones go at start and every hour, the rest stay', async () => {
    await d.stop();
    // What a long-running store holds: an entry 40 days old and one 10 days old.
    const { Store } = await import('../../src/store/store.js');
    const store = await Store.open(d.dataDir);
    const old = (days: number) => ({
      at: Date.now() - days * 86_400_000,
      user: 'carol',
      uid: 1234,
      pid: 99,
      method: 'accounts.passwd',
      params: { name: `old${days}`, address: `old${days}@example.test` },
      outcome: 'queued password (change 9)',
    });
    await store.audit.append(old(40), old(10));
    await store.close();
    // Restarted with a setting changed while it was down: that is on record, a password hidden.
    d = await startDaemon({
      dataDir: d.dataDir,
      args: ['--audit-retention', '30d', '--relay', 'smtp://relayuser:relay-secret@127.0.0.1:2525'],
    });
    await waitFor(() => /audit pruned entries=1 older_than=30d/.test(d.output()), 'the sweep');
    const start = (await log()).filter((e) => e.method === 'config.start').at(-1)!;
    expect(start.outcome).toBe('started with 1 setting(s) changed');
    expect(start.params).toEqual({ relay: '"smtp://relayuser:***@127.0.0.1:2525"' });
    expect(JSON.stringify(await log())).not.toContain('relay-secret');
    const users = (await log()).map((e) => e.params.address);
    expect(users).toContain('old10@example.test');
    expect(users).not.toContain('old40@example.test');
  });
});
