// The control methods for forwards: list them, and queue a forward's destinations or its removal.

import type { Handlers } from '../../control/server.js';
import { formatAddress, parseDestinations } from '../../model/names.js';
import { listForwards } from '../views.js';
import { hostedDomain, localAddress, type Names } from './context.js';

type ForwardMethod = 'forwards.list' | 'forwards.add' | 'forwards.remove';

export function forwardHandlers(parts: Names): Pick<Handlers, ForwardMethod> {
  const { store, changes } = parts;
  return {
    'forwards.list': (p) => listForwards(store, hostedDomain(parts, p.domain)),
    'forwards.add': (p, conn) => {
      const a = localAddress(parts, p.name, p.domain);
      return changes.request(
        {
          kind: 'forward',
          action: 'set',
          address: a,
          destinations: parseDestinations(p.destinations, formatAddress(a)),
        },
        conn.peer.user,
      );
    },
    'forwards.remove': (p, conn) =>
      changes.request(
        { kind: 'forward', action: 'remove', address: localAddress(parts, p.name, p.domain) },
        conn.peer.user,
      ),
  };
}
