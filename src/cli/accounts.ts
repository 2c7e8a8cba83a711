// `vmail accounts`: POP3 accounts listed, added, their password, quota, suspension or name
// changed, removed, what they sent (limits); and all of them (with the forwards) imported from or
// exported to CSV.
import { Command } from 'commander';
import { humanBytes } from '../model/format.js';
import { type ClientFlags, daemonOptions, inDomain, withDaemon } from './daemon-client.js';
import { type ImportFlags, importFile } from './import.js';
import { json, out, UsageError } from './output.js';
import { promptPassword, readPasswordLine } from './password-prompt.js';
import { accountRows, describeQueued } from './tables.js';

export function accountsCommand(): Command {
  const accounts = new Command('accounts').description(
    'POP3 accounts: list, add, change a password or quota, suspend, resume, rename, remove',
  );
  listAndPasswordCommands(accounts);
  csvCommands(accounts);
  changeCommands(accounts);
  return accounts;
}

/** `accounts list`, and `add` and `passwd`, which take a password (asked for, or from stdin). */
function listAndPasswordCommands(accounts: Command): void {
  daemonOptions(
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
    daemonOptions(accounts.command(verb).description(what).argument('<NAME[@DOMAIN]>'), { domain: true })
      .option('--password-stdin', 'read the password from one line of stdin (else ask twice on the terminal)')
      .action(async (name: string, f: ClientFlags) => {
        // Read the password before connecting: a slow typist does not hold a connection open.
        const password = f.passwordStdin ? await readPasswordLine() : await promptPassword(name);
        out(describeQueued(await withDaemon(f, (c) => c.call(method, { name, password, ...inDomain(f) }))));
      });
  }
}

/** `accounts import` and `export`: every account and forward from or to a CSV file. */
function csvCommands(accounts: Command): void {
  daemonOptions(
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
  daemonOptions(
    accounts
      .command('export')
      .description('every account and forward as CSV on stdout: sizes, quota, last login, destinations'),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const { exportCsv } = await import('../import-export/csv.js');
    const [list, forwards] = await withDaemon(f, (c) =>
      Promise.all([c.allAccounts(inDomain(f).domain), c.call('forwards.list', inDomain(f))]),
    );
    process.stdout.write(exportCsv(list, forwards));
  });
}

/** The changes queued for one account: remove, quota, suspend, rename, resume. */
function changeCommands(accounts: Command): void {
  daemonOptions(
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
  daemonOptions(
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
  daemonOptions(
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
  daemonOptions(
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
  daemonOptions(accounts.command('resume').description('queue the end of a suspension').argument('<NAME[@DOMAIN]>'), {
    domain: true,
  }).action(async (name: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('accounts.resume', { name, ...inDomain(f) }))));
  });
  daemonOptions(
    accounts
      .command('limits')
      .description('what an account submitted within --send-limit, and whether it is reached')
      .argument('<NAME[@DOMAIN]>'),
    { json: true, domain: true },
  ).action(async (name: string, f: ClientFlags) => {
    const v = await withDaemon(f, (c) => c.call('accounts.limits', { name, ...inDomain(f) }));
    if (f.json) return json(v);
    const window = durationText(v.windowSeconds);
    out(
      `${v.address}: sent to ${v.sent} of ${v.limit} recipients in the last ${window}${v.reached ? ': sending limit reached' : ''}${v.freesAt ? `; the oldest leaves the window at ${v.freesAt}` : ''}`,
    );
  });
}

/** 86400 as `1d`, 3600 as `1h`: a window as --send-limit writes it. */
function durationText(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const)
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}
