// The audit log's upkeep: entries older than the retention setting are pruned (at start and
// every hour), and the settings each start and each reload ran with are recorded in it, as
// `config.start` and `config.reload` entries from the daemon itself.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import { type Config, SETTINGS } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { selfPeer, settingText } from '../audit.js';
import type { Started } from './stops.js';

/** How often the audit log is pruned. */
const PRUNE_MS = 3_600_000;

/** Prunes the audit log now and every hour; its stop stops the hourly prune. */
export function startAuditPruning(config: Config, store: Store, log: Logger): Started {
  const prune = () =>
    void store.audit
      .prune(Date.now() - config.auditRetentionDays * 86_400_000)
      .then((n) => n && log.info('audit pruned', { entries: n, older_than: `${config.auditRetentionDays}d` }))
      .catch((err: Error) => log.warning('audit not pruned', { error: err.message }));
  prune();
  const timer = setInterval(prune, PRUNE_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * Settings edited while the daemon was stopped (or the first start after vmail setup) are
 * recorded as the reloads are: which ones, and their new values.
 */
export async function recordStartSettings(config: Config, store: Store, node: NodeStrategy): Promise<void> {
  const self = selfPeer();
  const settings = Object.fromEntries(SETTINGS.map((x) => [x.key, settingText(config[x.field])]));
  const before = node.settingsBefore(store);
  const edited = SETTINGS.filter((x) => before?.[x.key] !== settings[x.key]).map((x) => x.key);
  if (!edited.length) return;
  await store.audit.append({
    at: Date.now(),
    user: self.user,
    uid: self.uid,
    pid: self.pid,
    method: 'config.start',
    params: Object.fromEntries(edited.map((k) => [k, settings[k]])),
    outcome: before ? `started with ${edited.length} setting(s) changed` : 'first start with these settings',
  });
  await node.saveSettings(store, settings);
}

/** Records a reload's changed settings and what became of them (logged, not thrown, when the store refuses). */
export function recordReload(
  store: Store,
  next: Config,
  changed: (typeof SETTINGS)[number][],
  applied: string[],
  needRestart: string[],
  log: Logger,
): void {
  const self = selfPeer();
  void store.audit
    .append({
      at: Date.now(),
      user: self.user,
      uid: self.uid,
      pid: self.pid,
      method: 'config.reload',
      params: Object.fromEntries(changed.map((c) => [c.key, settingText(next[c.field])])),
      outcome: `${applied.length ? `applied ${applied.join(', ')}` : ''}${needRestart.length ? `${applied.length ? '; ' : ''}needs a restart: ${needRestart.join(', ')}` : ''}`,
    })
    .catch((err: Error) => log.error('audit not written', { method: 'config.reload', error: err.message }));
}
