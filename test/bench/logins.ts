// Login storms (issue 30 item 5): 1,000 POP3 sessions (USER, PASS, STAT, QUIT) from 20 clients
// at once over 200 accounts, vmail beside Dovecot 2.3 with the very same {ARGON2ID} hashes (from
// `vmail export dovecot-passwd`) and Dovecot's auth cache on as well (auth_cache_size = 10M,
// auth_cache_verify_password_with_worker = yes). The storm runs twice on fresh servers: the
// first round meets empty caches (200 first logins pay Argon2id), the second is steady state.
// Target: vmail in at most half of Dovecot's time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { ensureDovecot, startDovecotWith } from '../helpers/dovecot.js';
import { RawPop3 } from '../helpers/pop3.js';
import { startDaemon, tempDir, VMAIL } from '../helpers/process.js';
import { heading, ms, performance, seedAccounts } from './lib.js';

const PASSWORD = 'storm-password-1';
const ACCOUNTS = 200;
const SESSIONS = 1000;
const CLIENTS = 20;

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
        const c = await RawPop3.open(port, true, `127.0.0.${k + 2}`);
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
    extra: 'auth_cache_size = 10M\nauth_cache_verify_password_with_worker = yes\n',
  });
  const user = (i: number) => `storm${i}@example.test`;
  try {
    const line = (what: string, v: number, d: number) =>
      process.stdout.write(
        `  ${what.padEnd(44)} vmail ${ms(v).padStart(9)}  dovecot ${ms(d).padStart(9)}  vmail/dovecot ${(v / d).toFixed(2)}` +
          `   target <= 0.50: ${v / d <= 0.5 ? 'met' : 'NOT met'}\n`,
      );
    // Round 1 on both: caches empty, so 200 logins pay Argon2id; then round 2, steady state.
    const cold = { v: await storm(vmail.pop3Port, user), d: 0 };
    process.stdout.write(`  (vmail round 1: ${ms(cold.v)})\n`);
    cold.d = await storm(dovecot.port, user);
    line('round 1 (caches empty at the start)', cold.v, cold.d);
    const warm = { v: await storm(vmail.pop3Port, user), d: await storm(dovecot.port, user) };
    line('round 2 (caches warm)', warm.v, warm.d);
  } finally {
    dovecot.stop();
    await vmail.stop();
  }
}
