// What the control handlers are given, and the checks most of them share: the daemon's parts
// each area's handlers are built from, and how a request's domain or name becomes one hosted
// here (a domain whose add is still pending counts for some requests, not for others).

import type { QueueAdmin } from '../../cluster/service-queue.js';
import type { StatusView } from '../../control/protocol.js';
import type { MailboxIndex } from '../../maildir/mailbox-index.js';
import { InputError } from '../../model/errors.js';
import { clockTime } from '../../model/format.js';
import { type Address, asciiDomain, domainOf, normalizeDomain, parseLocalAddress } from '../../model/names.js';
import type { DkimKeys } from '../../smtp/dkim.js';
import type { SendLimit } from '../../smtp/send-limit.js';
import type { Store } from '../../store/store.js';
import type { ApplyEngine } from '../apply-engine.js';
import type { ChangeQueue } from '../change-queue.js';

/** The parts of the daemon the control methods serve requests with. */
export interface Parts {
  dataDir: string;
  store: Store;
  changes: ChangeQueue;
  engine: ApplyEngine;
  mailboxes: MailboxIndex;
  queue: QueueAdmin;
  dkim: DkimKeys;
  /** What each account submitted within --send-limit's window. */
  sending: SendLimit;
  status: () => StatusView;
  /** The DNS server lookups go to (--resolver), or null for the system's. */
  resolver: () => string | null;
}

/** What the name checks read: the domains hosted, and the domain changes waiting. */
export type Names = Pick<Parts, 'store' | 'changes'>;

/**
 * The domain a request is limited to (lower case), or undefined for all of them. A domain whose
 * add is pending can be listed and applied now, not yet given accounts.
 */
export function hostedDomain({ store, changes }: Names, domain?: string): string | undefined {
  const d = domain === undefined ? undefined : asciiDomain(domain);
  if (d !== undefined && !store.domains.has(d) && changes.pendingDomain(d)?.action !== 'add')
    throw new InputError(
      `${JSON.stringify(d.slice(0, 60))} is not a domain hosted here (hosted: ${changes.domains.join(', ') || 'none'})`,
      'domain',
    );
  return d;
}

/** An account's or forward's name (with `domain`, or as name@domain) as an address of a domain hosted now. */
export function localAddress({ store, changes }: Names, name: string, domain?: string): Address {
  const d = asciiDomain(domain ?? (name.includes('@') ? domainOf(name) : ''));
  const adding = changes.pendingDomain(d);
  if (adding?.action === 'add' && !store.domains.has(d))
    throw new InputError(
      `${d} is not hosted yet: its add applies at ${clockTime(new Date(adding.appliesAt).toISOString())}; apply it now (vmail pending apply --domain ${d}), then add its accounts and forwards`,
      'domain',
    );
  return parseLocalAddress(name, changes.domains, domain);
}

/** A domain name as given, normalized; a malformed one is refused as the request's domain. */
export function domainName(input: string): string {
  try {
    return normalizeDomain(input);
  } catch (err) {
    throw new InputError((err as Error).message, 'domain');
  }
}
