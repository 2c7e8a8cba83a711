// The `vmail` command: parses arguments and dispatches subcommands. Client subcommands talk to
// the daemon over the control socket; errors are one line on stderr with exit status 1 (bad
// input) or 2 (daemon unreachable).
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { socketPathFrom } from './config.js';
import type { ControlClient } from './control/client.js';
import type { AccountView, ForwardView, PendingView, QueueResult, QueueView } from './control/protocol.js';
import { InputError } from './model/errors.js';
import { actionWord, clockTime, humanBytes, pendingStatus, whenApplies } from './model/format.js';

const USAGE = `vmail: mail for virtual domains

  vmail daemon   [--data-dir DIR] [--socket PATH] [--domain NAME]... [--pop3 HOST:PORT]
                 [--smtp HOST:PORT] [--apply-interval DURATION] [--relay smtp://HOST:PORT]
                 [--pop3s HOST:PORT] [--tls-cert FILE --tls-key FILE] [--max-message-size SIZE]
                 [--max-connections N] [--max-connections-per-address 20]
                 [--auth-failure-delay 500ms] [--rescan-interval 30s]
                 [--relay-timeout 30s] [--pop3-idle-timeout 10m]
  vmail console  [--socket PATH]
  vmail up       start a demo daemon if none answers, and open the console
  vmail status   [--json]
  vmail accounts list   [--domain D] [--json]
  vmail accounts add    NAME[@DOMAIN] [--password-stdin]
  vmail accounts passwd NAME[@DOMAIN] [--password-stdin]
  vmail accounts remove NAME[@DOMAIN]
  vmail forwards list   [--domain D] [--json]
  vmail forwards add    NAME[@DOMAIN] DEST [DEST...]
  vmail forwards remove NAME[@DOMAIN]
  vmail pending  list [--domain D] [--json] | cancel ID | apply [--domain D]
  vmail queue    list [--json] | retry ID

Client commands find the daemon at --socket, $VMAIL_SOCKET, or DATA_DIR/control.sock
(DATA_DIR: --data-dir, $VMAIL_DATA_DIR, or /var/lib/vmail).`;

class UsageError extends InputError {}

type Options = NonNullable<ParseArgsConfig['options']>;
const CLIENT: Options = {
  socket: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  domain: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const DAEMON: Options = {
  'data-dir': { type: 'string' },
  socket: { type: 'string' },
  domain: { type: 'string', multiple: true },
  pop3: { type: 'string' },
  pop3s: { type: 'string' },
  smtp: { type: 'string' },
  'apply-interval': { type: 'string' },
  relay: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'max-message-size': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-address': { type: 'string' },
  'auth-failure-delay': { type: 'string' },
  'rescan-interval': { type: 'string' },
  'relay-timeout': { type: 'string' },
  'pop3-idle-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

function parse(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]} (see vmail --help)`);
  }
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

async function connect(flags: { socket?: string; 'data-dir'?: string }): Promise<ControlClient> {
  const { ControlClient } = await import('./control/client.js');
  return ControlClient.connect(socketPathFrom(flags));
}

/** One line from stdin: the trailing line break is not part of the password. */
async function readPasswordLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if ((chunk as Buffer).includes(10) || total > 4096) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl >= 0 ? text.slice(0, nl) : text).replace(/\r$/, '');
}

/** Asks twice on the terminal without echo. */
async function promptPassword(address: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    throw new InputError('no terminal to ask for the password on: pass --password-stdin and send it on stdin');
  const ask = (question: string) =>
    new Promise<string>((resolve, reject) => {
      process.stderr.write(question);
      let value = '';
      stdin.setRawMode(true);
      stdin.resume();
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            done();
            process.stderr.write('\n');
            return resolve(value);
          }
          if (ch === '\u0003') {
            done();
            process.stderr.write('\n');
            return reject(new InputError('cancelled'));
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      };
      stdin.on('data', onData);
    });
  const first = await ask(`New password for ${address}: `);
  const second = await ask('Again: ');
  if (first !== second) throw new InputError('the two passwords differ: nothing was changed');
  return first;
}

function describeQueued(r: QueueResult): string {
  if ('cancelled' in r) {
    const c = r.cancelled;
    return `Cancelled the pending ${actionWord(c.action)} of ${c.address}: nothing will change`;
  }
  const q = r.queued;
  return `Queued: ${actionWord(q.action)} ${q.address}, ${whenApplies(q.appliesAt)} [id ${q.id}]`;
}

function accountRows(list: AccountView[]): string {
  if (list.length === 0) return 'No POP3 accounts yet: add one with `vmail accounts add NAME`.';
  const rows = list.map((a) => [
    a.address,
    String(a.messages),
    humanBytes(a.bytes),
    a.pending ? pendingStatus(a.pending.action, a.pending.appliesAt) : 'active',
    a.lastLoginAt ? clockTime(a.lastLoginAt) : '-',
  ]);
  return table(['ACCOUNT', 'MESSAGES', 'SIZE', 'STATUS', 'LAST LOGIN'], rows, [1, 2]);
}

function forwardRows(list: ForwardView[]): string {
  if (list.length === 0) return 'No forwarding addresses yet: add one with `vmail forwards add NAME DEST`.';
  const rows = list.map((f) => [
    f.address,
    (f.pending?.destinations ?? f.destinations).join(', '),
    f.pending ? pendingStatus(f.pending.action, f.pending.appliesAt) : 'active',
  ]);
  return table(['FORWARD', 'DESTINATIONS', 'STATUS'], rows);
}

function queueRows(list: QueueView[]): string {
  if (list.length === 0) return 'The forward queue is empty.';
  const rows = list.map((q) => [
    q.id,
    `<${q.from}>`,
    `<${q.to}>`,
    humanBytes(q.size),
    String(q.attempts),
    q.lastError
      ? `next try ${clockTime(q.nextAttemptAt)}: ${q.lastError.slice(0, 60)}`
      : `next try ${clockTime(q.nextAttemptAt)}`,
  ]);
  return table(['ID', 'FROM', 'TO', 'SIZE', 'TRIES', 'STATUS'], rows, [3, 4]);
}

function pendingRows(list: PendingView[]): string {
  if (list.length === 0) return 'No pending changes.';
  const rows = list.map((p) => [p.id, p.kind, actionWord(p.action), p.address, whenApplies(p.appliesAt)]);
  return table(['ID', 'KIND', 'ACTION', 'ADDRESS', 'WHEN'], rows);
}

export function table(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function need(positionals: string[], count: number, usage: string): void {
  if (positionals.length < count) throw new UsageError(`usage: ${usage}`);
}

async function client(command: string, args: string[]): Promise<void> {
  const { values: v, positionals: pos } = parse(args, CLIENT);
  const flags = v as {
    socket?: string;
    'data-dir'?: string;
    json?: boolean;
    domain?: string;
    'password-stdin'?: boolean;
  };
  const sub = pos[0];
  const key = command === 'status' ? 'status' : `${command} ${sub ?? ''}`.trim();
  const known = new Set([
    'status',
    'accounts list',
    'accounts add',
    'accounts passwd',
    'accounts remove',
    'forwards list',
    'forwards add',
    'forwards remove',
    'pending list',
    'pending cancel',
    'pending apply',
    'queue list',
    'queue retry',
  ]);
  if (!known.has(key)) throw new UsageError(`unknown command "vmail ${key}" (see vmail --help)`);

  // Read the password before connecting, so a slow typist does not hold a connection open.
  let password = '';
  if (key === 'accounts add' || key === 'accounts passwd') {
    need(pos, 2, `vmail ${key} NAME[@DOMAIN] [--password-stdin]`);
    password = flags['password-stdin'] ? await readPasswordLine() : await promptPassword(pos[1]);
  }

  const c = await connect(flags);
  try {
    const domain = flags.domain;
    switch (key) {
      case 'status': {
        const s = await c.call('status');
        if (flags.json) return json(s);
        out(`vmail ${s.version}: ${s.domains.join(', ')}`);
        out(
          `  ${s.accounts} accounts, ${s.forwards} forwards, ${s.pending} pending change(s); next apply ${whenApplies(s.nextApplyAt).replace('applies at ', '')}`,
        );
        out(`  POP3 port ${s.pop3.port ?? '-'}, SMTP port ${s.smtp.port ?? '-'}, data in ${s.dataDir}`);
        out(`  forward queue: ${s.queue.messages} message(s)${s.relay ? `, relay ${s.relay}` : ', no relay'}`);
        if (s.queue.problem) out(`  attention: ${s.queue.problem}`);
        if (s.lastApplyError) out(`  last apply: ${s.lastApplyError}`);
        if (s.storeProblem) out(`  attention: ${s.storeProblem}`);
        return;
      }
      case 'accounts list': {
        const list = await c.call('accounts.list', domain ? { domain } : {});
        return flags.json ? json(list) : out(accountRows(list));
      }
      case 'accounts add':
      case 'accounts passwd':
        return out(
          describeQueued(
            await c.call(key === 'accounts add' ? 'accounts.add' : 'accounts.passwd', {
              name: pos[1],
              password,
              ...(domain ? { domain } : {}),
            }),
          ),
        );
      case 'accounts remove':
        need(pos, 2, 'vmail accounts remove NAME[@DOMAIN]');
        return out(describeQueued(await c.call('accounts.remove', { name: pos[1], ...(domain ? { domain } : {}) })));
      case 'forwards list': {
        const list = await c.call('forwards.list', domain ? { domain } : {});
        return flags.json ? json(list) : out(forwardRows(list));
      }
      case 'forwards add':
        need(pos, 3, 'vmail forwards add NAME[@DOMAIN] DEST [DEST...]');
        return out(
          describeQueued(
            await c.call('forwards.add', { name: pos[1], destinations: pos.slice(2), ...(domain ? { domain } : {}) }),
          ),
        );
      case 'forwards remove':
        need(pos, 2, 'vmail forwards remove NAME[@DOMAIN]');
        return out(describeQueued(await c.call('forwards.remove', { name: pos[1], ...(domain ? { domain } : {}) })));
      case 'pending list': {
        const list = await c.call('pending.list', domain ? { domain } : {});
        return flags.json ? json(list) : out(pendingRows(list));
      }
      case 'pending cancel': {
        need(pos, 2, 'vmail pending cancel ID');
        const p = await c.call('pending.cancel', { id: pos[1] });
        return out(`Cancelled: ${actionWord(p.action)} ${p.address} [id ${p.id}]`);
      }
      case 'pending apply': {
        const r = await c.call('pending.apply', domain ? { domain } : {});
        if (flags.json) return json(r);
        out(
          `Applied ${r.applied.length} change(s)${domain ? ` of ${domain}` : ''}.${r.left ? ` ${r.left} change(s) of other domains stay pending.` : ''}`,
        );
        for (const f of r.failed) out(`Not applied: change ${f.id}: ${f.error}`);
        return;
      }
      case 'queue list': {
        const list = await c.call('queue.list');
        return flags.json ? json(list) : out(queueRows(list));
      }
      case 'queue retry':
        need(pos, 2, 'vmail queue retry ID');
        await c.call('queue.retry', { id: pos[1] });
        return out(`Retrying message ${pos[1]} now.`);
    }
  } finally {
    c.close();
  }
}

async function daemon(args: string[]): Promise<void> {
  const { values } = parse(args, DAEMON);
  if (values.help) return out(USAGE);
  const { daemonConfig } = await import('./config.js');
  const config = daemonConfig(values as Parameters<typeof daemonConfig>[0]);
  const { startDaemon } = await import('./daemon/daemon.js');
  const running = await startDaemon(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`vmail daemon: ${signal}: stopping\n`);
    running.stop().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`vmail daemon: error while stopping: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The last line of defence: every background task handles its own failures, but a slip in
  // one must not take every POP3 and SMTP session down with it. Logged, loudly, and served on.
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`vmail daemon: internal error, kept running: ${(err as Error)?.stack ?? String(err)}\n`);
  });
  const { pop3, smtp } = running.ports;
  out(
    `vmail daemon ready: pop3=${pop3 ?? '-'} smtp=${smtp ?? '-'} socket=${config.socketPath} domains=${running.changes.domains.join(',')}`,
  );
}

/** `vmail console`, and `vmail up`: a demo daemon (started if none answers) and the console on it. */
async function consoleCommand(command: 'console' | 'up', args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    socket: { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (positionals.length)
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see vmail --help)`);
  // React's development build checks every element and is several times slower.
  process.env.NODE_ENV ??= 'production';
  // Ink draws only a final frame when it thinks it runs in CI; the console runs on a
  // terminal (it checks), so a CI variable inherited by the shell must not blank it.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const { runConsole } = await import('../screens/run.js');
  const flags = values as { socket?: string; 'data-dir'?: string };
  if (command === 'console') return runConsole(socketPathFrom(flags));
  if (!process.stdout.isTTY || !process.stdin.isTTY)
    throw new InputError('the console needs a terminal: run it in an interactive shell (over SSH: ssh -t)');
  const { resolve } = await import('node:path');
  const { startDemo } = await import('./daemon/demo.js');
  const dataDir = resolve(flags['data-dir'] ?? process.env.VMAIL_DATA_DIR ?? '.vmail-demo');
  process.stderr.write(`vmail: starting the demo daemon in ${dataDir} ...\n`);
  const demo = await startDemo(dataDir, flags.socket ? resolve(flags.socket) : undefined);
  return runConsole(demo.socketPath, async () => {
    if (!demo.started) return;
    process.stderr.write('vmail: stopping the demo daemon\n');
    await demo.stop();
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // A reader that stops early (`vmail status | head -1`) ends the output, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`vmail: cannot write the output: ${err.message}\n`);
    process.exit(err.code === 'EPIPE' ? 0 : 1);
  });
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      out(USAGE);
      return command ? 0 : 1;
    }
    if (command === '--version') {
      const { VERSION } = await import('./package-root.js');
      out(VERSION);
      return 0;
    }
    if (command === 'daemon') {
      await daemon(rest);
      return -1;
    }
    if (command === 'console' || command === 'up') return await consoleCommand(command, rest);
    if (['status', 'accounts', 'forwards', 'pending', 'queue'].includes(command)) {
      await client(command, rest);
      return 0;
    }
    throw new UsageError(`unknown command "${command}" (see vmail --help)`);
  } catch (err) {
    const { UnreachableError, RpcError } = await import('./control/client.js');
    const e = err as Error;
    const line = (e.message || String(e)).split('\n')[0];
    process.stderr.write(`vmail: ${line}\n`);
    if (err instanceof UnreachableError) return 2;
    if (err instanceof InputError || err instanceof RpcError) return 1;
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return 1;
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code;
});
