// Dovecot's POP3 server on loopback, over Maildirs a test or the benchmark prepares: for
// side-by-side figures, and as the server an import moves away from. Installs Debian's
// dovecot-pop3d when it is missing; says why when it cannot.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './process.js';

export interface Dovecot {
  port: number;
  stop(): void;
}

/** Makes sure `dovecot` is installed; returns why not when it cannot be. */
export function ensureDovecot(): string | null {
  if (spawnSync('dovecot', ['--version']).status === 0) return null;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
  const install = spawnSync(
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', 'dovecot-core', 'dovecot-pop3d'],
    { env, stdio: 'ignore' },
  );
  if (update.status !== 0 || install.status !== 0 || spawnSync('dovecot', ['--version']).status !== 0) {
    return 'Dovecot is not installed and apt-get could not install dovecot-pop3d here';
  }
  return null;
}

/** Starts Dovecot serving DIR/USER/Maildir for `users` (all with `password`). */
export function startDovecot(dir: string, users: string[], password: string): Promise<Dovecot> {
  writeFileSync(join(dir, 'passwd'), users.map((u) => `${u}:{PLAIN}${password}\n`).join(''));
  return startDovecotWith(dir, {
    passwdFile: join(dir, 'passwd'),
    mailLocation: `maildir:${dir}/%u/Maildir`,
    owned: users.map((u) => join(dir, u)),
  });
}

/**
 * Starts Dovecot with its state in `dir`: users from `passwdFile`, mail at `mailLocation`
 * (Dovecot's template), `owned` given to the user it runs mail processes as.
 */
export async function startDovecotWith(
  dir: string,
  opts: {
    passwdFile: string;
    mailLocation: string;
    owned: string[];
    uidlFormat?: string;
    /** More settings, as lines of dovecot.conf (the benchmark's auth_cache_size). */
    extra?: string;
  },
): Promise<Dovecot> {
  const port = await freePort();
  chmodSync(dir, 0o755);
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    `
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
mail_location = ${opts.mailLocation}
${opts.uidlFormat ? `pop3_uidl_format = ${opts.uidlFormat}` : ''}
${opts.extra ?? ''}
passdb {
  driver = passwd-file
  args = ${opts.passwdFile}
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${dir}/home/%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
}
`,
  );
  // Its mail processes run as nobody, with their home folders here.
  mkdirSync(join(dir, 'home'), { recursive: true });
  execFileSync('chown', ['-R', 'nobody:nogroup', join(dir, 'home'), ...opts.owned]);
  // Dovecot forks into the background and keeps its stdio: send it to a file, not a pipe.
  execFileSync('sh', ['-c', `dovecot -c '${conf}' >'${dir}/start.log' 2>&1`]);
  const pidFile = join(dir, 'run/master.pid');
  for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    stop: () => {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}
