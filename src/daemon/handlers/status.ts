// The control methods that tell about the daemon itself: its status, a client's subscription to
// its notifications, and the audit log of who changed what.

import type { LogEntryView, TraceItemView } from '../../control/protocol.js';
import type { Handlers } from '../../control/server.js';
import { InputError } from '../../model/errors.js';
import { parseSince } from '../../model/schedule.js';
import type { Parts } from './context.js';

type StatusMethod = 'status' | 'subscribe' | 'log.list' | 'trace';

export function statusHandlers({ store, status }: Pick<Parts, 'store' | 'status'>): Pick<Handlers, StatusMethod> {
  return {
    status: () => status(),
    subscribe: (_p, conn) => {
      conn.subscribed = true;
      return { subscribed: true };
    },
    'log.list': async (p): Promise<LogEntryView[]> => {
      const since = p.since === undefined ? undefined : parseSince(p.since, Date.now());
      const limit = Math.min(Math.max(1, Math.floor(p.limit ?? 1000)), 100_000);
      const entries = await store.audit.query({ since, user: p.user, address: p.address?.trim().toLowerCase(), limit });
      return entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    },
    trace: async (p): Promise<TraceItemView[]> => {
      const address = p.address.trim().toLowerCase();
      if (!/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(address))
        throw new InputError(`${JSON.stringify(p.address)}: write an address like name@domain`);
      const since = p.since === undefined ? undefined : parseSince(p.since, Date.now());
      const events = await store.trail.query(address, { since, from: p.from, messageId: p.messageId });
      return events.map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    },
  };
}
