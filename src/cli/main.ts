// The `vmail` command, on commander: every command and subcommand has --help, and every error
// is one line on stderr. Exit status: 0 ok; 1 a refused change or a runtime failure; 64 usage
// (unknown command or option, missing argument); 69 daemon unreachable; 78 configuration.
import { Command, CommanderError, Option } from 'commander';
import type { ControlClient } from '../control/client.js';
import type { ImportCall, ParsedCsv } from '../import-export/bulk.js';
import { InputError } from '../model/errors.js';
import { changeWord, humanBytes, whenApplies } from '../model/format.js';
import { ConfigError, configFileFrom, type Loaded, loadConfig, SETTINGS, socketPathFrom } from '../service/settings.js';
import { parseStoreLocation, withoutPassword } from '../store/location.js';
import { VERSION } from '../support/package-root.js';
import {
  accountRows,
  describeQueued,
  domainRows,
  forwardRows,
  importLines,
  logRows,
  pendingRows,
  queueRows,
} from './tables.js';

export const EXIT = { ok: 0, failure: 1, usage: 64, unreachable: 69, config: 78 } as const;

class UsageError extends InputError {}

interface ClientFlags {
  socket?: string;
  dataDir?: string;
  config?: string;
  json?: boolean;
  domain?: string;
  passwordStdin?: boolean;
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Runs `fn` with a connection to the daemon, closed after. */
async function withDaemon<T>(flags: ClientFlags, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const { ControlClient } = await import('../control/client.js');
  const c = await ControlClient.connect(socketPathFrom(flags));
  try {
    return await fn(c);
  } finally {
    c.close();
  }
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

/**
 * Asks on the terminal without echo, twice. Arrow keys and other escape sequences are ignored;
 * Backspace deletes, Ctrl-U clears, Ctrl-C cancels, Ctrl-D on an empty line cancels.
 */
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
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
      };
      const onData = (buf: Buffer) => {
        const text = buf.toString('utf8').replace(/\u001b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?/g, '');
        for (const ch of text) {
          if (ch === '\r' || ch === '\n') {
            done();
            return resolve(value);
          }
          if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
            done();
            return reject(new InputError('cancelled: nothing was changed'));
          }
          if (ch === '\u0015') value = '';
          else if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
          else if (ch >= ' ') value += ch;
        }
      };
      stdin.on('data', onData);
    });
  const first = await ask(`New password for ${address}: `);
  const second = await ask('Again: ');
  if (first !== second) throw new InputError('the two passwords differ: nothing was changed');
  return first;
}

/** The options every command that talks to the daemon takes. */
function client(cmd: Command, opts: { json?: boolean; domain?: boolean } = {}): Command {
  cmd
    .option(
      '--socket <PATH>',
      "the daemon's control socket (default: $VMAIL_SOCKET, the config file's, /run/vmail/control.sock, DATA_DIR/control.sock)",
    )
    .option('--data-dir <DIR>', 'find the socket in DIR (default: $VMAIL_DATA_DIR or /var/lib/vmail)')
    .option(
      '--config <FILE>',
      'read the socket from this config file (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf)',
    );
  if (opts.json) cmd.option('--json', 'print JSON with stable field names');
  if (opts.domain) cmd.option('--domain <D>', 'the hosted domain (may be left out when there is one)');
  return cmd;
}

/** The domain option only when given (the daemon picks the only one otherwise). */
const inDomain = (f: ClientFlags) => (f.domain ? { domain: f.domain } : {});

function domainsCommand(): Command {
  const domains = new Command('domains').description('hosted domains: list, add, remove, quota, catch-all, DKIM key');
  client(domains.command('list').description('every hosted domain with its accounts, mail and pending changes'), {
    json: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('domains.list'));
    if (f.json) json(list);
    else out(domainRows(list));
  });
  client(domains.command('add').description('queue a new hosted domain').argument('<DOMAIN>')).action(
    async (domain: string, f: ClientFlags) => {
      out(describeQueued(await withDaemon(f, (c) => c.call('domains.add', { domain }))));
    },
  );
  client(
    domains
      .command('remove')
      .description('queue the removal of a domain: its mail is refused once applied')
      .argument('<DOMAIN>')
      .option('--with-accounts', 'also remove its accounts (their mail is archived) and forwards'),
  ).action(async (domain: string, f: ClientFlags & { withAccounts?: boolean }) => {
    const params = f.withAccounts ? { domain, withAccounts: true } : { domain };
    const r = await withDaemon(f, (c) => c.call('domains.remove', params));
    const extra =
      'queued' in r && f.withAccounts ? ' Its accounts and forwards go with it; their mail is archived.' : '';
    out(`${describeQueued(r)}${extra}`);
  });
  client(
    domains
      .command('dkim')
      .description("show the DKIM key that signs a domain's bounces, making one if it has none; print its DNS record")
      .argument('<DOMAIN>')
      .option('--selector <S>', 'make a new key under this selector (key rotation); it signs from now on'),
    { json: true },
  ).action(async (domain: string, f: ClientFlags & { selector?: string }) => {
    const params = f.selector === undefined ? { domain } : { domain, selector: f.selector };
    const k = await withDaemon(f, (c) => c.call('domains.dkim', params));
    if (f.json) return json(k);
    out(
      `${k.created ? 'Made a new DKIM key' : 'The DKIM key'} for ${k.domain}, selector ${k.selector}. Publish this TXT record in the domain's DNS:`,
    );
    out('');
    out(`  ${k.zone}`);
    out('');
    out(`Check it once published: dig +short TXT ${k.name}`);
  });
  client(
    domains
      .command('quota')
      .description('queue a change of the quota new accounts of a domain get')
      .argument('<DOMAIN>')
      .argument('<SIZE>', 'like 25M or 2G, or none')
      .option('--messages <N>', 'also limit the number of messages'),
  ).action(async (domain: string, quota: string, f: ClientFlags & { messages?: string }) => {
    const params = { domain, quota, ...(f.messages === undefined ? {} : { messages: f.messages }) };
    out(describeQueued(await withDaemon(f, (c) => c.call('domains.quota', params))));
  });
  client(
    domains
      .command('catchall')
      .description("queue a change of where mail for a domain's unknown names goes")
      .argument('<DOMAIN>')
      .argument('<TARGET>', 'an account or forward name of the domain, or none (refuse them: 550 5.1.1)'),
  ).action(async (domain: string, target: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('domains.catchall', { domain, target }))));
  });
  return domains;
}

function accountsCommand(): Command {
  const accounts = new Command('accounts').description(
    'POP3 accounts: list, add, change a password or quota, suspend, resume, rename, remove',
  );
  client(
    accounts
      .command('list')
      .description('every account with its mailbox size and pending change')
      .option(
        '--stale <DURATION>',
        'only those needing attention: mail that old on the server, or no login for that long (30d)',
      ),
    { json: true, domain: true },
  ).action(async (f: ClientFlags & { stale?: string }) => {
    // A bad duration is a usage error here, before the daemon is asked (it refuses it too).
    if (f.stale !== undefined && !/^\d{1,4}d$/.test(f.stale.trim()))
      throw new UsageError(`--stale ${JSON.stringify(f.stale.slice(0, 20))}: write days like 30d`);
    const list = await withDaemon(f, (c) =>
      f.stale === undefined
        ? c.allAccounts(inDomain(f).domain)
        : c.call('accounts.list', { ...inDomain(f), stale: f.stale }),
    );
    if (f.json) json(list);
    else out(accountRows(list));
  });
  for (const [verb, method, what] of [
    ['add', 'accounts.add', 'queue a new account'],
    ['passwd', 'accounts.passwd', "queue a change of an account's password"],
  ] as const) {
    client(accounts.command(verb).description(what).argument('<NAME[@DOMAIN]>'), { domain: true })
      .option('--password-stdin', 'read the password from one line of stdin (else ask twice on the terminal)')
      .action(async (name: string, f: ClientFlags) => {
        // Read the password before connecting: a slow typist does not hold a connection open.
        const password = f.passwordStdin ? await readPasswordLine() : await promptPassword(name);
        out(describeQueued(await withDaemon(f, (c) => c.call(method, { name, password, ...inDomain(f) }))));
      });
  }
  client(
    accounts
      .command('import')
      .description('queue accounts and forwards from a CSV file (- for stdin), one change per row, all or none')
      .argument('<FILE.csv>')
      .option('--dry-run', 'print what each row would queue, and every row refused, and queue nothing')
      .option('--skip-bad', 'queue the good rows even when some are refused'),
    { json: true, domain: true },
  ).action(async (file: string, f: ImportFlags) => {
    await importFile(file, f);
  });
  client(
    accounts
      .command('export')
      .description('every account and forward as CSV on stdout: sizes, quota, last login, destinations'),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const { exportCsv } = await import('../import-export/bulk.js');
    const [list, forwards] = await withDaemon(f, (c) =>
      Promise.all([c.allAccounts(inDomain(f).domain), c.call('forwards.list', inDomain(f))]),
    );
    process.stdout.write(exportCsv(list, forwards));
  });
  client(
    accounts
      .command('remove')
      .description('queue the removal of an account (its mail is archived)')
      .argument('<NAME[@DOMAIN]>'),
    {
      domain: true,
    },
  ).action(async (name: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('accounts.remove', { name, ...inDomain(f) }))));
  });
  client(
    accounts
      .command('quota')
      .description("queue a change of an account's quota (mail past it waits with 452 until space is freed)")
      .argument('<NAME[@DOMAIN]>')
      .argument('<SIZE>', 'like 25M or 2G, or none')
      .option('--messages <N>', 'also limit the number of messages'),
    { domain: true },
  ).action(async (name: string, quota: string, f: ClientFlags & { messages?: string }) => {
    const params = { name, quota, ...inDomain(f), ...(f.messages === undefined ? {} : { messages: f.messages }) };
    const r = await withDaemon(f, (c) => c.call('accounts.quota', params));
    out(describeQueued(r));
    // A quota below what the mailbox holds is allowed: say what it means.
    const list = 'queued' in r ? await withDaemon(f, (c) => c.call('accounts.list', { domain: r.queued.domain })) : [];
    const row = list.find((a) => 'queued' in r && a.address === r.queued.address);
    if (row && r && 'queued' in r && r.queued.quota && row.used > r.queued.quota.bytes)
      out(
        `Note: ${row.address} holds ${humanBytes(row.used)}, more than that: its new mail waits until mail is fetched.`,
      );
  });
  client(
    accounts
      .command('suspend')
      .description('queue a suspension: it cannot log in; its mail is kept (or refused with --refuse-mail)')
      .argument('<NAME[@DOMAIN]>')
      .option('--refuse-mail', 'also refuse its mail (550 5.2.1)'),
    { domain: true },
  ).action(async (name: string, f: ClientFlags & { refuseMail?: boolean }) => {
    const params = { name, ...inDomain(f), ...(f.refuseMail ? { refuseMail: true } : {}) };
    out(describeQueued(await withDaemon(f, (c) => c.call('accounts.suspend', params))));
  });
  client(
    accounts
      .command('rename')
      .description(
        'queue a rename: the Maildir moves with its mail (mail clients fetch nothing again), the password stays',
      )
      .argument('<OLD[@DOMAIN]>')
      .argument('<NEW>', 'the new name, in the same domain')
      .option('--keep-forward <DURATION>', 'the old name forwards to the new one for this long (30d, 12h)'),
    { domain: true },
  ).action(async (name: string, newName: string, f: ClientFlags & { keepForward?: string }) => {
    const params = {
      name,
      newName,
      ...inDomain(f),
      ...(f.keepForward === undefined ? {} : { keepForward: f.keepForward }),
    };
    const r = await withDaemon(f, (c) => c.call('accounts.rename', params));
    out(`${describeQueued(r)}${'queued' in r ? ` -> ${r.queued.newName}@${r.queued.domain}` : ''}`);
  });
  client(accounts.command('resume').description('queue the end of a suspension').argument('<NAME[@DOMAIN]>'), {
    domain: true,
  }).action(async (name: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('accounts.resume', { name, ...inDomain(f) }))));
  });
  return accounts;
}

function forwardsCommand(): Command {
  const forwards = new Command('forwards').description('forwarding addresses: list, add or change, remove');
  client(forwards.command('list').description('every forwarding address and where it sends mail'), {
    json: true,
    domain: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('forwards.list', inDomain(f)));
    if (f.json) json(list);
    else out(forwardRows(list));
  });
  client(
    forwards
      .command('add')
      .description('queue a forward, or a change of its destinations')
      .argument('<NAME[@DOMAIN]>')
      .argument('<DEST...>'),
    { domain: true },
  ).action(async (name: string, destinations: string[], f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('forwards.add', { name, destinations, ...inDomain(f) }))));
  });
  client(forwards.command('remove').description('queue the removal of a forward').argument('<NAME[@DOMAIN]>'), {
    domain: true,
  }).action(async (name: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('forwards.remove', { name, ...inDomain(f) }))));
  });
  return forwards;
}

/**
 * `accounts import`: the daemon checks every row first (nothing is hashed for a refused one),
 * then plain passwords are hashed on every core with a progress line, and the rows are queued
 * in one step. Ctrl-C before the end queues nothing.
 */
async function importFile(file: string, f: ImportFlags): Promise<void> {
  const { parseImportCsv, readImportFile } = await import('../import-export/bulk.js');
  await importRows(parseImportCsv(await readImportFile(file)), f);
}

interface ImportFlags extends ClientFlags {
  dryRun?: boolean;
  skipBad?: boolean;
  move?: boolean;
  uidlFormat?: string;
  uidls?: 'dovecot' | 'names';
}

/** The steps every import shares (a CSV file, a Dovecot passwd-file), and one report format. */
async function importRows(parsed: ParsedCsv, f: ImportFlags): Promise<void> {
  const { hashPasswords, sendImport } = await import('../import-export/bulk.js');
  if (parsed.ignored.length && !f.json)
    process.stderr.write(`vmail: columns not imported: ${parsed.ignored.join(', ')}\n`);
  const opts = {
    domain: f.domain,
    skipBad: f.skipBad === true,
    move: f.move === true,
    uidlFormat: f.uidlFormat,
    uidls: f.uidls,
  };
  const result = await withDaemon(f, async (c) => {
    const call: ImportCall = (params) => c.call('accounts.import', params);
    const check = await sendImport(call, parsed.rows, { ...opts, dryRun: true });
    const refused = new Set(check.refused.map((r) => r.row));
    if (f.dryRun || ((check.refused.length || parsed.refused.length) && !f.skipBad))
      return { ...check, dryRun: f.dryRun === true };
    const good = parsed.rows.filter((r) => !refused.has(r.row));
    const bar = process.stderr.isTTY && !f.json;
    const hashed = await hashPasswords(good, (p) => {
      if (!bar) return;
      const width = 30;
      const filled = Math.round((width * p.done) / p.total);
      const left = Math.ceil(p.left);
      process.stderr.write(
        `\rHashing passwords [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total}  ${Math.round(p.rate)}/s  ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left `,
      );
    });
    if (bar && hashed.length) process.stderr.write('\n');
    const done = await sendImport(call, hashed, { ...opts, dryRun: false });
    // Rows refused by the check are reported with the rows queued.
    return { ...done, rows: check.rows, refused: [...check.refused, ...done.refused] };
  });
  const report = { ...result, refused: [...parsed.refused, ...result.refused].sort((a, b) => a.row - b.row) };
  if (f.json) json(report);
  else for (const line of importLines(parsed.rows, result, parsed.refused)) out(line);
  if (report.refused.length && !(f.skipBad && report.done)) process.exitCode = EXIT.failure;
}

function importCommand(): Command {
  const imp = new Command('import').description('accounts and their mail from another server, UIDLs kept');
  client(
    imp
      .command('dovecot')
      .description("Dovecot's passwd-file users with their hashes, and their Maildirs with the UIDLs Dovecot served")
      .requiredOption('--passwd-file <FILE>', "Dovecot's passwd-file (user:{SCHEME}hash:...)")
      .requiredOption('--maildirs <ROOT>', 'where the Maildirs are')
      .option('--layout <TEMPLATE>', 'each Maildir under ROOT: %d domain, %n name, %u user, %h home', '%d/%n/Maildir')
      .option('--uidl-format <FORMAT>', "the old server's pop3_uidl_format", '%08Xu%08Xv')
      .option('--move', 'move each Maildir (one rename on the same file system) rather than copy it')
      .option('--dry-run', 'print every account and Maildir it would bring, and every line refused; change nothing')
      .option('--skip-bad', 'import the good lines even when some are refused'),
    { json: true, domain: true },
  ).action(async (f: ImportFlags & { passwdFile: string; maildirs: string; layout: string }) => {
    const { parseDovecotPasswd, readImportFile, realRoot } = await import('../import-export/bulk.js');
    const text = (await readImportFile(f.passwdFile)).toString('utf8');
    const root = await realRoot(f.maildirs);
    await importRows(parseDovecotPasswd(text, { root, layout: f.layout, domain: f.domain }), f);
  });
  client(
    imp
      .command('vpopmail')
      .description(
        "vpopmail's accounts (vpasswd, with their crypt hashes and quotas) and their qmail Maildirs, UIDLs kept",
      )
      .argument('<ROOT>', "vpopmail's home, holding domains/DOMAIN/vpasswd")
      .option('--move', 'move each Maildir (one rename on the same file system) rather than copy it')
      .option('--dry-run', 'print every account and Maildir it would bring, and every line refused; change nothing')
      .option('--skip-bad', 'import the good lines even when some are refused'),
    { json: true, domain: true },
  ).action(async (rootDir: string, f: ImportFlags) => {
    const { lstat, readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { parseVpopmail, readImportFile, realRoot } = await import('../import-export/bulk.js');
    const root = await realRoot(rootDir);
    const names = f.domain
      ? [f.domain]
      : await readdir(join(root, 'domains')).catch((err: NodeJS.ErrnoException) => {
          throw new InputError(`cannot read ${join(root, 'domains')}: ${err.code ?? err.message}`);
        });
    const domains = [];
    for (const domain of names.sort()) {
      const dir = join(root, 'domains', domain);
      // vpopmail's alias domains are links to the domain they alias: its accounts come with it.
      const st = await lstat(dir).catch(() => null);
      if (!st?.isDirectory()) {
        if (st?.isSymbolicLink()) process.stderr.write(`vmail: ${dir} is a link (an alias domain?): not imported\n`);
        continue;
      }
      const vpasswd = await readImportFile(join(dir, 'vpasswd')).catch((err: Error) => {
        // A domain folder without a vpasswd holds no accounts; any other trouble is said.
        if (/ENOENT/.test(err.message)) return null;
        throw err;
      });
      if (vpasswd !== null) domains.push({ domain, vpasswd: vpasswd.toString('utf8') });
    }
    if (!domains.length) throw new InputError(`no domains/DOMAIN/vpasswd under ${root}`);
    // The domain comes with each row: --domain only picks which of the tree's to bring.
    await importRows(parseVpopmail(root, domains), { ...f, domain: undefined, uidls: 'names' });
  });
  return imp;
}

function storeCommand(): Command {
  const store = new Command('store').description('the database that holds accounts, forwards and the queue');
  store
    .command('migrate')
    .description('copy every table of one store into another, empty one (sqlite:PATH, postgres://...)')
    .requiredOption('--from <URL>', 'the store to copy (a daemon may keep running on it)')
    .requiredOption('--to <URL>', 'the empty store to copy into')
    .action(async (f: { from: string; to: string }) => {
      const where = (flag: string, text: string) => {
        try {
          return parseStoreLocation(text, '.');
        } catch (err) {
          throw new UsageError(`${flag}: ${(err as Error).message}`);
        }
      };
      const from = where('--from', f.from);
      const to = where('--to', f.to);
      const { migrateStore } = await import('../store/migrate.js');
      const n = await migrateStore(from, to);
      out(
        `Copied ${n.domains} domain(s), ${n.accounts} account(s), ${n.forwards} forward(s), ${n.pending} pending change(s), ${n.applied} applied change(s), ${n.audit} audit entries.`,
      );
      if (to.kind === 'postgres') out(`Start each daemon with --store ${withoutPassword(f.to)} and its own --node.`);
    });
  return store;
}

/** A setting's value with the password of a URL in it (the store's, the relay's) left out. */
function hidePassword<T>(value: T): T {
  return (typeof value === 'string' ? withoutPassword(value) : value) as T;
}

function exportCommand(): Command {
  const exp = new Command('export').description('accounts and mail for other servers: Dovecot, Postfix');
  client(
    exp
      .command('dovecot-passwd')
      .description('a passwd-file Dovecot accepts as it is: each account and its password hash'),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const rows = await withDaemon(f, (c) => c.call('export.passwd', inDomain(f)));
    for (const r of rows)
      out(
        r.passwordHash.startsWith('{')
          ? `${r.address}:${r.passwordHash}::::::`
          : `# ${r.address}: an older vmail hash (scrypt) Dovecot cannot check; it becomes {ARGON2ID} at the account's next login`,
      );
  });
  client(
    exp
      .command('dovecot-uidlists')
      .description("write a dovecot-uidlist into each Maildir, so Dovecot serves vmail's UIDLs unchanged"),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const r = await withDaemon(f, (c) => c.call('export.uidlists', inDomain(f)));
    out(`Wrote dovecot-uidlist in ${r.maildirs} Maildir(s), listing ${r.messages} message(s).`);
  });
  client(
    exp
      .command('postfix')
      .description(
        'virtual_mailbox_domains, virtual_mailbox_maps and virtual_alias_maps for postmap, and main.cf lines',
      )
      .argument('<DIR>'),
  ).action(async (dir: string, f: ClientFlags) => {
    const { mkdir } = await import('node:fs/promises');
    const { writeAtomic } = await import('../support/durable.js');
    const { join, resolve } = await import('node:path');
    const { postfixMaps } = await import('../import-export/bulk.js');
    const [status, domains, accounts, forwards] = await withDaemon(f, (c) =>
      Promise.all([c.call('status'), c.call('domains.list'), c.allAccounts(), c.call('forwards.list')]),
    );
    const to = resolve(dir);
    await mkdir(to, { recursive: true });
    for (const file of postfixMaps(status.dataDir, to, domains, accounts, forwards)) {
      await writeAtomic(join(to, file.name), file.text, { mode: 0o666 });
      out(`Wrote ${join(to, file.name)}`);
    }
    out(
      `Next: postmap ${['virtual_mailbox_domains', 'virtual_mailbox_maps', 'virtual_alias_maps'].map((m) => join(to, m)).join(' ')}`,
    );
  });
  return exp;
}

function logCommand(): Command {
  return client(
    new Command('log')
      .description('who changed what and when: every request that changed something, and every change applied')
      .option('--since <WHEN>', 'entries from this long ago (2d, 12h, 30m) or this date (2026-11-01)')
      .option('--user <USER>', "only this user's requests (a name or a uid)")
      .option('--address <NAME@DOMAIN>', 'only those about this account or forward (and its domain)')
      .option('--limit <N>', 'at most this many, the newest (default 1000)'),
    { json: true },
  ).action(async (f: ClientFlags & { since?: string; user?: string; address?: string; limit?: string }) => {
    if (f.limit !== undefined && !/^[1-9]\d{0,5}$/.test(f.limit))
      throw new UsageError(`--limit ${JSON.stringify(f.limit)}: write a whole number from 1`);
    const params = {
      ...(f.since === undefined ? {} : { since: f.since }),
      ...(f.user === undefined ? {} : { user: f.user }),
      ...(f.address === undefined ? {} : { address: f.address }),
      ...(f.limit === undefined ? {} : { limit: Number(f.limit) }),
    };
    const list = await withDaemon(f, (c) => c.call('log.list', params));
    if (f.json) json(list);
    else out(logRows(list));
  });
}

function pendingCommand(): Command {
  const pending = new Command('pending').description('changes waiting for the next apply');
  client(pending.command('list').description('every pending change with when it applies'), {
    json: true,
    domain: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('pending.list', inDomain(f)));
    if (f.json) json(list);
    else out(pendingRows(list));
  });
  client(
    pending
      .command('cancel')
      .description('cancel one pending change (every part of it: see pending list), or one part with --part')
      .argument('<ID>')
      .option('--part <PART>', 'cancel only this part of the change (password, quota, suspend, resume, catchall)'),
  ).action(async (id: string, f: ClientFlags & { part?: string }) => {
    const p = await withDaemon(f, (c) =>
      c.call('pending.cancel', { id, ...(f.part === undefined ? {} : { part: f.part }) }),
    );
    const kept = p.kept ? `; the ${changeWord(p.kept)} stays pending` : '';
    out(`Cancelled: ${changeWord(p)} ${p.address} [id ${p.id}]${kept}`);
  });
  client(
    pending.command('apply').description('apply the pending changes now, not on the hour (exit 1 if one failed)'),
    {
      json: true,
      domain: true,
    },
  ).action(async (f: ClientFlags) => {
    const r = await withDaemon(f, (c) => c.call('pending.apply', inDomain(f)));
    if (r.failed.length) process.exitCode = EXIT.failure;
    if (f.json) return json(r);
    const left = r.left ? ` ${r.left} change(s) of other domains stay pending.` : '';
    out(`Applied ${r.applied.length} change(s)${f.domain ? ` of ${f.domain}` : ''}.${left}`);
    // A change that failed is a failure of the command: each on stderr, and exit 1.
    for (const failed of r.failed)
      process.stderr.write(
        `vmail: change ${failed.id} of ${failed.address} not applied: ${failed.error.split('\n')[0]}\n`,
      );
  });
  return pending;
}

function queueCommand(): Command {
  const queue = new Command('queue').description('forwarded mail waiting for the relay');
  client(queue.command('list').description('every queued message with its attempts'), { json: true }).action(
    async (f: ClientFlags) => {
      const list = await withDaemon(f, (c) => c.call('queue.list'));
      if (f.json) json(list);
      else out(queueRows(list));
    },
  );
  client(queue.command('retry').description('try a queued message again now').argument('<ID>')).action(
    async (id: string, f: ClientFlags) => {
      const q = await withDaemon(f, (c) => c.call('queue.retry', { id }));
      out(`Retrying message ${id} now${q.node ? ` (daemon ${q.node} sends it)` : ''}.`);
    },
  );
  return queue;
}

function statusCommand(): Command {
  return client(new Command('status').description('what the daemon hosts, listens on, and waits for'), {
    json: true,
  }).action(async (f: ClientFlags) => {
    const s = await withDaemon(f, (c) => c.call('status'));
    if (f.json) return json(s);
    out(`vmail ${s.version}: ${s.domains.join(', ')}`);
    out(
      `  ${s.accounts} accounts, ${s.forwards} forwards, ${s.pending} pending change(s); next apply ${whenApplies(s.nextApplyAt).replace('applies at ', '')}`,
    );
    out(`  POP3 port ${s.pop3.port ?? '-'}, SMTP port ${s.smtp.port ?? '-'}, data in ${s.dataDir}`);
    if (s.nodes) {
      const alive = s.nodes.filter((n) => n.alive).length;
      out(`  nodes: ${alive} of ${s.nodes.length} alive (this one: ${s.node})`);
      for (const n of s.nodes)
        out(
          `    ${n.id}  ${n.host}  ${n.version}  ${n.alive ? 'alive' : `gone (last seen ${n.seenAt})`}${n.applyLease ? '  apply lease' : ''}`,
        );
    }
    out(`  forward queue: ${s.queue.messages} message(s)${s.relay ? `, relay ${s.relay}` : ', no relay'}`);
    if (s.queue.problem) out(`  attention: ${s.queue.problem}`);
    const sf = s.spamFilter;
    out(
      sf
        ? `  spam filter: rspamd at ${sf.url} ${sf.state}${sf.lastError ? ` (${sf.lastError})` : ''}; ${sf.checked} checked, ${sf.rejected} rejected, ${sf.deferred} deferred${sf.unchecked ? `, ${sf.unchecked} accepted unchecked` : ''}; when down: ${sf.fail}`
        : '  spam filter: none (see --rspamd)',
    );
    if (s.lastApplyError) out(`  last apply: ${s.lastApplyError}`);
    if (s.storeProblem) out(`  attention: ${s.storeProblem}`);
  });
}

/** The daemon's settings as options: one per setting, named as in the config file. */
function settingOptions(cmd: Command): Command {
  for (const s of SETTINGS) {
    const opt = new Option(`--${s.key} <${s.arg}>`, `${s.help}${s.default ? ` (default ${s.default})` : ''}`);
    if (s.multiple) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(opt);
  }
  return cmd.option('--config <FILE>', 'settings file (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf if it exists)');
}

/** The settings from flags (by setting key), the environment and the config file. */
function daemonSettings(opts: Record<string, string | string[] | undefined>): Loaded {
  const flags: Record<string, string | string[] | undefined> = {};
  for (const s of SETTINGS) flags[s.key] = opts[s.key.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())];
  return loadConfig(flags, configFileFrom(opts.config as string | undefined));
}

function daemonCommand(): Command {
  return settingOptions(
    new Command('daemon').description('run the mail service: SMTP, POP3, the hourly apply and the control socket'),
  ).action(async (opts: Record<string, string | string[] | undefined>) => {
    const { config } = daemonSettings(opts);
    const { startDaemon } = await import('../daemon/daemon.js');
    const { Logger } = await import('../support/log.js');
    const log = new Logger(config.logLevel);
    const running = await startDaemon(config, log);
    let stopping = false;
    const stop = (signal: string, code: number = EXIT.ok) => {
      if (stopping) return;
      stopping = true;
      log.notice('daemon stopping', { signal });
      running.stop().then(
        () => process.exit(code),
        (err: Error) => {
          log.error('daemon stop failed', { error: err.message });
          process.exit(EXIT.failure);
        },
      );
    };
    // Cut off from a shared store, it stops rather than serve without the others' locks;
    // 75 (EX_TEMPFAIL): systemd starts it again once the store is back.
    running.onLost((why) => {
      log.error('store connection lost', { store: running.config.store.kind, error: why });
      stop('store lost', 75);
    });
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        running.reload(daemonSettings(opts).config);
      } catch (err) {
        log.error('daemon reload failed', { error: (err as Error).message, kept: 'the settings it had' });
      }
    });
    // The last line of defence: every background task handles its own failures, but a slip in
    // one must not take every POP3 and SMTP session down with it. Logged, loudly, and served on.
    process.on('unhandledRejection', (err) =>
      log.error('internal error', { error: (err as Error)?.stack ?? String(err), kept: 'running' }),
    );
    const { pop3, pop3s, smtp } = running.ports;
    out(
      `vmail daemon ready: pop3=${pop3} ${pop3s ? `pop3s=${pop3s} ` : ''}smtp=${smtp} socket=${config.socketPath} domains=${running.changes.domains.join(',')}`,
    );
    return new Promise(() => {});
  });
}

function configCommand(): Command {
  const config = new Command('config').description("the daemon's settings file");
  config
    .command('check')
    .description('check the settings and print each with where it came from')
    .option('--config <FILE>', 'the file to check (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf)')
    .option('--json', 'print JSON')
    .action((f: { config?: string; json?: boolean }) => {
      const file = configFileFrom(f.config);
      const { values, sources } = loadConfig({}, file);
      if (f.json)
        return json({
          file,
          settings: Object.fromEntries(
            SETTINGS.map((s) => [s.key, { value: hidePassword(values[s.key] ?? null), source: sources[s.key] }]),
          ),
        });
      out(file ? `${file}: valid` : 'no config file: the defaults and the environment');
      const rows = SETTINGS.map((s) => {
        const v = hidePassword(values[s.key] ?? null);
        return [
          s.key,
          v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(' ') : v,
          sources[s.key] ?? 'default',
        ];
      });
      const width = (i: number) => Math.max(...rows.map((r) => r[i].length));
      for (const r of rows) out(`  ${r[0].padEnd(width(0))}  ${r[1].padEnd(width(1))}  ${r[2]}`);
    });
  return config;
}

function setupCommand(): Command {
  return new Command('setup')
    .description(
      'make the vmail user, /var/lib/vmail, /etc/vmail/vmail.conf and a systemd unit, and start it (as root)',
    )
    .requiredOption('--domain <D>', 'the first hosted domain')
    .option('--hostname <H>', "this server's name, as mail clients and other servers see it (default: the system's)")
    .option('--postmaster <ADDRESS>', "where postmaster@ the domains goes (default: root's mail, root@HOSTNAME)")
    .option('--root <DIR>', 'write under DIR instead of / (a staging tree)', '/')
    .option('--dry-run', 'say what it would do, and do nothing')
    .action(async (f: { domain: string; hostname?: string; postmaster?: string; root: string; dryRun?: boolean }) => {
      const { resolve } = await import('node:path');
      const { hostname } = await import('node:os');
      const { existsSync } = await import('node:fs');
      const { nextSteps, setup } = await import('../service/setup.js');
      const host = f.hostname ?? (hostname() || 'localhost');
      if (f.postmaster !== undefined && !/^[^\s@<>"(),;:\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$/.test(f.postmaster))
        throw new UsageError(`--postmaster ${JSON.stringify(f.postmaster)}: write an address like root@${host}`);
      const opts = {
        domain: f.domain,
        hostname: host,
        postmaster: f.postmaster ?? `root@${host}`,
        root: resolve(f.root),
        dryRun: Boolean(f.dryRun),
      };
      setup(opts, (s) => out(`  ${s.outcome.padEnd(12)} ${s.what}`));
      for (const line of nextSteps(opts, opts.root === '/' && existsSync('/run/systemd/system'))) out(line);
    });
}

function consoleCommands(): Command[] {
  const run = async (command: 'console' | 'up', f: ClientFlags) => {
    // React's development build checks every element and is several times slower.
    process.env.NODE_ENV ??= 'production';
    // Ink draws only a final frame when it thinks it runs in CI; the console runs on a
    // terminal (it checks), so a CI variable inherited by the shell must not blank it.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    // The bundle npm run build makes of screens/run.ts (see screens/bundle.ts).
    const bundle = '../console/run.js';
    const { runConsole } = (await import(bundle)) as typeof import('../../screens/run.js');
    if (command === 'console') return runConsole(socketPathFrom(f));
    if (!process.stdout.isTTY || !process.stdin.isTTY)
      throw new InputError('the console needs a terminal: run it in an interactive shell (over SSH: ssh -t)');
    const { resolve } = await import('node:path');
    const { startDemo } = await import('../daemon/demo.js');
    const dataDir = resolve(f.dataDir ?? process.env.VMAIL_DATA_DIR ?? '.vmail-demo');
    process.stderr.write(`vmail: starting the demo daemon in ${dataDir} ...\n`);
    const demo = await startDemo(dataDir, f.socket ? resolve(f.socket) : undefined);
    return runConsole(demo.socketPath, async () => {
      if (!demo.started) return;
      process.stderr.write('vmail: stopping the demo daemon\n');
      await demo.stop();
    });
  };
  return [
    client(new Command('console').description('the full-screen console')).action(async (f: ClientFlags) => {
      process.exitCode = await run('console', f);
    }),
    new Command('up')
      .description('start a demo daemon (if none answers) and open the console on it')
      .option('--data-dir <DIR>', 'the demo data (default: ./.vmail-demo)')
      .option('--socket <PATH>', "the demo daemon's socket (default: DATA_DIR/control.sock)")
      .action(async (f: ClientFlags) => {
        process.exitCode = await run('up', f);
      }),
  ];
}

export function program(): Command {
  const p = new Command('vmail')
    .description('mail for virtual domains: POP3 accounts, forwarding, hourly-applied changes, and a console')
    .version(`vmail ${VERSION}`, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) =>
        write(
          `vmail: ${text
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')
            .trim()} (see vmail --help)\n`,
        ),
    });
  for (const cmd of [
    daemonCommand(),
    ...consoleCommands(),
    statusCommand(),
    domainsCommand(),
    accountsCommand(),
    forwardsCommand(),
    pendingCommand(),
    queueCommand(),
    logCommand(),
    importCommand(),
    exportCommand(),
    storeCommand(),
    configCommand(),
    setupCommand(),
  ]) {
    p.addCommand(cmd);
  }
  // Subcommands answer usage errors, --help and --version as the program does.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().configureOutput(p.configureOutput()).showSuggestionAfterError(true);
    for (const sub of cmd.commands) inherit(sub);
  };
  for (const cmd of p.commands) inherit(cmd);
  return p;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`vmail status | head -1`) ends the output, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`vmail: cannot write the output: ${err.message}\n`);
    process.exit(err.code === 'EPIPE' ? EXIT.ok : EXIT.failure);
  });
  const p = program();
  if (argv.length === 0) {
    process.stderr.write(p.helpInformation());
    return EXIT.usage;
  }
  try {
    await p.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.ok;
      // commander has printed the one line already.
      return EXIT.usage;
    }
    const { UnreachableError, RpcError } = await import('../control/client.js');
    const e = err as Error;
    process.stderr.write(`vmail: ${(e.message || String(e)).split('\n')[0]}\n`);
    if (err instanceof UnreachableError) return EXIT.unreachable;
    if (err instanceof ConfigError) return EXIT.config;
    if (err instanceof UsageError) return EXIT.usage;
    if (err instanceof InputError || err instanceof RpcError) return EXIT.failure;
    return EXIT.failure;
  }
}
