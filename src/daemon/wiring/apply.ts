// The applies: the change queue, the engine that makes its changes real on the hour, and the
// MailboxLifecycle that tells the daemon's parts what each apply (or another daemon's)
// changed. Built early, since most parts read the queue or follow the lifecycle; started last
// but one, where the node strategy lets this daemon apply, once every follower is there.
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { Config } from '../../service/settings.js';
import type { ForwardQueue } from '../../smtp/forward-queue.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';
import { ApplyEngine } from '../apply-engine.js';
import { ChangeQueue } from '../change-queue.js';
import { MailboxLifecycle } from '../mailbox-lifecycle.js';
import type { Started } from './stops.js';

export interface ApplyParts extends Started {
  changes: ChangeQueue;
  engine: ApplyEngine;
  lifecycle: MailboxLifecycle;
}

/** The change queue, the apply engine and the lifecycle it raises; its stop waits for a change under way. */
export function buildApply(config: Config, store: Store, log: Logger): ApplyParts {
  const changes = new ChangeQueue(store, config.applyIntervalMs);
  const engine = new ApplyEngine(changes, store, config.dataDir, log);
  return {
    changes,
    engine,
    lifecycle: new MailboxLifecycle(engine, store, config.dataDir),
    stop: () =>
      changes
        .exclusive(async () => {})
        .catch(() => {
          // Waiting only: the change or apply under way reported its own failure to its caller.
        }),
  };
}

/**
 * Starts applying where the node strategy says (here on every tick, or while holding the
 * service's apply lease); its stop stops the ticks.
 */
export async function startApplying(
  { engine }: ApplyParts,
  node: NodeStrategy,
  queue: ForwardQueue,
  log: Logger,
): Promise<Started> {
  try {
    const applying = await node.startApplying(() => engine.start(), queue, log);
    return {
      stop: () => {
        applying.stop();
        engine.stop();
      },
    };
  } catch (err) {
    engine.stop();
    throw err;
  }
}
