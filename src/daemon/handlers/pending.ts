// The control methods for the pending changes: list them, cancel one (or a part of one), and
// apply them now rather than on the hour.

import type { Handlers } from '../../control/server.js';
import { hostedDomain, type Parts } from './context.js';

type PendingMethod = 'pending.list' | 'pending.cancel' | 'pending.apply';

export function pendingHandlers(parts: Pick<Parts, 'store' | 'changes' | 'engine'>): Pick<Handlers, PendingMethod> {
  const { changes, engine } = parts;
  return {
    'pending.list': (p) => changes.list(hostedDomain(parts, p.domain)),
    'pending.cancel': (p) => changes.cancel(String(p.id), p.part),
    'pending.apply': (p, conn) => engine.apply({ domain: hostedDomain(parts, p.domain), by: conn.peer }),
  };
}
