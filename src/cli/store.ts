// `vmail store migrate`: every table of one store copied into another, empty one (SQLite to
// PostgreSQL when a second daemon joins).
import { Command } from 'commander';
import { parseStoreLocation, withoutPassword } from '../store/location.js';
import { out, UsageError } from './output.js';

export function storeCommand(): Command {
  const store = new Command('store').description('the database that holds accounts, forwards and the queue');
  store
    .command('migrate')
    .description('copy every table of one store into another, empty one (sqlite:PATH, postgres://...)')
    .requiredOption('--from <URL>', 'the store to copy (a daemon may keep running on it)')
    .requiredOption('--to <URL>', 'the empty store to copy into')
    .action(async (f: { from: string; to: string }) => {
      const where = (flag: string, text: string) => {
        try {
          return parseStoreLocation(text, '.');
        } catch (err) {
          throw new UsageError(`${flag}: ${(err as Error).message}`);
        }
      };
      const from = where('--from', f.from);
      const to = where('--to', f.to);
      const { migrateStore } = await import('../store/migrate.js');
      const n = await migrateStore(from, to);
      out(
        `Copied ${n.domains} domain(s), ${n.accounts} account(s), ${n.forwards} forward(s), ${n.pending} pending change(s), ${n.applied} applied change(s), ${n.audit} audit entries.`,
      );
      if (to.kind === 'postgres') out(`Start each daemon with --store ${withoutPassword(f.to)} and its own --node.`);
    });
  return store;
}
