// Several daemons on one PostgreSQL store and one mail root, all real: Debian's PostgreSQL made
// with initdb in a temp dir on a loopback port, three `vmail daemon`s with their own sockets
// and ports, and real clients (the CLI, the control socket, poplib, nodemailer, a relay sink).
// Each test makes its own database and mail root, so one's daemons never see another's.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonSession } from '../../screens/shared/daemon-session.js';
import { ControlClient } from '../../src/control/client.js';
import type { NodeView, StatusView } from '../../src/control/protocol.js';
import { hashPassword } from '../../src/store/passwords.js';
import { PostgresDatabase } from '../../src/store/postgres.js';
import { Store } from '../../src/store/store.js';
import {
  cleanUp,
  type DaemonHandle,
  LOOPBACK_LISTENERS,
  runCli,
  startDaemon,
  tempDir,
  VMAIL,
  waitFor,
} from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtplib, smtpSend } from '../helpers/effects.js';
import { answers, checkMail, json, smtpLoop } from '../helpers/mail-count.js';
import { RawPop3 } from '../helpers/pop3.js';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';
import { closedPort, TestRelay } from '../helpers/relay.js';

// No PostgreSQL is a failure, never a skip: the cluster code must not ship untested.
const missing = ensurePostgres();

let pg: Postgres;
let dbs = 0;
/** Every test's daemons: killed when it ends, so the next one has the machine to itself. */
const running: DaemonHandle[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill9();
});

beforeAll(async () => {
  if (missing) throw new Error(`the cluster tests need PostgreSQL: ${missing}`);
  pg = await startPostgres({ fsync: false });
}, 120_000);
afterAll(() => {
  cleanUp();
  pg?.stop();
});

interface Cluster {
  url: string;
  db: string;
  root: string;
  nodes: DaemonHandle[];
  start(name: string, args?: string[], env?: Record<string, string>): Promise<DaemonHandle>;
}

/** A new database and mail root, and a daemon on them for each name (each with `args`). */
async function cluster(names: string[], args: (name: string) => string[] = () => []): Promise<Cluster> {
  const db = `c${++dbs}`;
  const url = await pg.database(db);
  const root = tempDir();
  // Each daemon's own control socket, the same across its restarts.
  const sockets = tempDir();
  const c: Cluster = {
    url,
    db,
    root,
    nodes: [],
    start: async (name, extra = [], env) => {
      const d = await startDaemon({
        env,
        dataDir: root,
        socket: join(sockets, `${name}.sock`),
        // Bursts of 150 and 200 deliveries come from one address (127.0.0.1): more connections
        // at once than the per-address cap's default of 20 lets in.
        args: ['--store', url, '--node', name, '--max-connections-per-address', '250', ...extra],
      });
      c.nodes.push(d);
      running.push(d);
      return d;
    },
  };
  for (const n of names) await c.start(n, args(n));
  return c;
}

async function status(d: DaemonHandle): Promise<StatusView> {
  return JSON.parse((await d.cli(['status', '--json'])).stdout) as StatusView;
}

async function addAccount(d: DaemonHandle, name: string, password: string): Promise<void> {
  const r = await d.cli(['accounts', 'add', name, '--password-stdin'], `${password}\n`);
  expect(r.code, r.stderr).toBe(0);
}

const sql = (c: Cluster, text: string) => pg.query(c.db, text);

describe('several daemons on one PostgreSQL store', () => {
  it('a change queued, cancelled or applied through one daemon reaches the others within a second, and each serves it', async () => {
    const c = await cluster(['a', 'b', 'c']);
    const [a, b, cc] = c.nodes;
    // Consoles on B and C: how long until their rows show what A queued.
    const watchers = await Promise.all(
      [b, cc].map(async (d) => {
        const client = await ControlClient.connect(d.socket);
        await client.call('subscribe');
        return client;
      }),
    );
    const seen = (what: (p: { pending: { address: string }[]; gonePending: string[] }) => boolean) =>
      Promise.all(
        watchers.map(
          (w) =>
            new Promise<number>((resolve) => {
              const t0 = Date.now();
              w.onNotification((method, params) => {
                if (method === 'rows.changed' && what(params as never)) resolve(Date.now() - t0);
              });
            }),
        ),
      );
    const queued = seen((p) => p.pending.some((x) => x.address === 'ann@example.test'));
    await addAccount(a, 'ann', 'ann-password-1');
    const latencies = await queued;
    for (const ms of latencies) expect(ms).toBeLessThan(1000);
    for (const d of [b, cc]) {
      const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as {
        id: string;
        address: string;
      }[];
      expect(pending.map((p) => p.address)).toEqual(['ann@example.test']);
    }
    // Cancelled through B: gone on A and C.
    const id = (JSON.parse((await b.cli(['pending', 'list', '--json'])).stdout) as { id: string }[])[0].id;
    expect((await b.cli(['pending', 'cancel', id])).code).toBe(0);
    await waitFor(
      async () => JSON.parse((await a.cli(['pending', 'list', '--json'])).stdout).length === 0,
      'A sees the cancel',
      1000,
    );
    await waitFor(
      async () => JSON.parse((await cc.cli(['pending', 'list', '--json'])).stdout).length === 0,
      'C sees the cancel',
      1000,
    );
    for (const w of watchers) w.close();

    // Queued on A, applied through C: B's SMTP takes mail for it, C's POP3 serves that mail.
    await addAccount(a, 'ann', 'ann-password-1');
    expect((await cc.cli(['forwards', 'add', 'team', 'ann@example.test'])).code).toBe(0);
    expect((await cc.cli(['pending', 'apply'])).stdout).toMatch(/Applied 2 change/);
    await waitFor(
      async () => (await b.cli(['accounts', 'list'])).stdout.includes('ann@example.test'),
      'B has ann',
      1000,
    );
    expect(await smtpSend(b.smtpPort, 'ann@example.test', 'cluster-direct')).toEqual({ accepted: true });
    expect(await smtpSend(a.smtpPort, 'team@example.test', 'cluster-forwarded')).toEqual({ accepted: true });
    const box = join(c.root, 'mail/example.test/ann');
    await waitFor(() => maildirWith(box, 'cluster-forwarded').length === 1, 'the forwarded copy lands');
    expect((await pop3Login(cc.pop3Port, 'ann@example.test', 'ann-password-1')).stat?.[0]).toBe(2);

    // A password changed through B and applied by A: the old one stops working on C.
    expect((await b.cli(['accounts', 'passwd', 'ann', '--password-stdin'], 'ann-password-2\n')).code).toBe(0);
    expect((await a.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(
      async () => (await pop3Login(cc.pop3Port, 'ann@example.test', 'ann-password-2')).ok,
      'new password on C',
      2000,
    );
    expect((await pop3Login(cc.pop3Port, 'ann@example.test', 'ann-password-1')).ok).toBe(false);

    // A domain added through C and applied by B, then an account in it queued on C and applied
    // by A: B takes its mail.
    expect((await cc.cli(['domains', 'add', 'second.test'])).code).toBe(0);
    expect((await b.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(async () => (await cc.cli(['domains', 'list'])).stdout.includes('second.test'), 'C hosts it', 1000);
    const bo = await cc.cli(['accounts', 'add', 'bo@second.test', '--password-stdin'], 'bo-password-1\n');
    expect(bo.code, bo.stderr).toBe(0);
    expect((await a.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(
      async () => (await smtpSend(b.smtpPort, 'bo@second.test', 'second-domain')).accepted,
      'B takes mail for the new domain',
      2000,
    );

    // Removed through A (the forward, then the account): refused on B and C, the Maildir archived once.
    expect((await a.cli(['forwards', 'remove', 'team@example.test'])).code).toBe(0);
    expect((await a.cli(['accounts', 'remove', 'ann@example.test'])).code).toBe(0);
    expect((await cc.cli(['pending', 'apply'])).stdout).toMatch(/Applied 2 change/);
    await waitFor(
      async () => !(await smtpSend(b.smtpPort, 'ann@example.test', 'after-remove')).accepted,
      'B refuses ann',
      2000,
    );
    expect((await smtpSend(b.smtpPort, 'team@example.test', 'after-remove')).code).toBe(550);
    expect((await pop3Login(a.pop3Port, 'ann@example.test', 'ann-password-2')).ok).toBe(false);
    expect(readdirSync(join(c.root, 'archive/example.test'))).toHaveLength(1);
    // Every daemon's view is the same.
    const lists = await Promise.all(c.nodes.map(async (d) => (await d.cli(['accounts', 'list', '--json'])).stdout));
    expect(new Set(lists).size).toBe(1);
  });

  // Three daemons and PostgreSQL, seven kinds of change each applied and checked on the others:
  // about 15 s on a quiet machine, twice that on a loaded one.
  it('quota, suspend, resume, rename, a forward replaced, a catch-all and a domain removal, applied by one daemon, act on the others', async () => {
    const c = await cluster(['a', 'b', 'c']);
    const [a, b, cc] = c.nodes;
    const ok = async (d: DaemonHandle, args: string[], input?: string) => {
      const r = await d.cli(args, input);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const message = (marker: string, kb = 1) =>
      `From: alice@example.org\nTo: x@example.test\nSubject: ${marker}\n\n${`${'x'.repeat(99)}\n`.repeat(kb * 10)}`;
    const box = (domain: string, name: string) => join(c.root, 'mail', domain, name);
    await ok(a, ['domains', 'add', 'second.test']);
    await ok(a, ['pending', 'apply']);
    for (const n of ['kim', 'lee', 'ray'])
      await ok(a, ['accounts', 'add', `${n}@example.test`, '--password-stdin'], `${n}-password-1\n`);
    await ok(a, ['accounts', 'add', 'zed@second.test', '--password-stdin'], 'zed-password-1\n');
    await ok(a, ['forwards', 'add', 'fwd@example.test', 'kim@example.test']);
    await ok(a, ['pending', 'apply']);
    await waitFor(
      async () => (await pop3Login(cc.pop3Port, 'zed@second.test', 'zed-password-1')).ok,
      'C knows zed',
      2000,
    );

    // A quota queued on C and applied by A; a delivery on A fills it; B refuses the next (452).
    await ok(cc, ['accounts', 'quota', 'kim@example.test', '10K']);
    await ok(a, ['pending', 'apply']);
    expect((await smtplib(a.smtpPort, 'alice@example.org', ['kim@example.test'], message('fills', 6))).ok).toBe(true);
    await waitFor(
      async () =>
        (await smtplib(b.smtpPort, 'alice@example.org', ['kim@example.test'], message('past', 6))).refused?.[
          'kim@example.test'
        ]?.[0] === 452,
      'B refuses mail past the quota',
      3000,
    );

    // Suspended through A: the session open on B ends, C refuses the login; resumed through B
    // and applied by C: A lets it in.
    const open = await RawPop3.open(b.pop3Port);
    await open.login('lee@example.test', 'lee-password-1');
    await ok(a, ['accounts', 'suspend', 'lee@example.test']);
    await ok(a, ['pending', 'apply']);
    await waitFor(() => open.closed, "lee's session on B ends", 3000);
    expect((await pop3Login(cc.pop3Port, 'lee@example.test', 'lee-password-1')).error).toMatch(
      /\[SYS\/PERM\] This account is suspended/,
    );
    await ok(b, ['accounts', 'resume', 'lee@example.test']);
    await ok(cc, ['pending', 'apply']);
    await waitFor(
      async () => (await pop3Login(a.pop3Port, 'lee@example.test', 'lee-password-1')).ok,
      'A lets lee in',
      2000,
    );

    // Renamed through C and applied by B: A logs the new name in with the mail the old one had,
    // and not the old name.
    expect((await smtpSend(a.smtpPort, 'ray@example.test', 'before-rename')).accepted).toBe(true);
    await ok(cc, ['accounts', 'rename', 'ray@example.test', 'rae']);
    await ok(b, ['pending', 'apply']);
    await waitFor(
      async () => (await pop3Login(a.pop3Port, 'rae@example.test', 'ray-password-1')).stat?.[0] === 1,
      'A serves rae with its mail',
      3000,
    );
    expect((await pop3Login(a.pop3Port, 'ray@example.test', 'ray-password-1')).ok).toBe(false);
    await waitFor(
      async () =>
        (JSON.parse(await ok(cc, ['accounts', 'list', '--json'])) as { address: string; messages: number }[]).find(
          (x) => x.address === 'rae@example.test',
        )?.messages === 1,
      "C shows rae's size",
      3000,
    );

    // A forward replaced through B, applied by C: mail through A goes to the new destination.
    await ok(b, ['forwards', 'add', 'fwd@example.test', 'lee@example.test']);
    await ok(cc, ['pending', 'apply']);
    await waitFor(
      async () => {
        await smtpSend(a.smtpPort, 'fwd@example.test', 'after-replace');
        return maildirWith(box('example.test', 'lee'), 'after-replace').length > 0;
      },
      'the forward reaches lee',
      3000,
    );
    expect(maildirWith(box('example.test', 'kim'), 'after-replace')).toEqual([]);

    // A catch-all set through A, applied by B: C takes mail for a name nobody has, into lee's box.
    await ok(a, ['domains', 'catchall', 'example.test', 'lee']);
    await ok(b, ['pending', 'apply']);
    await waitFor(
      async () => (await smtpSend(cc.smtpPort, 'nobody@example.test', 'to-catchall')).accepted,
      'C takes mail for an unknown name',
      3000,
    );
    expect(maildirWith(box('example.test', 'lee'), 'to-catchall')).toHaveLength(1);

    // A domain removed with its accounts through C, applied by A: B refuses its mail and logins.
    await ok(cc, ['domains', 'remove', 'second.test', '--with-accounts']);
    await ok(a, ['pending', 'apply']);
    await waitFor(
      async () => (await smtpSend(b.smtpPort, 'zed@second.test', 'after-domain-remove')).code === 550,
      'B refuses mail for the removed domain',
      3000,
    );
    expect((await pop3Login(b.pop3Port, 'zed@second.test', 'zed-password-1')).ok).toBe(false);
  }, 60_000);

  it('a rename and a removal applied by one daemon while both take mail for them: every 250 once, in its owner; a new t1 starts empty', async () => {
    const c = await cluster(['a', 'b']);
    const [a, b] = c.nodes;
    for (const n of ['t1', 'r1', 'k1']) await addAccount(a, n, 'password-1');
    expect(json(await a.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
    await waitFor(async () => (await pop3Login(b.pop3Port, 't1@example.test', 'password-1')).ok, 'b to serve t1');
    const rcpts = ['t1@example.test', 'r1@example.test', 'k1@example.test'];
    // Mostly into B, which learns of the apply only once A has committed it.
    const loops = [a, b, b].map((d, n) => smtpLoop(d.smtpPort, `cl${n}`, rcpts, 2000));
    await answers(loops[1], 30);
    expect((await a.cli(['accounts', 'rename', 't1', 'u1', '--keep-forward', '1h'])).code).toBe(0);
    expect((await a.cli(['accounts', 'remove', 'r1'])).code).toBe(0);
    expect(json(await a.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
    await answers(loops[1], 30);
    const sent = (await Promise.all(loops.map((l) => l.stop()))).flat();
    for (const d of [a, b])
      await waitFor(
        async () => json(await d.cli(['queue', 'list', '--json'])).length === 0,
        'the queues to drain',
        30_000,
      );
    expect(
      await checkMail(a, sent, (to) => (to === 't1@example.test' ? [to, 'u1@example.test'] : [to])),
    ).toBeGreaterThan(0);
    for (const gone of ['t1', 'r1']) expect(existsSync(join(c.root, 'mail/example.test', gone)), gone).toBe(false);
    await a.cli(['forwards', 'remove', 't1']);
    await a.cli(['pending', 'apply']);
    await addAccount(a, 't1', 'password-1');
    await addAccount(a, 'r1', 'password-1');
    expect(json(await a.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
    for (const n of ['t1', 'r1'])
      await waitFor(
        async () => (await pop3Login(b.pop3Port, `${n}@example.test`, 'password-1')).ok,
        `b to serve the new ${n}`,
      );
    for (const n of ['t1', 'r1'])
      expect((await pop3Login(b.pop3Port, `${n}@example.test`, 'password-1')).stat, n).toEqual([0, 0]);
  }, 180_000);

  it('status shows every daemon, the one holding the apply lease, and a killed one as gone; the lease moves', async () => {
    const c = await cluster(['a', 'b', 'c']);
    const [a, b] = c.nodes;
    const nodes = (await waitFor(async () => {
      const s = await status(b);
      return s.nodes?.length === 3 && s.nodes.every((n) => n.alive) ? s.nodes : null;
    }, 'three alive')) as NodeView[];
    expect(nodes.map((n) => n.id)).toEqual(['a', 'b', 'c']);
    expect(nodes.filter((n) => n.applyLease).map((n) => n.id)).toEqual(['a']);
    expect(nodes.every((n) => n.version === nodes[0].version)).toBe(true);
    expect((await b.cli(['status'])).stdout).toMatch(
      /nodes: 3 of 3 alive \(this one: b\)\n {4}a .* alive {2}apply lease\n/,
    );
    // The change log keeps a day: a daemon taking the lease drops what is older (hourly after).
    await addAccount(b, 'old', 'old-password-1');
    await sql(c, "UPDATE vmail_log SET at = now() - interval '25 hours'");
    await addAccount(b, 'new', 'new-password-1');
    const aged = async () =>
      Number((await sql(c, "SELECT count(*) AS n FROM vmail_log WHERE at < now() - interval '1 day'"))[0].n);
    expect(await aged()).toBeGreaterThan(0);
    await a.kill9();
    const after = (await waitFor(
      async () => {
        const s = await status(b);
        const lease = s.nodes?.find((n) => n.applyLease);
        return lease && lease.id !== 'a' ? s.nodes : null;
      },
      'another daemon takes the lease',
      10_000,
    )) as NodeView[];
    // Gone once its connection is and its heartbeat is 15 s old.
    await waitFor(async () => (await status(b)).nodes?.find((n) => n.id === 'a')?.alive === false, 'A gone', 25_000);
    expect(after.filter((n) => n.applyLease)).toHaveLength(1);
    const holder = c.nodes[['a', 'b', 'c'].indexOf(after.find((n) => n.applyLease)!.id)];
    await waitFor(() => /store log trimmed entries=\d+/.test(holder.output()), 'the new holder trims the log', 10_000);
    expect(await aged()).toBe(0);
    // The rows written since are kept, and the daemons still agree.
    expect(Number((await sql(c, 'SELECT count(*) AS n FROM vmail_log'))[0].n)).toBeGreaterThan(0);
    for (const d of [b, c.nodes[2]]) expect((await d.cli(['pending', 'list'])).stdout).toMatch(/new@example\.test/);
  }, 60_000);

  it("each daemon compares its settings with its own last start, never with another daemon's", async () => {
    const relay = (port: number) => ['--relay', `smtp://127.0.0.1:${port}`];
    const c = await cluster(['a', 'b'], (n) => relay(n === 'a' ? 2525 : 2626));
    const starts = async () =>
      (
        JSON.parse((await c.nodes.at(-1)!.cli(['log', '--json'])).stdout) as {
          method: string;
          outcome: string;
          params: Record<string, string>;
        }[]
      ).filter((e) => e.method === 'config.start');
    const first = 'first start with these settings';
    expect((await starts()).map((e) => e.outcome)).toEqual([first, first]);
    // B again as it was: nothing to record. A with another relay: that one setting.
    await c.nodes[1].stop();
    await c.start('b', relay(2626));
    await c.nodes[0].stop();
    await c.start('a', relay(2727));
    const after = await starts();
    expect(after.map((e) => e.outcome)).toEqual([first, first, 'started with 1 setting(s) changed']);
    expect(after[2].params).toEqual({ relay: '"smtp://127.0.0.1:2727"' });
  });

  it("a hash brought from Dovecot becomes vmail's own at its first login on any daemon, and the others take it", async () => {
    const c = await cluster(['a', 'b']);
    const [a, b] = c.nodes;
    const sha = execFileSync('doveadm', ['pw', '-s', 'SHA512-CRYPT', '-p', 'moe-password-1'], { encoding: 'utf8' });
    const csv = join(tempDir(), 'moved.csv');
    writeFileSync(csv, `name,password_hash\nmoe,"${sha.trim()}"\n`);
    expect((await a.cli(['accounts', 'import', csv])).code).toBe(0);
    await a.cli(['pending', 'apply']);
    const hashOn = async (d: DaemonHandle) =>
      /^moe@example\.test:(\{[A-Z0-9-]+\})/m.exec((await d.cli(['export', 'dovecot-passwd'])).stdout)?.[1];
    await waitFor(async () => (await hashOn(b)) === '{SHA512-CRYPT}', 'B has the imported hash', 2000);
    expect((await pop3Login(b.pop3Port, 'moe@example.test', 'moe-password-1')).ok).toBe(true);
    await waitFor(() => b.output().includes('password rehashed user=moe@example.test'), 'B rehashes it');
    await waitFor(async () => (await hashOn(a)) === '{ARGON2ID}', "A takes B's new hash", 2000);
    expect((await pop3Login(a.pop3Port, 'moe@example.test', 'moe-password-1')).ok).toBe(true);
    expect((await pop3Login(a.pop3Port, 'moe@example.test', 'moe-password-2')).ok).toBe(false);
    expect(a.output()).not.toMatch(/password rehashed/);
  });

  it("the console's header counts the daemons alive, and shows another daemon's change and its countdown", async () => {
    const c = await cluster(['a', 'b', 'c']);
    const [a, b, cc] = c.nodes;
    const session = `vmail-cluster-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '100',
      '-y',
      '30',
      `${process.execPath} ${VMAIL} console --socket ${b.socket}; sleep 30`,
    );
    const see = (text: RegExp) =>
      waitFor(() => text.test(tmux('capture-pane', '-p', '-t', session)), `the console shows ${text}`, 10_000);
    try {
      await see(/3 nodes/);
      await see(/1\. POP3 Accounts/);
      tmux('send-keys', '-t', session, 'Enter');
      await see(/Add a POP3 account/);
      await addAccount(a, 'cora', 'cora-password-1');
      await see(/cora\s+0\s+0 B\s+-\s+-\s+add in \d/);
      await cc.kill9();
      // Gone once its heartbeat is 15 s old too.
      await waitFor(
        () => /2 nodes/.test(tmux('capture-pane', '-p', '-t', session)),
        'the console shows 2 nodes',
        25_000,
      );
    } finally {
      tmux('kill-session', '-t', session);
    }
  }, 60_000);

  it('kill -9 of the daemon applying 1,000 changes: another finishes the apply, and each change is applied exactly once', async () => {
    // Applies on the tick, every 5 s, as the hourly apply does on the hour. The first daemon
    // holds the apply's lease, and kills itself (SIGKILL) at the worst point of the apply:
    // its first chunk's Maildirs made, nothing committed (VMAIL_CRASH_AT=files). A kill at a
    // moment the test picks came after the whole apply once the apply got faster.
    const c = await cluster([]);
    const interval = ['--apply-interval', '5s'];
    const holder = await c.start('a', interval, { VMAIL_CRASH_AT: 'files' });
    await c.start('b', interval);
    await c.start('c', interval);
    expect((await status(holder)).nodes!.find((n) => n.applyLease)?.id).toBe('a');
    const hash = await hashPassword('bulk-password-1');
    const csv = join(tempDir(), 'bulk.csv');
    const names = Array.from({ length: 1000 }, (_, i) => `u${String(i).padStart(4, '0')}`);
    writeFileSync(csv, `name,password_hash\n${names.map((n) => `${n},"${hash}"`).join('\n')}\n`);
    const imported = await c.nodes[1].cli(['accounts', 'import', csv]);
    expect(imported.code, imported.stderr).toBe(0);
    await waitFor(() => holder.proc.signalCode === 'SIGKILL', 'the lease holder killed mid-apply', 15_000);
    const applied = async () => Number((await sql(c, 'SELECT count(*) AS n FROM applied'))[0].n);
    expect(await applied(), 'nothing committed at the kill').toBe(0);
    const made = readdirSync(join(c.root, 'mail/example.test')).length;
    expect(made, "the first chunk's Maildirs made at the kill").toBeGreaterThan(0);
    expect(made).toBeLessThan(1000);
    const others = c.nodes.filter((d) => d !== holder);
    await waitFor(async () => (await applied()) === 1000, 'another daemon finishes the apply', 30_000);
    await waitFor(async () => (await status(others[0])).pending === 0, 'nothing left pending');
    for (const d of others) {
      const list = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as { address: string }[];
      expect(list).toHaveLength(1000);
    }
    // Each change's apply is recorded once in the audit log, which commits with it.
    const audit = await sql(c, 'SELECT value FROM audit WHERE value LIKE \'%"method":"apply"%\'');
    const ids = audit.map((r) => (JSON.parse(r.value as string).value as { params: { id?: string } }).params.id);
    expect(ids.filter(Boolean)).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(readdirSync(join(c.root, 'mail/example.test'))).toHaveLength(1000);
    expect(await pop3Login(others[1].pop3Port, 'u0999@example.test', 'bulk-password-1')).toMatchObject({ ok: true });
  }, 90_000);

  it('a POP3 session on one daemon makes the others answer [IN-USE], until it quits or its daemon dies', async () => {
    const c = await cluster(['a', 'b', 'c']);
    const [a, b, cc] = c.nodes;
    await addAccount(a, 'pat', 'pat-password-1');
    await a.cli(['pending', 'apply']);
    await waitFor(
      async () => (await pop3Login(b.pop3Port, 'pat@example.test', 'pat-password-1')).ok,
      'B knows pat',
      2000,
    );
    const first = await RawPop3.open(a.pop3Port);
    await first.login('pat@example.test', 'pat-password-1');
    for (const d of [b, cc]) {
      const other = await RawPop3.open(d.pop3Port);
      expect(await other.cmd('USER pat@example.test')).toBe('+OK');
      expect(await other.cmd('PASS pat-password-1')).toBe('-ERR [IN-USE] Mailbox is locked by another POP3 session.');
      other.close();
    }
    expect(await first.cmd('QUIT')).toMatch(/^\+OK/);
    first.close();
    const second = await RawPop3.open(b.pop3Port);
    await second.login('pat@example.test', 'pat-password-1');
    const blocked = await RawPop3.open(cc.pop3Port);
    await blocked.cmd('USER pat@example.test');
    expect(await blocked.cmd('PASS pat-password-1')).toMatch(/IN-USE/);
    blocked.close();
    // B dies with the session open: its lock goes with its connection to the store.
    await b.kill9();
    await waitFor(
      async () => (await pop3Login(cc.pop3Port, 'pat@example.test', 'pat-password-1')).ok,
      'C serves pat',
      5000,
    );
  });

  it('a delivery on one daemon moves the size another shows, with no inotify watch (NFS)', async () => {
    const c = await cluster(['a', 'b'], (n) => (n === 'b' ? ['--watch-limit', '0', '--rescan-interval', '1h'] : []));
    const [a, b] = c.nodes;
    await addAccount(a, 'sid', 'sid-password-1');
    await a.cli(['pending', 'apply']);
    await waitFor(
      async () => (await b.cli(['accounts', 'list'])).stdout.includes('sid@example.test'),
      'B has sid',
      2000,
    );
    const size = async () =>
      (JSON.parse((await b.cli(['accounts', 'list', '--json'])).stdout) as { messages: number }[])[0].messages;
    expect(await size()).toBe(0);
    expect((await smtpSend(a.smtpPort, 'sid@example.test', 'size-1')).accepted).toBe(true);
    await waitFor(async () => (await size()) === 1, "B shows A's delivery", 1000);
    // A burst: more deliveries in one moment than one notification holds.
    const burst = await Promise.all(
      Array.from({ length: 150 }, (_, i) => smtpSend(a.smtpPort, 'sid@example.test', `burst-${i}`)),
    );
    expect(burst.every((r) => r.accepted)).toBe(true);
    await waitFor(async () => (await size()) === 151, 'B counts every one', 5000);
    // And the other way: a POP3 delete on B moves A's.
    const s = await RawPop3.open(b.pop3Port);
    await s.login('sid@example.test', 'sid-password-1');
    await s.cmd('DELE 1');
    await s.cmd('QUIT');
    s.close();
    await waitFor(
      async () =>
        (JSON.parse((await a.cli(['accounts', 'list', '--json'])).stdout) as { messages: number }[])[0].messages ===
        150,
      "A shows B's delete",
      2000,
    );
    // The login on B is A's to show too (each daemon writes its own, and tells the others),
    // and a console open on A shows it without asking.
    await waitFor(
      async () =>
        (JSON.parse((await a.cli(['accounts', 'list', '--json'])).stdout) as { lastLoginAt: string | null }[])[0]
          .lastLoginAt !== null,
      "A shows B's login",
      5000,
    );
    const console = new DaemonSession(a.socket);
    try {
      console.start();
      await waitFor(() => console.snapshot.listed, "A's console to load");
      const before = console.snapshot.accounts[0].lastLoginAt;
      await new Promise((r) => setTimeout(r, 5));
      expect((await pop3Login(b.pop3Port, 'sid@example.test', 'sid-password-1')).ok).toBe(true);
      await waitFor(() => console.snapshot.accounts[0].lastLoginAt !== before, "B's second login on A's console", 5000);
    } finally {
      console.close();
    }
  });

  it('200 forwarded copies taken in by three daemons leave once each, also those of a daemon that died with them queued', async () => {
    const relay = new TestRelay();
    await relay.listen();
    const dead = await closedPort();
    // A's relay refuses connections: its copies wait in its spool until A is gone.
    const c = await cluster(['a', 'b', 'c'], (n) => ['--relay', `smtp://127.0.0.1:${n === 'a' ? dead : relay.port}`]);
    const [a] = c.nodes;
    expect((await a.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await a.cli(['pending', 'apply']);
    await waitFor(
      async () => (await smtpSend(c.nodes[2].smtpPort, 'out@example.test', 'probe')).accepted,
      'C knows the forward',
      2000,
    );
    const sends = Array.from({ length: 199 }, (_, i) =>
      smtpSend(c.nodes[i % 3].smtpPort, 'out@example.test', `fwd-${i}`),
    );
    expect((await Promise.all(sends)).every((r) => r.accepted)).toBe(true);
    const subjects = () => relay.received.map((m) => /Subject: (\S+)/.exec(m.data.toString())?.[1]);
    // A takes every third (67), B and C 66 each, and C the probe too: B's and C's leave, A's wait.
    await waitFor(() => relay.received.length >= 133, "B's and C's copies", 20_000);
    expect((await status(a)).queue.messages).toBe(67);
    // Any daemon lists the service's whole queue, each message with the daemon that sends it,
    // and has the one holding a message try it now.
    const [, b, cc] = c.nodes;
    type Queued = { id: string; node: string; attempts: number };
    const queued = async (d: DaemonHandle) => JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as Queued[];
    await waitFor(
      async () => (await queued(b)).filter((q) => q.node === 'a' && q.attempts === 1).length === 67,
      "A's 67 copies tried once, listed on B",
      10_000,
    );
    const text = (await cc.cli(['queue', 'list'])).stdout;
    expect(text.split('\n')[0]).toMatch(/^ID\s+DAEMON\s+FROM/);
    expect(text.split('\n').filter((l) => /^\S+\s+a\s+</.test(l))).toHaveLength(67);
    const one = (await queued(b)).find((q) => q.node === 'a')!;
    const retry = await b.cli(['queue', 'retry', one.id]);
    expect(retry.stdout).toContain(`Retrying message ${one.id} now (daemon a sends it).`);
    await waitFor(
      async () => (await queued(cc)).find((q) => q.id === one.id)?.attempts === 2,
      'A tried it again at once (its next try was a minute away)',
      5000,
    );
    const unknown = await b.cli(['queue', 'retry', 'nosuchid']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no queued message has id "nosuchid"');
    await a.kill9();
    await waitFor(() => relay.received.length >= 200, "A's copies, sent by another daemon", 45_000);
    await new Promise((r) => setTimeout(r, 1500));
    const got = subjects();
    expect(got).toHaveLength(200);
    expect(got).toContain('probe');
    expect(new Set(got).size).toBe(200);
    // A's spool folder went whole to one daemon, and is empty now.
    expect(readdirSync(join(c.root, 'queue')).sort()).toEqual(['b', 'c']);
    for (const n of ['b', 'c'])
      expect(readdirSync(join(c.root, 'queue', n)).filter((f) => f.endsWith('.json'))).toEqual([]);
    await relay.close();
  }, 90_000);

  it('a daemon cut off from the store stops (exit 75) rather than serve without its locks; the others go on, and it rejoins', async () => {
    const c = await cluster(['a', 'b']);
    const [a, b] = c.nodes;
    await addAccount(b, 'dan', 'dan-password-1');
    await b.cli(['pending', 'apply']);
    // PostgreSQL ends every connection of A, as a failover or a cut network would.
    const ended = await sql(
      c,
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name IN ('vmail:a', 'vmail-node:a')",
    );
    expect(ended.length).toBeGreaterThan(0);
    await waitFor(() => a.proc.exitCode !== null, 'A stops', 15_000);
    expect(a.proc.exitCode).toBe(75);
    expect(a.output()).toMatch(/error store connection lost/);
    // B goes on: it serves and takes changes.
    expect((await pop3Login(b.pop3Port, 'dan@example.test', 'dan-password-1')).ok).toBe(true);
    await addAccount(b, 'eve', 'eve-password-1');
    // A started again under its name rejoins with everything the others did meanwhile.
    const again = await c.start('a');
    expect((await again.cli(['pending', 'list'])).stdout).toMatch(/eve@example\.test/);
    expect((await pop3Login(again.pop3Port, 'dan@example.test', 'dan-password-1')).ok).toBe(true);
    await waitFor(async () => (await status(b)).nodes?.filter((n) => n.alive).length === 2, 'both alive', 10_000);
  });

  it("a daemon stalled past what the change log keeps reads every table again, and ends with the others' view", async () => {
    const c = await cluster(['a', 'b']);
    const [a, b] = c.nodes;
    await addAccount(a, 'fay', 'fay-password-1');
    await a.cli(['pending', 'apply']);
    await waitFor(async () => (await b.cli(['accounts', 'list'])).stdout.includes('fay@'), 'B has fay', 2000);
    // B stops (a frozen VM, a long GC pause): A goes on, and the log is trimmed behind it.
    b.proc.kill('SIGSTOP');
    try {
      await addAccount(a, 'gus', 'gus-password-1');
      expect((await a.cli(['accounts', 'remove', 'fay'])).code).toBe(0);
      await a.cli(['pending', 'apply']);
      await addAccount(a, 'hal', 'hal-password-1');
      await sql(c, 'DELETE FROM vmail_log WHERE version < (SELECT max(version) FROM vmail_log)');
    } finally {
      b.proc.kill('SIGCONT');
    }
    // The accounts and the pending changes (without the countdowns, which tick between two reads).
    const view = async (d: DaemonHandle) => {
      const accounts = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as { address: string }[];
      const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { id: string }[];
      return JSON.stringify([accounts.map((x) => x.address), pending.map((x) => x.id)]);
    };
    const want = await view(a);
    expect(want).toMatch(/gus@example\.test/);
    expect(want).toMatch(/hal@example\.test/);
    expect(want).not.toMatch(/fay@/);
    await waitFor(async () => (await view(b)) === want, "B's lists equal A's", 10_000);
    expect(b.output()).toMatch(/notice store read again/);
    expect(b.output()).not.toMatch(/error/);
  });

  it("one daemon's write to the shared counters never undoes another's it has not read yet", async () => {
    const url = await pg.database(`c${++dbs}`);
    const root = tempDir();
    // Two stores open on one database, as two daemons hold it, neither reading the other's log.
    const one = await Store.open(root, { kind: 'postgres', url }, 'one');
    const two = await Store.open(root, { kind: 'postgres', url }, 'two');
    const change = (seq: number) => ({
      id: String(seq),
      seq,
      domain: 'example.test',
      kind: 'forward' as const,
      action: 'add' as const,
      name: `f${seq}`,
      destinations: ['x@elsewhere.example'],
      requestedAt: Date.now(),
      appliesAt: Date.now() + 3_600_000,
    });
    await one.queueMany([change(5)]);
    await two.saveMeta({ lastApplyAt: 1 });
    await two.queueMany([change(3)]);
    await one.saveMeta({ nodeSettings: { one: { smtp: '"x"' } } });
    const fresh = await Store.open(root, { kind: 'postgres', url }, 'three');
    expect(fresh.meta).toMatchObject({ lastSeq: 5, lastApplyAt: 1, nodeSettings: { one: { smtp: '"x"' } } });
    expect(fresh.nextSeq()).toBe(6);
    for (const s of [one, two, fresh]) await s.close();
  });

  it('store migrate copies a running SQLite daemon into PostgreSQL, and refuses a store that has data', async () => {
    // Its relay refuses connections: a copy forwarded elsewhere waits in the spool.
    const single = await startDaemon({ args: ['--relay', `smtp://127.0.0.1:${await closedPort()}`] });
    await addAccount(single, 'mia', 'mia-password-1');
    expect((await single.cli(['forwards', 'add', 'desk', 'mia@example.test'])).code).toBe(0);
    expect((await single.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await single.cli(['pending', 'apply']);
    // A forwarded copy waits in its spool: its relay does not answer.
    expect((await smtpSend(single.smtpPort, 'out@example.test', 'waited-in-the-spool')).accepted).toBe(true);
    expect((await status(single)).queue.messages).toBe(1);
    await addAccount(single, 'noa', 'noa-password-1');
    const url = await pg.database('migrated');
    const from = `sqlite:${join(single.dataDir, 'vmail.sqlite')}`;
    const r = await runCli(['store', 'migrate', '--from', from, '--to', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Copied 1 domain\(s\), 1 account\(s\), 2 forward\(s\), 1 pending change\(s\)/);
    const again = await runCli(['store', 'migrate', '--from', from, '--to', url]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already holds/);
    await single.stop();
    const relay = new TestRelay();
    await relay.listen();
    const moved = await startDaemon({
      dataDir: single.dataDir,
      socket: join(tempDir(), 'm.sock'),
      args: ['--store', url, '--node', 'm', '--relay', `smtp://127.0.0.1:${relay.port}`],
    });
    running.push(moved);
    // The spool it left is taken over, and its copy leaves (tried now: the refusing relay
    // deferred it a minute).
    const [adopted] = await waitFor(async () => {
      const q = JSON.parse((await moved.cli(['queue', 'list', '--json'])).stdout) as { id: string }[];
      return q.length ? q : null;
    }, 'the adopted copy');
    await moved.cli(['queue', 'retry', adopted.id]);
    await waitFor(() => relay.received.length === 1, 'the waiting copy leaves', 10_000);
    expect(relay.received[0].data.toString()).toContain('waited-in-the-spool');
    expect(moved.output()).toMatch(/queue adopted from="the spool of a daemon that ran alone" messages=1/);
    await relay.close();
    expect((await moved.cli(['accounts', 'list'])).stdout).toMatch(/mia@example.test/);
    expect((await moved.cli(['forwards', 'list'])).stdout).toMatch(/desk@example.test/);
    expect((await moved.cli(['pending', 'list'])).stdout).toMatch(/noa@example.test/);
    expect((await pop3Login(moved.pop3Port, 'mia@example.test', 'mia-password-1')).ok).toBe(true);
    await moved.stop();
  }, 90_000);

  it('refuses in one line: an unreachable store, a URL it cannot read, a node name already running', async () => {
    const port = await closedPort();
    const unreachable = await runCli([
      'daemon',
      '--data-dir',
      tempDir(),
      '--store',
      `postgres://vmail@127.0.0.1:${port}/x`,
      ...LOOPBACK_LISTENERS,
    ]);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr.split('\n').filter((l) => l.startsWith('vmail:'))).toHaveLength(1);
    expect(unreachable.stderr).toMatch(/cannot reach the store postgres:\/\/vmail@127.0.0.1:\d+\/x/);
    const bad = await runCli(['daemon', '--data-dir', tempDir(), '--store', 'mysql://x/y']);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/--store: write sqlite:PATH or postgres:/);
    const c = await cluster(['a']);
    const twin = await runCli([
      'daemon',
      '--data-dir',
      c.root,
      '--socket',
      join(tempDir(), 't.sock'),
      '--store',
      c.url,
      '--node',
      'a',
      ...LOOPBACK_LISTENERS,
    ]);
    expect(twin.code).toBe(78);
    expect(twin.stderr).toMatch(/another daemon named "a" is connected/);
    // Two started at the same moment under one name: one serves, the other is refused.
    const pair = await Promise.allSettled([c.start('z'), c.start('z')]);
    expect(pair.filter((p) => p.status === 'fulfilled')).toHaveLength(1);
    const refused = pair.find((p) => p.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason)).toMatch(/exited with 78[\s\S]*another daemon named "z" is connected/);
    // The running one is untouched.
    expect((await status(c.nodes[0])).nodes?.find((n) => n.id === 'a')?.alive).toBe(true);
  });

  it('a long host name as the default node name fits what PostgreSQL keeps: the others see it alive and leave its spool; a --node that cannot fit is refused', async () => {
    const dead = await closedPort();
    const c = await cluster(['b']);
    const [b] = c.nodes;
    // 60 characters, one label: `vmail-node:` and it would be cut at 63.
    const host = `${'h'.repeat(56)}-one`;
    const a = await startDaemon({
      dataDir: c.root,
      socket: join(tempDir(), 'long.sock'),
      hostname: host,
      args: ['--store', c.url, '--relay', `smtp://127.0.0.1:${dead}`],
    });
    running.push(a);
    const id = (await status(a)).node!;
    expect(id.length).toBeLessThanOrEqual(52);
    expect((await a.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await a.cli(['pending', 'apply']);
    expect((await smtpSend(a.smtpPort, 'out@example.test', 'held-by-a')).accepted).toBe(true);
    // B adopts the spools of daemons it thinks gone every 5 s: after two turns A's copy is A's still.
    await new Promise((r) => setTimeout(r, 11_000));
    const queued = JSON.parse((await b.cli(['queue', 'list', '--json'])).stdout) as { node: string }[];
    expect(queued.map((q) => q.node)).toEqual([id]);
    expect((await status(b)).nodes?.find((n) => n.id === id)?.alive).toBe(true);
    const long = await runCli([
      'daemon',
      '--data-dir',
      c.root,
      '--socket',
      join(tempDir(), 'x.sock'),
      '--store',
      c.url,
      '--node',
      'n'.repeat(53),
      ...LOOPBACK_LISTENERS,
    ]);
    expect(long.code).toBe(78);
    expect(long.stderr.trim().split('\n')).toHaveLength(1);
    expect(long.stderr).toMatch(/--node "n{53}": .*up to 52/);
  }, 60_000);

  it('a daemon stopped past its heartbeat but still connected is not gone: nobody takes its spool', async () => {
    const dead = await closedPort();
    // Both relay to a closed port: the copy waits in a queue (without a relay B would deliver it
    // to remote.example's MX itself, and a name that does not resolve bounces at once).
    const c = await cluster(['a', 'b'], () => ['--relay', `smtp://127.0.0.1:${dead}`]);
    const [a, b] = c.nodes;
    expect((await a.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await a.cli(['pending', 'apply']);
    expect((await smtpSend(a.smtpPort, 'out@example.test', 'held-by-a')).accepted).toBe(true);
    a.proc.kill('SIGSTOP');
    try {
      // Its heartbeat is 15 s old after 15 s; B looks for gone daemons every 5 s.
      await new Promise((r) => setTimeout(r, 22_000));
      expect(readdirSync(join(c.root, 'queue', 'a')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      expect((await status(b)).nodes?.find((n) => n.id === 'a')?.alive).toBe(true);
    } finally {
      a.proc.kill('SIGCONT');
    }
    // Killed, it is gone (no connection, and its heartbeat stops): B takes the spool then.
    await a.kill9();
    await waitFor(
      async () =>
        (JSON.parse((await b.cli(['queue', 'list', '--json'])).stdout) as { node: string }[])[0]?.node === 'b',
      'B adopts the spool of A once it is gone',
      30_000,
    );
  }, 90_000);

  it('daemons starting together each keep their own settings on record', async () => {
    const c = await cluster([]);
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((n) => c.start(n, ['--relay', `smtp://127.0.0.1:${2500 + n.charCodeAt(0)}`])),
    );
    const [row] = await sql(c, "SELECT value FROM meta WHERE key = 'meta:meta'");
    const meta = JSON.parse(row.value as string).value as { nodeSettings: Record<string, Record<string, string>> };
    expect(Object.keys(meta.nodeSettings).sort()).toEqual(['a', 'b', 'c', 'd']);
    // So a restart as it was records nothing new.
    const b = c.nodes.find((d) => d.socket.endsWith('b.sock'))!;
    await b.stop();
    const again = await c.start('b', ['--relay', `smtp://127.0.0.1:${2500 + 98}`]);
    const starts = (JSON.parse((await again.cli(['log', '--json'])).stdout) as { method: string }[]).filter(
      (e) => e.method === 'config.start',
    );
    expect(starts).toHaveLength(4);
  }, 60_000);

  it('a read outside a transaction never sees what a transaction under way wrote (and then rolled back)', async () => {
    const c = await cluster([]);
    const db = await PostgresDatabase.open(c.url, 'iso', ['t']);
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    try {
      const t = await db.table<string>('t');
      let wrote = false;
      const write = db
        .write(async () => {
          await t.put([['k', 'uncommitted']]);
          wrote = true;
          await gate;
          throw new Error('rolled back');
        })
        .catch((err: Error) => err.message);
      await waitFor(() => wrote, 'the write under way');
      expect(await t.get('k')).toBeUndefined();
      expect((await t.getMany(['k'])).get('k')).toBeUndefined();
      release();
      expect(await write).toBe('rolled back');
      expect(await t.get('k')).toBeUndefined();
      await db.write(() => t.put([['k', 'committed']]));
      expect(await t.get('k')).toBe('committed');
    } finally {
      release();
      await db.close();
    }
  }, 60_000);

  it('daemons starting together on a fresh mail root share one SRS secret: a bounce to an address one made is taken by the others', async () => {
    const relay = new TestRelay();
    await relay.listen();
    const c = await cluster([]);
    await Promise.all(['a', 'b', 'c'].map((n) => c.start(n, ['--relay', `smtp://127.0.0.1:${relay.port}`])));
    const [first] = c.nodes;
    expect((await first.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await first.cli(['pending', 'apply']);
    for (const d of c.nodes)
      await waitFor(
        async () => (await smtpSend(d.smtpPort, 'out@example.test', `via-${d.socket}`)).accepted,
        'forward known',
      );
    await waitFor(() => relay.received.length >= 3, 'three copies');
    const srs = relay.received.map((m) => m.from);
    for (const s of srs) expect(s).toMatch(/^SRS0=/);
    // Each copy's SRS address, bounced to each daemon, goes back to the original sender.
    const before = relay.received.length;
    for (const d of c.nodes)
      for (const s of srs)
        expect((await smtpSend(d.smtpPort, s, `bounce-${s}`, '')).accepted, `${s} at ${d.socket}`).toBe(true);
    await waitFor(() => relay.received.length >= before + 9, 'nine bounces');
    expect(relay.received.slice(before).every((m) => m.to[0] === 'sender@elsewhere.example')).toBe(true);
    await relay.close();
  }, 60_000);

  it("a DKIM key made through one daemon signs on the others: B's forwarded copy is sealed with it", async () => {
    const relay = new TestRelay();
    await relay.listen();
    const c = await cluster(['a', 'b'], () => ['--relay', `smtp://127.0.0.1:${relay.port}`]);
    const [a, b] = c.nodes;
    expect((await a.cli(['forwards', 'add', 'out', 'someone@remote.example'])).code).toBe(0);
    await a.cli(['pending', 'apply']);
    await waitFor(
      async () => (await smtpSend(b.smtpPort, 'out@example.test', 'probe')).accepted,
      'B knows the forward',
    );
    const key = JSON.parse((await a.cli(['domains', 'dkim', 'example.test', '--json'])).stdout) as { selector: string };
    expect((await smtpSend(b.smtpPort, 'out@example.test', 'sealed-on-b')).accepted).toBe(true);
    const copy = await waitFor(
      () => relay.received.find((m) => m.data.toString().includes('Subject: sealed-on-b')),
      'the copy from B',
    );
    expect(copy.data.toString()).toMatch(new RegExp(`^ARC-Seal: [^\\r]*d=example\\.test;\\s+s=${key.selector};`));
    // A second key (a rotation) through B: A signs with it.
    const next = JSON.parse(
      (await b.cli(['domains', 'dkim', 'example.test', '--selector', 'rotated', '--json'])).stdout,
    ) as { selector: string };
    expect(next.selector).toBe('rotated');
    expect((await smtpSend(a.smtpPort, 'out@example.test', 'sealed-on-a')).accepted).toBe(true);
    const fromA = await waitFor(
      () => relay.received.find((m) => m.data.toString().includes('Subject: sealed-on-a')),
      'the copy from A',
    );
    expect(fromA.data.toString()).toMatch(/^ARC-Seal: [^\r]*d=example\.test;\s+s=rotated;/);
    await relay.close();
  }, 60_000);
});
