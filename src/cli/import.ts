// `vmail import` (Dovecot, vpopmail) and the steps every import from the command line shares
// with `vmail accounts import`: every row checked by the daemon first, plain passwords hashed on
// every core with a progress line, the rows queued in one step, and one report of every row.
import { Command } from 'commander';
import type { ParsedCsv } from '../import-export/import-file.js';
import { importLines } from '../import-export/import-report.js';
import type { ImportCall, Progress } from '../import-export/send-import.js';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { EXIT, json, out } from './output.js';

/**
 * `accounts import`: the daemon checks every row first (nothing is hashed for a refused one),
 * then plain passwords are hashed on every core with a progress line, and the rows are queued
 * in one step. Ctrl-C before the end queues nothing.
 */
export async function importFile(file: string, f: ImportFlags): Promise<void> {
  const { parseImportCsv } = await import('../import-export/csv.js');
  const { readImportFile } = await import('../import-export/import-file.js');
  await importRows(parseImportCsv(await readImportFile(file)), f);
}

export interface ImportFlags extends ClientFlags {
  dryRun?: boolean;
  skipBad?: boolean;
  move?: boolean;
  uidlFormat?: string;
  uidls?: 'dovecot' | 'names';
}

/** The steps every import shares (a CSV file, a Dovecot passwd-file), and one report format. */
async function importRows(parsed: ParsedCsv, f: ImportFlags): Promise<void> {
  const { hashPasswords, sendImport } = await import('../import-export/send-import.js');
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
      if (bar) process.stderr.write(hashingLine(p));
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

/** The progress of hashing, drawn over itself on the terminal: a bar, a count, a rate, the time left. */
function hashingLine(p: Progress): string {
  const width = 30;
  const filled = Math.round((width * p.done) / p.total);
  const left = Math.ceil(p.left);
  return `\rHashing passwords [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total}  ${Math.round(p.rate)}/s  ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left `;
}

export function importCommand(): Command {
  const imp = new Command('import').description('accounts and their mail from another server, UIDLs kept');
  daemonOptions(
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
    const { parseDovecotPasswd } = await import('../import-export/dovecot.js');
    const { readImportFile, realRoot } = await import('../import-export/import-file.js');
    const text = (await readImportFile(f.passwdFile)).toString('utf8');
    const root = await realRoot(f.maildirs);
    await importRows(parseDovecotPasswd(text, { root, layout: f.layout, domain: f.domain }), f);
  });
  daemonOptions(
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
    const { realRoot } = await import('../import-export/import-file.js');
    const { parseVpopmail, readVpopmailDomains } = await import('../import-export/vpopmail.js');
    const root = await realRoot(rootDir);
    const domains = await readVpopmailDomains(root, f.domain, (line) => process.stderr.write(`vmail: ${line}\n`));
    // The domain comes with each row: --domain only picks which of the tree's to bring.
    await importRows(parseVpopmail(root, domains), { ...f, domain: undefined, uidls: 'names' });
  });
  return imp;
}
