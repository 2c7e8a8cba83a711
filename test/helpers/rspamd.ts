// A real rspamd from Debian's package for the tests: Debian's own configuration with a local
// override in a temp dir (its workers on free loopback ports, DNS pointed at a closed port so
// nothing leaves the machine, greylisting off) and two test rules: a Subject containing
// "vmail-test-spammy" scores 8 (add header), "vmail-test-rewrite" forces a rewritten subject,
// "vmail-test-defer" a soft reject. GTUBE is rspamd's own. Started once per test file: it takes ~15 s to get ready.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from './process.js';
import { closedPort } from './relay.js';

export const RSPAMD = '/usr/bin/rspamd';
export const hasRspamd = existsSync(RSPAMD);

export class TestRspamd {
  url = '';
  private proc: ChildProcess | null = null;
  log = '';

  async start(): Promise<void> {
    const dir = tempDir('rspamd-');
    const local = join(dir, 'local');
    for (const d of ['local/override.d', 'local/local.d', 'db', 'run', 'log'])
      mkdirSync(join(dir, d), { recursive: true });
    const [normal, controller, proxy] = [await closedPort(), await closedPort(), await closedPort()];
    const files: Record<string, string> = {
      'override.d/worker-normal.inc': `bind_socket = "127.0.0.1:${normal}";\ncount = 1;\n`,
      'override.d/worker-controller.inc': `bind_socket = "127.0.0.1:${controller}";\n`,
      'override.d/worker-proxy.inc': `bind_socket = "127.0.0.1:${proxy}";\n`,
      'override.d/logging.inc': 'type = "console";\nlevel = "error";\n',
      'override.d/options.inc': 'dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 1; }\n',
      'override.d/actions.conf': 'reject = 15;\nadd_header = 6;\ngreylist = null;\nsubject = "***SPAM*** %s";\n',
      'local.d/milter_headers.conf':
        'use = ["x-spamd-result", "x-spam-status", "authentication-results"];\nskip_local = false;\nskip_authenticated = false;\n',
      'spammy.map': '/vmail-test-spammy/i\n',
      'defer.map': '/vmail-test-defer/i\n',
      'rewrite.map': '/vmail-test-rewrite/i\n',
      'local.d/multimap.conf': [
        `VMAIL_TEST_SPAMMY { type = "header"; header = "Subject"; regexp = true; map = "${local}/spammy.map"; score = 8.0; }`,
        `VMAIL_TEST_REWRITE { type = "header"; header = "Subject"; regexp = true; map = "${local}/rewrite.map"; action = "rewrite subject"; }`,
        `VMAIL_TEST_DEFER { type = "header"; header = "Subject"; regexp = true; map = "${local}/defer.map"; action = "soft reject"; message = "try later (test)"; }`,
        '',
      ].join('\n'),
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(join(local, f), text);
    const user = execFileSync('id', ['-un']).toString().trim();
    const group = execFileSync('id', ['-gn']).toString().trim();
    this.proc = spawn(
      RSPAMD,
      [
        '-f',
        '-i',
        '-u',
        user,
        '-g',
        group,
        '-c',
        '/etc/rspamd/rspamd.conf',
        '--var',
        `LOCAL_CONFDIR=${local}`,
        '--var',
        `DBDIR=${join(dir, 'db')}`,
        '--var',
        `RUNDIR=${join(dir, 'run')}`,
        '--var',
        `LOGDIR=${join(dir, 'log')}`,
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.proc.stdout!.on('data', (d) => (this.log += d));
    this.proc.stderr!.on('data', (d) => (this.log += d));
    this.url = `http://127.0.0.1:${normal}`;
    await waitFor(
      async () => {
        if (this.proc?.exitCode !== null) throw new Error(`rspamd exited:\n${this.log}`);
        return fetch(`${this.url}/ping`)
          .then((r) => r.text())
          .then((t) => t.startsWith('pong'))
          .catch(() => false);
      },
      'rspamd to answer /ping',
      90_000,
    );
  }

  /** Stops rspamd and its workers (a process group of their own). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(-p.pid!, 'SIGTERM');
    await exited;
    this.proc = null;
  }
}

/**
 * An rspamd stand-in for the answers the real one cannot be made to give (an action it does
 * not know, add_headers without remove_headers): a Node HTTP server on a free loopback port
 * that answers /ping with `pong` and every /checkv2 with `reply` as JSON.
 */
export async function rspamdStandIn(reply: Record<string, unknown>): Promise<{ url: string; close: () => void }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/ping') return res.end('pong\r\n');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
