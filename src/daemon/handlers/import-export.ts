// The control methods that bring accounts in and take them out: an import (rows of accounts and
// forwards, with the old server's Maildirs, sent in parts and queued together), and the exports
// for Dovecot (each account's password hash; a dovecot-uidlist in each Maildir).

import { isAbsolute } from 'node:path';
import type { ImportResult, Params } from '../../control/protocol.js';
import type { ControlConnection, Handlers } from '../../control/server.js';
import { inspectMaildir } from '../../import-export/maildir.js';
import { checkUidlFormat, writeDovecotUidlist } from '../../maildir/dovecot-uidlist.js';
import { maildirPath } from '../../maildir/paths.js';
import type { PendingChange } from '../../model/changes.js';
import { InputError } from '../../model/errors.js';
import { checkPassword, formatAddress, parseDestinations } from '../../model/names.js';
import { parseQuota } from '../../model/quota.js';
import { checkHash, hashPasswordInWorker } from '../../store/passwords.js';
import type { ChangeRequest } from '../change-queue.js';
import { hostedDomain, localAddress, type Names, type Parts } from './context.js';

type ImportExportMethod = 'accounts.import' | 'export.passwd' | 'export.uidlists';

/** Dovecot's default pop3_uidl_format: the UID and UIDVALIDITY in 8 hex digits each. */
const DOVECOT_UIDL_FORMAT = '%08Xu%08Xv';

/** The most rows one import may send ahead on a connection. */
const MAX_IMPORT_ROWS = 200_000;
/** The most bytes of rows one import may send ahead (as JSON): the CSV file's own limit. */
const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

type ImportSource = PendingChange['importFrom'];
type Row = Record<string, unknown>;

export function importExportHandlers(
  parts: Pick<Parts, 'dataDir' | 'store' | 'changes'>,
): Pick<Handlers, ImportExportMethod> {
  const { dataDir, store } = parts;
  return {
    'accounts.import': async (p, conn) => {
      const dryRun = p.dryRun === true;
      const rows = stageRows(p, conn);
      if (!rows) return { rows: conn.staged.length, queued: [], refused: [], dryRun, done: false };
      return importRows(parts, p, rows, conn);
    },
    'export.passwd': (p) => {
      const d = hostedDomain(parts, p.domain);
      return [...store.accounts.values()]
        .filter((a) => !d || a.domain === d)
        .map((a) => ({ address: `${a.name}@${a.domain}`, passwordHash: a.passwordHash }))
        .sort((x, y) => (x.address < y.address ? -1 : 1));
    },
    'export.uidlists': async (p) => {
      const d = hostedDomain(parts, p.domain);
      let maildirs = 0;
      let messages = 0;
      for (const a of store.accounts.values()) {
        if (d && a.domain !== d) continue;
        messages += await writeDovecotUidlist(maildirPath(dataDir, a.domain, a.name));
        maildirs++;
      }
      return { maildirs, messages };
    },
  };
}

/**
 * Keeps this call's rows on the connection, within the import's limits (past them, all the rows
 * sent so far are dropped). Returns the whole import's rows once its last call came (no `more`),
 * or null while more are to come.
 */
function stageRows(p: Params<'accounts.import'>, conn: ControlConnection): Row[] | null {
  conn.staged.push(...p.rows);
  conn.stagedBytes += JSON.stringify(p.rows).length;
  if (conn.staged.length > MAX_IMPORT_ROWS || conn.stagedBytes > MAX_IMPORT_BYTES) {
    const rows = conn.staged.length;
    conn.staged = [];
    conn.stagedBytes = 0;
    throw new InputError(
      rows > MAX_IMPORT_ROWS
        ? `an import may have at most ${MAX_IMPORT_ROWS} rows: split the file`
        : `an import may send at most ${MAX_IMPORT_BYTES / 1048576} MB of rows: split the file`,
    );
  }
  if (p.more) return null;
  const rows = conn.staged;
  conn.staged = [];
  conn.stagedBytes = 0;
  if (p.total !== undefined && rows.length !== p.total)
    throw new InputError(
      `the import had ${p.total} rows but ${rows.length} arrived on this connection (was it replaced midway?): nothing was queued; send it again`,
    );
  return rows;
}

/** Checks a whole import's rows and queues them together (or, in a dry run, says what would be). */
async function importRows(
  parts: Pick<Parts, 'dataDir' | 'store' | 'changes'>,
  p: Params<'accounts.import'>,
  rows: Row[],
  conn: ControlConnection,
): Promise<ImportResult> {
  const dryRun = p.dryRun === true;
  const domain = hostedDomain(parts, p.domain);
  const uidlFormat = checkUidlFormat(p.uidlFormat ?? DOVECOT_UIDL_FORMAT);
  const uidls = p.uidls ?? 'dovecot';
  if (uidls !== 'dovecot' && uidls !== 'names') throw new InputError('uidls: dovecot or names');
  const sources = await Promise.all(
    rows.map((r) => importSource(r, [parts.dataDir, parts.store.where], { move: p.move === true, uidlFormat, uidls })),
  );
  const reqs = rows.map((r, i) => {
    try {
      return importRequest(parts, r, domain, sources[i]);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return err;
    }
  });
  // Plain passwords are hashed only for a real import, on worker threads of their own (not
  // libuv's pool, which every delivery's fsync needs meanwhile).
  const ready = await Promise.all(
    reqs.map(async (r) => {
      if (!(r instanceof Error) && 'plain' in r)
        return dryRun ? r.req : { ...r.req, passwordHash: await hashPasswordInWorker(r.plain) };
      return r;
    }),
  );
  const out = await parts.changes.requestMany(ready as (ChangeRequest | Error)[], conn.peer.user, {
    dryRun,
    all: p.skipBad !== true,
  });
  const rowNumber = (i: number) => (typeof rows[i].row === 'number' ? (rows[i].row as number) : i + 1);
  return {
    rows: rows.length,
    queued: out.queued,
    refused: out.refused.map(({ index, error }) => ({
      row: rowNumber(index),
      name: String(rows[index].name ?? '').slice(0, 100),
      error,
    })),
    dryRun,
    done: out.done,
  };
}

/**
 * The mail a row brings: its Maildir, which must be there and readable by the daemon (null: the
 * row brings none; an Error: why its Maildir cannot be imported, refused with the row).
 */
async function importSource(
  r: Row,
  ownDirs: string[],
  how: { move: boolean; uidlFormat: string; uidls: 'dovecot' | 'names' },
): Promise<ImportSource | Error | null> {
  if (typeof r.maildir !== 'string' || !r.maildir) return null;
  if (!isAbsolute(r.maildir))
    return new Error(`maildir ${JSON.stringify(r.maildir.slice(0, 80))}: give an absolute path`);
  try {
    const found = await inspectMaildir(r.maildir, ownDirs);
    return {
      maildir: r.maildir,
      ...how,
      messages: found.messages,
      uidlsKept: how.uidls === 'names' || found.uidlist,
    };
  } catch (err) {
    return err as Error;
  }
}

/** One import row as the change it asks for; a plain password is hashed later, in parallel. */
function importRequest(
  parts: Names,
  r: Row,
  domain: string | undefined,
  source: ImportSource | Error | null,
): ChangeRequest | { plain: string; req: ChangeRequest } {
  if (source instanceof Error) throw new InputError(source.message, 'name');
  const text = (k: string) =>
    typeof r[k] === 'string' && (r[k] as string).trim() !== '' ? (r[k] as string) : undefined;
  const name = text('name');
  if (!name) throw new InputError('no name or address', 'name');
  const a = localAddress(parts, name, domain);
  const forward = Array.isArray(r.forward) ? r.forward.filter((d): d is string => typeof d === 'string') : [];
  const password = text('password');
  const hash = text('passwordHash');
  if (password !== undefined && hash !== undefined)
    throw new InputError('give a password or a password_hash, not both', 'password');
  if (password === undefined && hash === undefined) {
    if (!forward.length) throw new InputError('give a password, a password_hash or forward destinations', 'password');
    if (text('quota')) throw new InputError('a forward has no quota: give a password to make it an account', 'quota');
    return {
      kind: 'forward',
      action: 'set',
      address: a,
      destinations: parseDestinations(forward, formatAddress(a)),
    };
  }
  if (forward.length)
    throw new InputError(
      'a name is an account or a forward: give a password or forward destinations, not both',
      'name',
    );
  const quota = text('quota') === undefined ? undefined : parseQuota(text('quota')!);
  const req: ChangeRequest = {
    kind: 'account',
    action: 'add',
    address: a,
    passwordHash: '',
    quota,
    ...(source ? { importFrom: source } : {}),
  };
  if (hash !== undefined) return { ...req, passwordHash: checkHash(hash) };
  return { plain: checkPassword(password, a.name), req };
}
