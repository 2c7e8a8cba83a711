// Accounts from Dovecot: its passwd-file read into import rows, each with its hash kept as it is
// and the Maildir where the layout puts it (`vmail import dovecot`).
import { isAbsolute, resolve, sep } from 'node:path';
import type { ImportResult, ImportRow } from '../control/protocol.js';
import { schemeOf } from './crypt-scheme.js';
import type { ParsedCsv } from './import-file.js';

/**
 * Accounts from a Dovecot passwd-file (`user:password:uid:gid:gecos:home:shell:extra`), each
 * with its Maildir where `layout` puts it under `root` (%d domain, %n name, %u user, %h home;
 * an absolute result stands alone). Hashes are kept as they are ({SHA512-CRYPT}, a bare $6$
 * crypt, ...); {PLAIN} passwords are hashed like a spreadsheet's.
 */
export function parseDovecotPasswd(text: string, opts: { root: string; layout: string; domain?: string }): ParsedCsv {
  const rows: ImportRow[] = [];
  const refused: ImportResult['refused'] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    const f = line.split(':');
    const user = (f[0] ?? '').trim();
    const row = i + 1;
    if (f.length < 2 || !user) {
      refused.push({ row, name: user, error: 'not a passwd-file line (user:password:...)' });
      return;
    }
    const at = user.lastIndexOf('@');
    const domain = at >= 0 ? user.slice(at + 1) : opts.domain;
    const name = at >= 0 ? user.slice(0, at) : user;
    if (!domain) {
      refused.push({ row, name: user, error: 'no @domain in the user name: give --domain' });
      return;
    }
    // The password field may itself hold colons only in no scheme Dovecot writes by default.
    const password = f[1];
    const home = f[5] ?? '';
    const path = opts.layout.replace(/%([dnuh%])/g, (_m, v: string) =>
      v === 'd' ? domain : v === 'n' ? name : v === 'u' ? user : v === 'h' ? home : '%',
    );
    // A layout under ROOT stays under it (a name or home of `..` would leave it); an absolute
    // one (or %h) is the admin's own choice. Either way the daemon refuses links and its own data.
    const maildir = isAbsolute(path) ? path : resolve(opts.root, path);
    if (!isAbsolute(opts.layout) && !opts.layout.startsWith('%h') && !maildir.startsWith(opts.root + sep)) {
      refused.push({ row, name: user, error: `its Maildir ${maildir} is outside ${opts.root}` });
      return;
    }
    const out: ImportRow = { row, name: `${name}@${domain}`, maildir };
    const plain = /^\{(PLAIN|CLEAR|CLEARTEXT)\}(.*)$/i.exec(password);
    if (plain) out.password = plain[2];
    else if (password) out.passwordHash = schemeOf(password);
    rows.push(out);
  });
  return { rows, refused, ignored: [] };
}
