// The trail's upkeep: the store's recorder named as where noteTrail's events go (unless
// --trail-days is 0), pruned to its days and caps at start and every hour; its stop writes what
// is still buffered, before the store closes.
import type { Config } from '../../service/settings.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { setTrailSink } from '../../support/trail.js';
import type { Started } from './stops.js';

const PRUNE_MS = 3_600_000;

export function startTrail(config: Config, store: Store, log: Logger): Started {
  const trail = store.trail;
  trail.days = config.trailDays;
  if (config.trailDays <= 0) return { stop: async () => {} };
  let warnedAt = 0;
  trail.onError = (err) => {
    // Said at most once a minute: a failing store would otherwise say it five times a second.
    if (Date.now() - warnedAt < 60_000) return;
    warnedAt = Date.now();
    log.warning('trail not written', { error: err.message, dropped: trail.dropped || undefined });
  };
  trail.onDropped = (events) =>
    log.warning('trail events dropped', { events, why: 'the store answered too slowly: at most 50,000 wait' });
  const unset = setTrailSink((n) => trail.note(n));
  const prune = () =>
    void trail
      .prune()
      .then((n) => n && log.info('trail pruned', { rows: n, older_than: `${config.trailDays}d` }))
      .catch((err: Error) => log.warning('trail not pruned', { error: err.message }));
  prune();
  const timer = setInterval(prune, PRUNE_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      unset();
      await trail.stop();
    },
  };
}
