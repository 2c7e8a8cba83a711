// The store's schema version: a row `schema` in the meta table. A store made before versions
// were kept has none and is version 1. A newer vmail brings an older store up to date when it
// opens it, every step in one transaction (all land, or none: the store stays as it was); a
// SQLite store is first copied whole beside itself (`vmail.sqlite.before-vN`), so going back to
// the older vmail is a move of that file. An older vmail refuses a newer store rather than
// misread it.
import { existsSync } from 'node:fs';
import { VERSION } from '../support/package-root.js';
import type { Database, Table } from './database.js';

/** The schema this vmail writes. 1: 0.1.0 (no row); 2: the row is there; 3: the trail's tables. */
export const SCHEMA_VERSION = 3;

export interface SchemaRow {
  version: number;
  /** When the store was last brought to this version, and from which, by which vmail. */
  migratedAt?: number;
  from?: number;
  by?: string;
}

/** A store from a newer vmail: the daemon exits 78 (EX_CONFIG) with this line. */
export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

/** The steps from version N to N+1, by N; each runs inside the one migration transaction. */
type Step = (tables: Map<string, Table<unknown>>) => Promise<void>;
const STEPS: Record<number, Step> = {
  // 1 -> 2: no row changes shape; the version row itself (written after the steps) is the change.
  1: async () => {},
  // 2 -> 3: the trail's two tables (`trail`, `trail_unknown`), made empty when the store opens.
  2: async () => {},
};

/** The version `meta` says the store is: its row, else 1 for a store that holds anything, else null (a new store). */
async function versionOf(meta: Table<unknown>, tables: Map<string, Table<unknown>>): Promise<number | null> {
  const row = (await meta.get('schema')) as SchemaRow | undefined;
  if (row && Number.isSafeInteger(row.version)) return row.version;
  for (const t of tables.values()) if ((await t.count()) > 0) return 1;
  return null;
}

/**
 * Brings the store to SCHEMA_VERSION (a new one is just stamped); throws SchemaError for a store
 * a newer vmail made. `copy(to)` saves the whole store to a file first, when the store is a file.
 * Returns the version the store was at, and where the copy went (or null).
 */
export async function upgradeSchema(
  db: Database,
  tables: Map<string, Table<unknown>>,
  copy: ((to: string) => Promise<void>) | null,
  file: string | null,
): Promise<{ from: number | null; copy: string | null }> {
  const meta = tables.get('meta')!;
  const seen = await versionOf(meta, tables);
  if (seen !== null && seen > SCHEMA_VERSION)
    throw new SchemaError(
      `this store (${db.where}) is schema ${seen}, this vmail (${VERSION}) knows up to ${SCHEMA_VERSION}: upgrade vmail`,
    );
  if (seen === SCHEMA_VERSION) return { from: seen, copy: null };
  let saved: string | null = null;
  if (seen !== null && copy && file) {
    saved = `${file}.before-v${SCHEMA_VERSION}`;
    // An earlier start made the copy and then failed to migrate: that copy is the older one, kept.
    if (!existsSync(saved)) await copy(saved);
  }
  await db.write(async () => {
    // Read again inside the transaction: another daemon sharing the store may have migrated it.
    const now = await versionOf(meta, tables);
    if (now !== null && now >= SCHEMA_VERSION) return;
    for (let v = now ?? SCHEMA_VERSION; v < SCHEMA_VERSION; v++) await STEPS[v](tables);
    const row: SchemaRow = { version: SCHEMA_VERSION, migratedAt: Date.now(), by: VERSION };
    if (now !== null) row.from = now;
    await meta.put([['schema', row]]);
  });
  return { from: seen, copy: saved };
}
