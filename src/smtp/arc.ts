// ARC (RFC 8617) for forwarded copies: a copy that leaves through the relay is sealed with the
// forwarding domain's DKIM key, so the next hop can trust the authentication results this
// server saw (SPF, DKIM, DMARC of the original sender) even though forwarding broke SPF. The
// checks and the seal are mailauth's (MIT); its DNS lookups go to the system's resolver, or
// to the --resolver the admin names, with a bound, and never hold up the message: a copy that
// cannot be sealed goes out unsealed, and the log says why.
import { Resolver } from 'node:dns/promises';
import type { Logger } from '../support/log.js';
import type { DkimKeys } from './dkim.js';
import { loadAuthenticate } from './mailauth-keys.js';

export interface SealRequest {
  /** The hosted domain that forwards it: its DKIM key seals. */
  domain: string;
  sender: string;
  client: { ip: string; helo: string };
  id: string;
}

export class ArcSealer {
  private readonly resolver = new Resolver({ timeout: 3000, tries: 2 });

  constructor(
    private readonly keys: DkimKeys,
    /** This server's name: the authserv-id of the results it seals. */
    private readonly mta: string,
    private readonly log: Logger,
    resolver: string | null = null,
  ) {
    if (resolver) this.resolver.setServers([resolver]);
  }

  /** The ARC set (and the results it seals) to put above `data`, or null when it cannot be made. */
  async seal(data: Buffer, r: SealRequest): Promise<Buffer | null> {
    const key = this.keys.signingKey(r.domain);
    if (!key) return null;
    try {
      // Loaded when first needed: mailauth takes a quarter of a second to load, at every start.
      const authenticate = await loadAuthenticate();
      const result = await authenticate(data, {
        ip: r.client.ip,
        helo: r.client.helo,
        sender: r.sender,
        mta: this.mta,
        disableBimi: true,
        resolver: (name: string, type: string) => this.resolver.resolve(name, type) as Promise<string[][]>,
        seal: { signingDomain: r.domain, selector: key.selector, privateKey: key.privateKey },
      });
      if (!/^ARC-Seal:/im.test(result.headers)) {
        const why = (result.arc as { sealErrors?: unknown } | undefined)?.sealErrors;
        this.log.warning('arc not sealed', { id: r.id, why: JSON.stringify(why ?? 'no seal made') });
        return null;
      }
      return Buffer.from(result.headers.replace(/\r?\n/g, '\r\n'));
    } catch (err) {
      this.log.warning('arc not sealed', { id: r.id, error: (err as Error).message });
      return null;
    }
  }
}
