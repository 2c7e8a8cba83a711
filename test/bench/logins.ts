// Login storms (issue 30 item 5): 1,000 POP3 sessions (USER, PASS, STAT, QUIT) from 20 clients
// at once over 200 accounts, vmail beside Dovecot 2.3 with the very same {ARGON2ID} hashes (from
// `vmail export dovecot-passwd`), Dovecot tuned as an admin would for a storm (DOVECOT_TUNING,
// printed with the figures): its auth cache on, password checks in auth workers, login processes
// in high-performance mode. The storm runs twice on fresh servers: the first round meets empty
// caches (200 first logins pay Argon2id), the second is steady state. Beside wall time, each
// server's CPU time per login (vmail's process; Dovecot's master and every process it forked),
// which the other work on a shared machine barely moves.
//
// What the CPU figures show: Dovecot's auth cache keeps the passdb's answer, the hash, and on a
// hit checks the password against it again (passdb_cache_verify_plain in src/auth/passdb-cache.c;
// auth_cache_verify_password_with_worker only moves that check into a worker), so every Dovecot
// login pays Argon2id whatever the cache size: libsodium's, about 45-60 ms of CPU here
// (`doveadm pw -t`), beside forking a pop3 process per session. vmail's cache
// (src/store/auth-cache.ts) keeps an HMAC of a password already proved right and skips Argon2id
// on a hit.
// Target: vmail in at most half of Dovecot's time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { ensureDovecot, startDovecotWith } from '../helpers/dovecot.js';
import { RawPop3 } from '../helpers/pop3.js';
import { startDaemon, tempDir, VMAIL } from '../helpers/process.js';
import { cpuSeconds, heading, loadAverage, ms, noteTarget, performance, seedAccounts, treeCpuSeconds } from './lib.js';

const PASSWORD = 'storm-password-1';
const ACCOUNTS = 200;
const SESSIONS = 1000;
const CLIENTS = 20;

/**
 * Dovecot as tuned for a login storm: the auth cache on and long-lived, cache hits checked in
 * auth workers (both cores) rather than in the one auth process, and login processes that each
 * serve many connections and are started ahead (Dovecot's "high-performance mode") instead of a
 * fork per connection. auth_worker_max_count stays at its default (30): more than enough.
 */
const DOVECOT_TUNING = [
  'auth_cache_size = 10M',
  'auth_cache_ttl = 1 hour',
  'auth_cache_verify_password_with_worker = yes',
  'service pop3-login {\n  service_count = 0\n  process_min_avail = 2\n  client_limit = 1000\n}',
];

/**
 * 1,000 sessions from 20 clients at once, account i % 200 for session i; the time taken (ms).
 * Each client has its own address (127.0.0.2 to .21), as the mail clients of a storm do: vmail
 * judges one login at a time per address (its guessing throttle).
 */
async function storm(port: number, user: (i: number) => string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, k) => {
      for (let i = next++; i < SESSIONS; i = next++) {
        // A loaded machine may keep a greeting waiting for seconds: a minute's patience, as for PASS.
        const c = await RawPop3.open(port, false, `127.0.0.${k + 2}`);
        await c.line(60_000);
        await c.ok(`USER ${user(i % ACCOUNTS)}`);
        // A loaded machine may take seconds over the first logins' hashes: a minute's patience.
        c.socket.write(`PASS ${PASSWORD}\r\n`);
        const reply = await c.line(60_000);
        if (!reply.startsWith('+OK')) throw new Error(`port ${port}: login refused: ${reply}`);
        await c.ok('STAT');
        await c.quit();
      }
    }),
  );
  return performance.now() - t0;
}

export async function benchLogins(): Promise<void> {
  heading('Login storm: 1,000 POP3 sessions, 20 clients, 200 accounts, vmail beside Dovecot (auth caches on)');
  const why = ensureDovecot();
  if (why) throw new Error(`the login bench needs Dovecot: ${why}`);
  const users = Array.from({ length: ACCOUNTS }, (_, i) => `storm${i}`);
  const dataDir = tempDir('vmail-bench-');
  await seedAccounts(dataDir, users, PASSWORD, Date.now());
  const vmail = await startDaemon({ dataDir, args: ['--max-connections-per-address', '100'] });
  const c = await ControlClient.connect(vmail.socket);
  await c.call('pending.apply');
  c.close();
  // The very same hashes for Dovecot: vmail's own export.
  const dovecotDir = tempDir('dovecot-bench-');
  const passwd = execFileSync(process.execPath, [VMAIL, 'export', 'dovecot-passwd', '--socket', vmail.socket], {
    encoding: 'utf8',
  });
  if (!passwd.includes('{ARGON2ID}'))
    throw new Error(`export dovecot-passwd gave no {ARGON2ID} hash: ${passwd.slice(0, 200)}`);
  writeFileSync(join(dovecotDir, 'passwd'), passwd);
  for (const u of users) mkdirSync(join(dovecotDir, `${u}@example.test`, 'Maildir', 'new'), { recursive: true });
  const dovecot = await startDovecotWith(dovecotDir, {
    passwdFile: join(dovecotDir, 'passwd'),
    mailLocation: `maildir:${dovecotDir}/%u/Maildir`,
    owned: users.map((u) => join(dovecotDir, `${u}@example.test`)),
    extra: `${DOVECOT_TUNING.join('\n')}\n`,
  });
  process.stdout.write(`  Dovecot ${execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim()}, tuned:\n`);
  for (const l of DOVECOT_TUNING) process.stdout.write(`    ${l.replaceAll('\n', ' ').replace(/ +/g, ' ')}\n`);
  process.stdout.write(`  load average at the start: ${loadAverage()}\n`);
  const user = (i: number) => `storm${i}@example.test`;
  try {
    const dovecotPid = Number(readFileSync(join(dovecotDir, 'run/master.pid'), 'utf8').trim());
    const servers = {
      vmail: { port: vmail.pop3Port, cpu: () => cpuSeconds(vmail.proc.pid!) },
      dovecot: { port: dovecot.port, cpu: () => treeCpuSeconds(dovecotPid) },
    };
    /** One storm on one server: wall time (ms) and CPU time per login (ms). */
    const measured = async (which: keyof typeof servers) => {
      const c0 = servers[which].cpu();
      const wall = await storm(servers[which].port, user);
      return { wall, cpu: ((servers[which].cpu() - c0) / SESSIONS) * 1000 };
    };
    const line = (what: string, v: { wall: number; cpu: number }, d: { wall: number; cpu: number }) => {
      noteTarget(`logins, ${what}: vmail/Dovecot`, (v.wall / d.wall).toFixed(2), {
        text: '<= 0.50',
        met: v.wall / d.wall <= 0.5,
      });
      process.stdout.write(
        `  ${what.padEnd(36)} vmail ${ms(v.wall).padStart(9)}  dovecot ${ms(d.wall).padStart(9)}  vmail/dovecot ${(v.wall / d.wall).toFixed(2)}` +
          `   target <= 0.50: ${v.wall / d.wall <= 0.5 ? 'met' : 'NOT met'}\n` +
          `  ${''.padEnd(36)} CPU per login: vmail ${ms(v.cpu)}, dovecot ${ms(d.cpu)} (ratio ${(v.cpu / d.cpu).toFixed(2)})\n`,
      );
    };
    // Round 1 on both: caches empty, so 200 logins pay Argon2id; then round 2, steady state.
    const coldV = await measured('vmail');
    process.stdout.write(`  (vmail round 1: ${ms(coldV.wall)})\n`);
    line('round 1 (caches empty at the start)', coldV, await measured('dovecot'));
    const warmV = await measured('vmail');
    line('round 2 (caches warm)', warmV, await measured('dovecot'));
    process.stdout.write(`  load average at the end: ${loadAverage()}\n`);
  } finally {
    dovecot.stop();
    await vmail.stop();
  }
}
