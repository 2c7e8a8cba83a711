// The control methods for the forward queue: the messages waiting to be sent on, and a retry now.

import type { Handlers } from '../../control/server.js';
import type { Parts } from './context.js';

type QueueMethod = 'queue.list' | 'queue.retry';

export function queueHandlers({ queue }: Pick<Parts, 'queue'>): Pick<Handlers, QueueMethod> {
  return {
    'queue.list': () => queue.list(),
    'queue.retry': (p) => queue.retry(String(p.id)),
  };
}
