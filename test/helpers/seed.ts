// Accounts for tests and benchmarks that need thousands: queued straight into a stopped
// daemon's store, with one password hash for all.
/** Queues account adds straight into a stopped daemon's store (10,000 password hashes would take minutes). */
export async function seedAccounts(
  dataDir: string,
  names: string[],
  password = 'bench-password-1',
  appliesAt?: number,
  /** Another store than the data dir's SQLite file (a PostgreSQL one, by URL). */
  storeUrl?: string,
): Promise<void> {
  const { Store } = await import('../../src/store/store.js');
  const { hashPassword } = await import('../../src/store/passwords.js');
  const { nextApplyAt } = await import('../../src/model/schedule.js');
  const { parseStoreLocation } = await import('../../src/store/location.js');
  const store = await Store.open(dataDir, parseStoreLocation(storeUrl ?? null, dataDir), 'seed');
  const hash = await hashPassword(password);
  const now = Date.now();
  await store.queueMany(
    names.map((name, i) => ({
      id: String(i + 1),
      seq: i + 1,
      domain: 'example.test',
      kind: 'account' as const,
      action: 'add' as const,
      name,
      requestedAt: now,
      appliesAt: appliesAt ?? nextApplyAt(now, 3_600_000),
      passwordHash: hash,
    })),
  );
  await store.close();
}
