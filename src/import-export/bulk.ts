// Accounts and forwards in bulk, for the CLI and the console alike: a spreadsheet's CSV read
// into import rows (quoted fields, a BOM, CRLF, `,` or `;` between fields), plain passwords
// hashed on every core before they are sent, the rows handed to the daemon in pieces and
// queued in one step at the end, and accounts written back out as CSV.
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type {
  AccountView,
  DomainView,
  ForwardView,
  ImportResult,
  ImportRow,
  Params,
  Results,
} from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { HashPool } from '../store/hash-pool.js';

/** Sends one accounts.import request: a ControlClient's call, or the console's session. */
export type ImportCall = (params: Params<'accounts.import'>) => Promise<Results['accounts.import']>;

/** The columns an import reads; others (an export's sizes and dates) are left alone. */
const COLUMNS = ['name', 'address', 'password', 'password_hash', 'quota', 'forward'] as const;
/** The columns an export writes: the first ones are those an import reads back. */
const EXPORT_COLUMNS = [
  'address',
  'quota',
  'forward',
  'kind',
  'messages',
  'bytes',
  'quota_messages',
  'suspended',
  'last_login',
  'last_login_from',
  'last_delivery',
  'created',
  'pending',
];
/**
 * CSV injection (OWASP): a spreadsheet takes a cell that starts with = + - @ (or their
 * full-width forms), a tab or a CR as a formula. The export writes such a cell with a `'` in
 * front, as spreadsheets write text that looks like a formula; a cell that starts with `'`s
 * before one of them gets one more `'`, so that the import can take exactly one `'` off every
 * cell that starts with `'`s before one of them and read back what was exported, whatever it was.
 */
const FORMULA = /^'*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** A cell as the export writes it: never a formula. */
function textCell(cell: string): string {
  return FORMULA.test(cell) ? `'${cell}` : cell;
}

/** A cell of an import as it was before the export wrote it (see FORMULA). */
function fromTextCell(cell: string): string {
  return cell.startsWith("'") && FORMULA.test(cell) ? cell.slice(1) : cell;
}

/** Rows handed to the daemon per request, well under its line limit even with long hashes. */
const CHUNK = 2000;
const MAX_FILE = 64 * 1024 * 1024;

export interface ParsedCsv {
  rows: ImportRow[];
  /** Rows refused before the daemon sees them (a broken line). */
  refused: ImportResult['refused'];
  /** Columns the import does not read. */
  ignored: string[];
}

/**
 * An import's input file (a CSV, a passwd-file, a vpasswd), read whole: a plain file only (not
 * a link, a device such as /dev/zero, a FIFO or a folder, which are refused at once rather
 * than read forever), at most `max` bytes. `-` is standard input, cut off at the same size.
 */
export async function readImportFile(path: string, max = MAX_FILE): Promise<Buffer> {
  const tooBig = () => new InputError(`${path} is over ${max / 1048576} MB: split it`);
  if (path === '-') {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooBig();
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }
  // O_NONBLOCK: opening a FIFO does not wait for a writer.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (err: NodeJS.ErrnoException) => {
      throw new InputError(
        err.code === 'ELOOP'
          ? `${path} is a symbolic link: give the file itself`
          : `cannot read ${path}: ${err.code ?? err.message}`,
      );
    },
  );
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new InputError(`${path} is a folder, not a file`);
    if (!st.isFile()) throw new InputError(`${path} is not a plain file (a device or a FIFO?): give a file`);
    if (st.size > max) throw tooBig();
    const data = await fh.readFile();
    if (data.length > max) throw tooBig();
    return data;
  } finally {
    await fh.close();
  }
}

/** An import tree's root as the daemon will check its Maildirs: its real path (links in it resolved). */
export async function realRoot(dir: string): Promise<string> {
  return realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read ${dir}: ${err.code ?? err.message}`);
  });
}

/** Reads an import file. A file that cannot be read as CSV at all is an InputError. */
export function parseImportCsv(input: Buffer | string): ParsedCsv {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.length > MAX_FILE) throw new InputError(`the file is over ${MAX_FILE / 1048576} MB: split it`);
  const firstLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const delimiter = firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    throw new InputError(`the file is not CSV a spreadsheet writes: ${(err as Error).message}`);
  }
  if (!records.length) throw new InputError('the file is empty: it needs a header row (name,password,...)');
  const header = records[0].record.map((h) =>
    h
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_'),
  );
  const col = (name: string) => header.indexOf(name);
  const nameCol = col('name') >= 0 ? col('name') : col('address');
  if (nameCol < 0)
    throw new InputError(
      `the header row ${JSON.stringify(records[0].record.join(delimiter).slice(0, 80))} has no name or address column`,
    );
  if (col('password') < 0 && col('password_hash') < 0 && col('forward') < 0)
    throw new InputError('the header row needs a password, password_hash or forward column');
  const rows: ImportRow[] = [];
  const refused: ImportResult['refused'] = [];
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    // The columns an export writes are read back as it wrote them; passwords are as typed.
    const get = (name: string) => {
      const i = col(name);
      const cell = i >= 0 ? (record[i] ?? '') : '';
      return (name === 'password' || name === 'password_hash' ? cell : fromTextCell(cell)).trim();
    };
    const name = fromTextCell(record[nameCol] ?? '').trim();
    if (record.length > header.length) {
      refused.push({ row: line, name, error: `${record.length} fields where the header has ${header.length}` });
      continue;
    }
    const row: ImportRow = { row: line, name };
    if (get('password')) row.password = get('password');
    if (get('password_hash')) row.passwordHash = get('password_hash');
    if (get('quota')) row.quota = get('quota');
    if (get('forward'))
      row.forward = get('forward')
        .split(/[\s,;]+/)
        .filter(Boolean);
    rows.push(row);
  }
  const ignored = header.filter((h) => h && !(COLUMNS as readonly string[]).includes(h));
  return { rows, refused, ignored };
}

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

/** A crypt hash without a scheme (Dovecot's default CRYPT) named by its $id$. */
function schemeOf(hash: string): string {
  const bare = hash.replace(/^\{CRYPT\}/i, '');
  if (bare.startsWith('{')) return hash;
  if (bare.startsWith('$6$')) return `{SHA512-CRYPT}${bare}`;
  if (bare.startsWith('$5$')) return `{SHA256-CRYPT}${bare}`;
  if (bare.startsWith('$1$')) return `{MD5-CRYPT}${bare}`;
  if (/^\$2[abxy]?\$/.test(bare)) return `{BLF-CRYPT}${bare}`;
  return hash;
}

export interface Progress {
  done: number;
  total: number;
  /** Per second, since the start. */
  rate: number;
  /** Seconds left at that rate. */
  left: number;
}

/**
 * Replaces each row's plain password with its hash, made on every core at once (Argon2id costs
 * tens of milliseconds each). `onProgress` is called as hashes come in; `signal` stops it.
 */
export async function hashPasswords(
  rows: ImportRow[],
  onProgress: (p: Progress) => void = () => {},
  signal?: AbortSignal,
): Promise<ImportRow[]> {
  const todo = rows.flatMap((r, i) => (r.password !== undefined ? [i] : []));
  const out = rows.map((r) => ({ ...r }));
  if (!todo.length) return out;
  const started = Date.now();
  let next = 0;
  let done = 0;
  const pool = new HashPool(Math.min(availableParallelism(), todo.length));
  const report = () => {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = done / secs;
    onProgress({ done, total: todo.length, rate, left: rate ? (todo.length - done) / rate : 0 });
  };
  try {
    // As many at once as there are workers: a stop leaves no queue behind.
    await Promise.all(
      Array.from({ length: Math.min(availableParallelism(), todo.length) }, async () => {
        while (next < todo.length) {
          if (signal?.aborted) throw new InputError('stopped: nothing was queued');
          const i = todo[next++];
          out[i].passwordHash = await pool.hash(out[i].password!);
          delete out[i].password;
          done++;
          report();
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return out;
}

/**
 * Hands `rows` to the daemon in pieces and checks (dryRun) or queues them with the last one.
 * Pieces wait on this connection only: if it closes first, nothing is queued.
 */
export interface ImportOptions {
  domain?: string;
  dryRun: boolean;
  skipBad: boolean;
  /** Rows with a Maildir: move it (else copy), and the old Dovecot's pop3_uidl_format. */
  move?: boolean;
  uidlFormat?: string;
  uidls?: 'dovecot' | 'names';
}

export async function sendImport(call: ImportCall, rows: ImportRow[], opts: ImportOptions): Promise<ImportResult> {
  const base = {
    ...(opts.domain ? { domain: opts.domain } : {}),
    dryRun: opts.dryRun,
    skipBad: opts.skipBad,
    ...(opts.move ? { move: true } : {}),
    ...(opts.uidlFormat ? { uidlFormat: opts.uidlFormat } : {}),
    ...(opts.uidls ? { uidls: opts.uidls } : {}),
  };
  const piece = (from: number, to: number) => rows.slice(from, to) as unknown as Record<string, unknown>[];
  for (let i = 0; i + CHUNK < rows.length; i += CHUNK) await call({ ...base, rows: piece(i, i + CHUNK), more: true });
  const last = rows.length ? Math.floor((rows.length - 1) / CHUNK) * CHUNK : 0;
  return call({ ...base, rows: piece(last, rows.length), total: rows.length });
}

/** `25M` when the quota is a whole number of MB or GB, else its bytes: what an import reads back. */
function quotaText(bytes: number | null): string {
  if (bytes === null) return '';
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}G`;
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}M`;
  return String(bytes);
}

/** Accounts and forwards as CSV with a header row, in the columns an import reads back first. */
export function exportCsv(accounts: AccountView[], forwards: ForwardView[]): string {
  const rows = [
    ...accounts.map((a) => [
      a.address,
      quotaText(a.quota),
      '',
      'account',
      a.messages,
      a.bytes,
      a.quotaMessages ?? '',
      a.suspended ? (a.refuseMail ? 'refuse-mail' : 'yes') : 'no',
      a.lastLoginAt ?? '',
      a.lastLoginFrom ?? '',
      a.lastDeliveryAt ?? '',
      a.createdAt ?? '',
      a.pending ? `${a.pending.action} at ${a.pending.appliesAt}` : '',
    ]),
    ...forwards.map((f) => [
      f.address,
      '',
      f.destinations.join(' '),
      'forward',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      f.pending ? `${f.pending.action} at ${f.pending.appliesAt}` : '',
    ]),
  ];
  return stringify([EXPORT_COLUMNS, ...rows.map((r) => r.map((cell) => textCell(String(cell))))], {
    record_delimiter: '\r\n',
  });
}

/** What `vmail export postfix` writes: each file's name and text. */
export function postfixMaps(
  dataDir: string,
  dir: string,
  domains: readonly DomainView[],
  accounts: readonly AccountView[],
  forwards: readonly ForwardView[],
): { name: string; text: string }[] {
  const hosted = domains.filter((d) => d.hosted);
  const mailbox = accounts.filter((a) => a.active && !(a.suspended && a.refuseMail));
  const withCatchall = new Set(hosted.filter((d) => d.catchall).map((d) => d.domain));
  const line = (k: string, v: string) => `${k} ${v}\n`;
  const alias = [
    ...forwards.filter((f) => f.active).map((f) => line(f.address, f.destinations.join(', '))),
    // Postfix's @domain entry would catch the domain's mailboxes too: each names itself first.
    ...mailbox.filter((a) => withCatchall.has(a.domain)).map((a) => line(a.address, a.address)),
    ...hosted.filter((d) => d.catchall).map((d) => line(`@${d.domain}`, `${d.catchall}@${d.domain}`)),
  ];
  const map = (name: string) => `hash:${join(dir, name)}`;
  return [
    { name: 'virtual_mailbox_domains', text: hosted.map((d) => line(d.domain, 'OK')).join('') },
    { name: 'virtual_mailbox_maps', text: mailbox.map((a) => line(a.address, `${a.domain}/${a.name}/`)).join('') },
    { name: 'virtual_alias_maps', text: alias.join('') },
    {
      name: 'main.cf.vmail',
      text: [
        '# Settings for a Postfix that delivers to the Maildirs vmail serves (postconf -e each line,',
        '# or paste into main.cf); run postmap on the three maps after each export.',
        `virtual_mailbox_base = ${join(dataDir, 'mail')}`,
        `virtual_mailbox_domains = ${map('virtual_mailbox_domains')}`,
        `virtual_mailbox_maps = ${map('virtual_mailbox_maps')}`,
        `virtual_alias_maps = ${map('virtual_alias_maps')}`,
        '',
      ].join('\n'),
    },
  ];
}
