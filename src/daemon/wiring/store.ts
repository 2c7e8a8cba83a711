// The store and the daemon's place beside others: one daemon per data dir and per SQLite store
// (its locks taken here), or one of the daemons sharing a PostgreSQL store, whose node strategy
// (cluster/node-strategy.ts) answers everything that differs between the two. The domains
// named in the settings are hosted from here on.
import { dirname, join, resolve } from 'node:path';
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import { SingleHost } from '../../cluster/single-host.js';
import { type Config, ConfigError } from '../../service/settings.js';
import { SCHEMA_VERSION, SchemaError } from '../../store/schema.js';
import { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { VERSION } from '../../support/package-root.js';
import { DirLock } from '../dir-lock.js';
import { type Started, Stops } from './stops.js';

export interface OpenStore extends Started {
  store: Store;
  node: NodeStrategy;
}

/** Opens the store (after its locks, alone) and joins the other daemons sharing it, if any. */
export async function openStore(config: Config, log: Logger): Promise<OpenStore> {
  const stops = new Stops();
  try {
    // One daemon per data dir and per SQLite store; on PostgreSQL the mail root is shared, and
    // each daemon's own folders in it are guarded by its node name's lock (cluster/node.ts).
    if (config.store.kind === 'sqlite') {
      const lock = DirLock.take(join(config.dataDir, 'vmail.lock'), config.dataDir);
      stops.add({ stop: () => lock.release() });
      if (dirname(resolve(config.store.path)) !== config.dataDir) {
        const storeLock = DirLock.take(`${config.store.path}.lock`, config.store.path);
        stops.add({ stop: () => storeLock.release() });
      }
    }
    const store = await Store.open(config.dataDir, config.store, config.node).catch((err: Error) => {
      // A store from a newer vmail is a configuration problem: exit 78 with its line.
      throw err instanceof SchemaError ? new ConfigError(err.message) : err;
    });
    stops.add({ stop: () => store.close() });
    if (store.upgraded.from !== null && store.upgraded.from < SCHEMA_VERSION)
      log.notice('store migrated', {
        store: store.where,
        from: store.upgraded.from,
        to: SCHEMA_VERSION,
        copy: store.upgraded.copy ?? 'none (PostgreSQL: back it up with vmail backup or pg_dump)',
      });
    const node = await joinOthers(store, config, log);
    stops.add({ stop: () => node.close() });
    await hostConfiguredDomains(store, config.domains, log);
    store.startChecking(log);
    return { store, node, stop: () => stops.stopAll() };
  } catch (err) {
    await stops.stopAll();
    throw err;
  }
}

/**
 * This daemon alone on its data dir, or one of several on a PostgreSQL store: then it joins
 * them now (the PostgreSQL driver and the cluster's code are loaded for such a store only).
 */
async function joinOthers(store: Store, config: Config, log: Logger): Promise<NodeStrategy> {
  if (config.store.kind !== 'postgres') return new SingleHost(config.dataDir);
  const { SeveralHosts } = await import('../../cluster/several-hosts.js');
  return SeveralHosts.join(store, config.dataDir, config.node, VERSION, log);
}

/**
 * --domain hosts a domain the store does not know yet; one removed with `vmail domains remove`
 * stays removed (the config file may still name it) until `vmail domains add`.
 */
async function hostConfiguredDomains(store: Store, domains: string[], log: Logger): Promise<void> {
  const now = Date.now();
  for (const d of domains) {
    if (store.removedDomains.has(d))
      log.warning('domain not added', {
        domain: d,
        why: 'it was removed with vmail domains remove: add it back with vmail domains add',
      });
    else await store.addDomain(d, now);
  }
  if (store.domains.size === 0) log.warning('no domain hosted', { fix: 'vmail domains add DOMAIN' });
}
