// Where accepted mail goes: into a Maildir here (local delivery, counted by the mailbox index
// and told to the other daemons), or onto the forward queue toward the relay (without one, the
// recipients' MX hosts), with an SRS sender, an ARC seal and DKIM-signed bounces. Each needs
// the other (a forward to a local address is delivered here; a delivery to a forward is
// queued), so both are built together.
// The queue's spool is loaded here; it starts sending with the intake (daemon.ts).

import { join } from 'node:path';
import type { NodeStrategy } from '../../cluster/node-strategy.js';
import type { MailboxIndex } from '../../maildir/mailbox-index.js';
import { domainOf } from '../../model/names.js';
import type { Config } from '../../service/settings.js';
import { ArcSealer } from '../../smtp/arc.js';
import { DkimKeys } from '../../smtp/dkim.js';
import { OutboundDns } from '../../smtp/dns.js';
import { ForwardQueue } from '../../smtp/forward-queue.js';
import { preloadOutgoing } from '../../smtp/lazy-libs.js';
import { LocalDelivery, LoopError, Message, RefusedError } from '../../smtp/local-delivery.js';
import { MtaSts } from '../../smtp/mta-sts.js';
import { MxDelivery } from '../../smtp/mx-delivery.js';
import { Srs } from '../../smtp/srs.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../support/log.js';

export interface Delivery {
  delivery: LocalDelivery;
  queue: ForwardQueue;
  dkim: DkimKeys;
}

/** Local delivery and the forward queue, its spool loaded (and a lone daemon's adopted). */
export async function buildDelivery(
  config: Config,
  store: Store,
  index: MailboxIndex,
  node: NodeStrategy,
  log: Logger,
): Promise<Delivery> {
  const srs = await Srs.open(config.dataDir, config.srsMaxAgeDays);
  const dkim = new DkimKeys(join(config.dataDir, 'dkim'));
  const arc = new ArcSealer(dkim, config.hostname, log, config.resolver);
  const delivery: LocalDelivery = new LocalDelivery(
    store,
    config.dataDir,
    () => queue,
    {
      naming: (address, file) => index.naming(address, file),
      added: (address, bytes) => {
        store.recordActivity(address, { lastDeliveryAt: Date.now() });
        index.added(address, bytes);
        node.publishAdded(address, bytes);
      },
      changed: (address) => void index.refresh(address),
      usage: (address) => index.get(address),
    },
    srs,
    () => config.postmaster,
    node.sharedRoot,
  );
  // Without --relay, mail leaves for the recipient domain's MX hosts, looked up through --resolver.
  const dns = new OutboundDns(config.resolver);
  const direct = new MxDelivery({
    hostname: config.hostname,
    dns,
    sts: new MtaSts(join(config.dataDir, 'mta-sts'), dns, log),
    listenHost: config.smtp.host,
    log,
  });
  const queue: ForwardQueue = new ForwardQueue({
    direct,
    dir: node.queueDir,
    relay: config.relay,
    relayCaFile: config.relayCaFile,
    relayTimeoutMs: config.relayTimeoutMs,
    hostname: config.hostname,
    isLocal: (address): boolean => delivery.isLocal(address),
    // A copy leaves with an SRS sender on the domain that forwarded it, unless its sender is
    // one of ours (then this server is in that domain's SPF record already) or null (a bounce).
    relaySender: (from, via) => (!from || !via || delivery.isLocal(from) ? from : srs.forward(from, domainOf(via))),
    signBounce: (domain, report) => dkim.sign(domain, report),
    // Sealed by the domain that forwarded it, when that domain has a key.
    seal: async (e, data) =>
      e.via && e.client
        ? arc.seal(data, {
            domain: domainOf(e.via),
            sender: e.from,
            client: e.client,
            id: e.id,
          })
        : null,
    deliverLocal: async (to, from, data, copyId) => {
      try {
        return (await delivery.deliver(to, from, new Message([data]), copyId)) ? 'delivered' : 'unknown';
      } catch (err) {
        if (err instanceof LoopError) return 'loop';
        if (err instanceof RefusedError) return { refused: err.code, reply: err.message };
        throw err;
      }
    },
    log,
  });
  await node.adoptLooseSpool(queue, log);
  await queue.load();
  return { delivery, queue, dkim };
}

/** Loads what sending needs right after ready, in the background (lazy-libs.ts says why). */
export function preloadSending(log: Logger): void {
  preloadOutgoing((err) =>
    log.error('nodemailer not loaded', { error: err.message, next: 'loaded again at the first send' }),
  );
}
