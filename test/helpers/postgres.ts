// A real PostgreSQL for the tests and the benchmark: Debian's server binaries, a cluster made
// with initdb in a temp dir (as the unprivileged `postgres` user when run as root), listening on
// a free loopback port and a socket in that dir. Installs Debian's postgresql when it is
// missing; says why when it cannot.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './process.js';

export interface Postgres {
  /** postgres://vmail@127.0.0.1:PORT/DB for a database made with `database()`. */
  database(name: string): Promise<string>;
  /** Runs SQL as the superuser on `db`; the rows. */
  query(db: string, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  port: number;
  stop(): void;
}

/** The directory of Debian's PostgreSQL server programs (initdb, pg_ctl), newest version first. */
function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin/initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

/** Makes sure PostgreSQL's server is installed; returns why not when it cannot be. */
export function ensurePostgres(): string | null {
  if (binDir()) return null;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], { env, stdio: 'ignore' });
  return binDir() ? null : "PostgreSQL is not installed and apt-get could not install Debian's postgresql here";
}

/** As root, the programs run as `postgres` (initdb refuses root); otherwise as the caller. */
function asServerUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error('running as root, and there is no postgres user to run PostgreSQL as');
  return { uid: Number(id.stdout), gid: Number(gid.stdout) };
}

/**
 * Starts a PostgreSQL cluster of its own. `fsync: false` for tests (the server is never the
 * process killed); the benchmark keeps it on, as SQLite's store does.
 */
export async function startPostgres(opts: { fsync?: boolean } = {}): Promise<Postgres> {
  const bin = binDir();
  if (!bin) throw new Error('PostgreSQL is not installed (see ensurePostgres)');
  const dir = mkdtempSync(join(tmpdir(), 'vmail-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const user = asServerUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const run = (prog: string, args: string[]) =>
    execFileSync(join(bin, prog), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
  run('initdb', ['-D', data, '-U', 'vmail', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${dir}'`,
    `-c fsync=${opts.fsync === false ? 'off' : 'on'}`,
    '-c max_connections=200',
  ].join(' ');
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings, '-w', '-t', '60', 'start']);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  const url = (db: string) => `postgres://vmail@127.0.0.1:${port}/${db}`;
  const query = async (db: string, sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url(db) });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    port,
    query,
    database: async (name) => {
      await query('postgres', `CREATE DATABASE ${name}`);
      return url(name);
    },
    stop,
  };
}
