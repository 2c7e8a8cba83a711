// Accounts and forwards as a spreadsheet's CSV: an import file read into rows (quoted fields, a
// BOM, CRLF, `,` or `;` between fields), and every account and forward written back out in the
// columns an import reads first, with no cell a spreadsheet would take for a formula.
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { AccountView, ForwardView, ImportResult, ImportRow } from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { MAX_FILE, type ParsedCsv } from './import-file.js';

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
