// Starts the real `vmail daemon` as a child process on a temp data dir with ports 0, and runs
// the real CLI against it. Used by the tests (through daemon.ts) and by the benchmarks.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** The repository root, from the source tree (tests) or the compiled one (benchmarks). */
export const ROOT = [resolve(import.meta.dirname, '../..'), resolve(import.meta.dirname, '../../..')].find((d) =>
  existsSync(join(d, 'bin/vmail.js')),
)!;
export const VMAIL = join(ROOT, 'bin/vmail.js');

/** Every daemon started and temp dir made here, for the caller to clean up. */
const live = new Set<ChildProcess>();
const dirs: string[] = [];

let cleaningUp = false;

export function cleanUp(): void {
  cleaningUp = true;
  for (const p of live) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function tempDir(prefix = 'vmail-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A self-signed certificate for `localhost` (openssl), valid a day, in a temp dir of its own. */
export async function selfSignedCert(): Promise<{ cert: string; key: string }> {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
  ]);
  return { cert, key };
}

export interface DaemonHandle {
  dataDir: string;
  socket: string;
  pop3Port: number;
  smtpPort: number;
  /** The submission port (587's role), NaN when off. */
  submissionPort: number;
  proc: ChildProcess;
  output: () => string;
  cli: (args: string[], input?: string) => Promise<CliResult>;
  stop: () => Promise<number | null>;
  kill9: () => Promise<void>;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface DaemonOptions {
  dataDir?: string;
  /** The control socket (default DATA_DIR/control.sock; daemons sharing a mail root need their own). */
  socket?: string;
  domains?: string[];
  /**
   * Default 7d: changes stay pending until the test applies them, rather than going at the top
   * of whichever hour a run happens to span.
   */
  applyInterval?: string;
  args?: string[];
  env?: Record<string, string>;
  /** The host name the daemon sees (in a UTS namespace of its own, by unshare): its default --node. */
  hostname?: string;
  /** How long it may take to say it is ready (default 20 s; a first start over 100,000 Maildirs takes longer). */
  readyTimeoutMs?: number;
  /** Another build's bin/vmail.js (a benchmark comparing against an older checkout). */
  vmail?: string;
  /** Flags for node itself before the script (--cpu-prof: Node 20 refuses it in NODE_OPTIONS). */
  nodeArgs?: string[];
}

export function runCli(
  args: string[],
  opts: { input?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const p = spawn(process.execPath, [VMAIL, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

/** Starts a daemon and resolves once it has printed its ready line. */
/**
 * Every listener of a daemon a test starts by hand: POP3 and SMTP on free loopback ports, the
 * others off (their defaults are privileged ports two tests at once would both want). A
 * caller's flag given later wins.
 */
export const LOOPBACK_LISTENERS = [
  '--pop3',
  '127.0.0.1:0',
  '--smtp',
  '127.0.0.1:0',
  '--submission',
  '0',
  '--submissions',
  '0',
  '--http',
  '0',
  '--https',
  '0',
];

export async function startDaemon(opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const dataDir = opts.dataDir ?? tempDir();
  const socket = opts.socket ?? join(dataDir, 'control.sock');
  const args = [
    ...(opts.nodeArgs ?? []),
    opts.vmail ?? VMAIL,
    'daemon',
    '--data-dir',
    dataDir,
    '--socket',
    socket,
    ...LOOPBACK_LISTENERS,
    // Submission on a free port too: a test that wants implicit TLS gives --submissions.
    '--submission',
    '127.0.0.1:0',
    '--apply-interval',
    opts.applyInterval ?? '7d',
    ...(opts.domains ?? ['example.test']).flatMap((d) => ['--domain', d]),
    ...(opts.args ?? []),
  ];
  const proc = spawn(
    opts.hostname ? 'unshare' : process.execPath,
    opts.hostname ? ['-u', 'sh', '-c', 'hostname "$0" && exec "$@"', opts.hostname, process.execPath, ...args] : args,
    {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  let stopping = false;
  const exited = new Promise<number | null>((r) =>
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      // A daemon that dies on its own is a bug worth seeing, whatever the test was doing.
      if (!stopping && !cleaningUp && (code !== 0 || signal))
        process.stderr.write(`\nvmail daemon on ${dataDir} exited unexpectedly (${code ?? signal}):\n${out}\n`);
      r(code);
    }),
  );
  const ready = await new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`daemon did not get ready:\n${out}`)),
      opts.readyTimeoutMs ?? 20_000,
    );
    const check = () => {
      const line = out.split('\n').find((l) => l.includes('ready'));
      if (line) {
        clearTimeout(timer);
        resolveReady(line);
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before it was ready:\n${out}`));
    });
  });
  const port = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(ready)?.[1] ?? NaN);
  return {
    dataDir,
    socket,
    pop3Port: port('pop3'),
    smtpPort: port('smtp'),
    submissionPort: port('submission'),
    proc,
    output: () => out,
    cli: (cliArgs, input) => runCli(cliArgs, { input, env: { VMAIL_SOCKET: socket } }),
    stop: async () => {
      stopping = true;
      proc.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      stopping = true;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** A loopback port free at the moment of asking (for servers that cannot be given port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it gives something; `what` (or what it returns at the timeout: a log then) names it. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
