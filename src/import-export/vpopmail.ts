// Accounts from vpopmail: each domain's vpasswd read into import rows, with its crypt hash (or
// clear password), its quota and its qmail Maildir (`vmail import vpopmail`).
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { ImportResult, ImportRow } from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { schemeOf } from './crypt-scheme.js';
import { type ParsedCsv, readImportFile } from './import-file.js';

/**
 * The vpasswd of each domain of the vpopmail home `root` (its real path), by name, or of `only`
 * when given. A domain folder without a vpasswd holds no accounts; an alias domain (a link to
 * the domain it aliases) is left out, said through `warn`.
 */
export async function readVpopmailDomains(
  root: string,
  only: string | undefined,
  warn: (line: string) => void,
): Promise<{ domain: string; vpasswd: string }[]> {
  const names = only
    ? [only]
    : await readdir(join(root, 'domains')).catch((err: NodeJS.ErrnoException) => {
        throw new InputError(`cannot read ${join(root, 'domains')}: ${err.code ?? err.message}`);
      });
  const domains = [];
  for (const domain of names.sort()) {
    const dir = join(root, 'domains', domain);
    // vpopmail's alias domains are links to the domain they alias: its accounts come with it.
    // lstat fails when the name went away since the listing (nothing left to import) or when
    // domains/ may not be searched (then no domain is read, and the error below says so).
    const st = await lstat(dir).catch(() => null);
    if (!st?.isDirectory()) {
      if (st?.isSymbolicLink()) warn(`${dir} is a link (an alias domain?): not imported`);
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
  return domains;
}

/**
 * Accounts from a vpopmail tree: each domain's `vpasswd` (name:crypt:uid:gid:gecos:dir:quota
 * and, where vpopmail keeps it, the clear password), the Maildir in each account's dir. Its
 * quota (`10485760S`) comes along. Rows are numbered through the vpasswd files in turn.
 */
export function parseVpopmail(root: string, domains: readonly { domain: string; vpasswd: string }[]): ParsedCsv {
  const rows: ImportRow[] = [];
  const refused: ImportResult['refused'] = [];
  let line = 0;
  for (const { domain, vpasswd } of domains) {
    for (const raw of vpasswd.split('\n')) {
      line++;
      const text = raw.replace(/\r$/, '');
      if (!text.trim() || text.startsWith('#')) continue;
      const f = text.split(':');
      const name = (f[0] ?? '').trim();
      if (f.length < 6 || !name) {
        refused.push({
          row: line,
          name: `${name}@${domain}`,
          error: 'not a vpasswd line (name:crypt:uid:gid:gecos:dir:...)',
        });
        continue;
      }
      const dir = resolve(root, f[5] || join('domains', domain, name));
      if (!dir.startsWith(root + sep)) {
        refused.push({ row: line, name: `${name}@${domain}`, error: `its home ${dir} is outside ${root}` });
        continue;
      }
      const out: ImportRow = { row: line, name: `${name}@${domain}`, maildir: join(dir, 'Maildir') };
      if (f[7]) out.password = f[7];
      else if (f[1]) out.passwordHash = schemeOf(f[1]);
      const quota = /^(\d+)S/.exec(f[6] ?? '');
      if (quota && Number(quota[1]) >= 1024) out.quota = quota[1];
      rows.push(out);
    }
  }
  return { rows, refused, ignored: [] };
}
