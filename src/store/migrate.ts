// `vmail store migrate`: copies every table of one store into another (SQLite into PostgreSQL
// to go from one machine to several, or back), read from one consistent snapshot of the source
// (a daemon may keep running on it) and written in one transaction (a failed copy leaves the
// target empty). The target must be empty: a copy never merges into configuration already there.
import { InputError } from '../model/errors.js';
import type { Database } from './database.js';
import type { StoreLocation } from './location.js';

/** Every table a store has, in the order they are copied. */
const TABLES = [
  'domains',
  'accounts',
  'forwards',
  'pending',
  'applied',
  'activity',
  'meta',
  'audit',
  'trail',
  'trail_unknown',
];
const MIRRORED = ['domains', 'accounts', 'forwards', 'pending', 'meta'];

async function open(location: StoreLocation): Promise<Database> {
  if (location.kind === 'sqlite') {
    const { SqliteDatabase } = await import('./sqlite.js');
    return SqliteDatabase.open(location.path);
  }
  const { PostgresDatabase } = await import('./postgres.js');
  return PostgresDatabase.open(location.url, 'migrate', MIRRORED);
}

/** Copies `from` into `to`; returns the rows copied by table. */
export async function migrateStore(from: StoreLocation, to: StoreLocation): Promise<Record<string, number>> {
  if (
    from.kind === to.kind &&
    (from.kind === 'sqlite' ? from.path : from.url) === (to.kind === 'sqlite' ? to.path : to.url)
  )
    throw new InputError('--from and --to name the same store');
  if (from.kind === 'sqlite') {
    const { existsSync } = await import('node:fs');
    if (!existsSync(from.path)) throw new InputError(`${from.path} does not exist`);
  }
  const source = await open(from);
  try {
    const target = await open(to);
    try {
      const copied: Record<string, number> = {};
      const tables = await Promise.all(
        TABLES.map(async (name) => ({ name, from: await source.table(name), to: await target.table(name) })),
      );
      const held = [];
      for (const t of tables) {
        // A new store's schema row (a daemon stamped it) is not configuration: replaced by the source's.
        const stamp = t.name === 'meta' && (await t.to.get('schema')) !== undefined ? 1 : 0;
        const n = (await t.to.count()) - stamp;
        if (n) held.push(`${n} ${t.name} row(s)`);
      }
      if (held.length)
        throw new InputError(
          `${target.where} already holds ${held.join(', ')}: migrate into an empty database (nothing was copied)`,
        );
      await source.snapshot(() =>
        target.write(async () => {
          for (const t of tables) {
            if (t.name === 'meta') await t.to.remove(['schema']);
            copied[t.name] = 0;
            for await (const page of t.from.pages()) {
              await t.to.putText(page);
              copied[t.name] += page.length;
            }
          }
        }),
      );
      return copied;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
