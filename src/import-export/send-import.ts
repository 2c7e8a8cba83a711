// Sending an import to the daemon, for the CLI and the console alike: plain passwords hashed on
// every core before they leave (with progress), then the rows handed over in pieces and checked
// or queued in one step with the last.
import { availableParallelism } from 'node:os';
import type { ImportResult, ImportRow, Params, Results } from '../control/protocol.js';
import { InputError } from '../model/errors.js';
import { HashPool } from '../store/hash-pool.js';

/** Sends one accounts.import request: a ControlClient's call, or the console's session. */
export type ImportCall = (params: Params<'accounts.import'>) => Promise<Results['accounts.import']>;

/** Rows handed to the daemon per request, well under its line limit even with long hashes. */
const CHUNK = 2000;

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

/** How the daemon is to take an import's rows. */
export interface ImportOptions {
  domain?: string;
  dryRun: boolean;
  skipBad: boolean;
  /** Rows with a Maildir: move it (else copy), and the old Dovecot's pop3_uidl_format. */
  move?: boolean;
  uidlFormat?: string;
  uidls?: 'dovecot' | 'names';
}

/**
 * Hands `rows` to the daemon in pieces and checks (dryRun) or queues them with the last one.
 * Pieces wait on this connection only: if it closes first, nothing is queued.
 */
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
