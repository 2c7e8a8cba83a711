// The hostile tester's round 6 (the performance wave: issues 26, 27, 30, 31, 32): the caches,
// deferred writes, lazy loading and pieces it added, each pushed where correctness or security
// could give way. Real dnsmasq, the real daemon, real clients.
import { describe, expect, it } from 'vitest';
import { OutboundDns } from '../../src/smtp/dns.js';
import { dns, startDns } from '../helpers/dns-server.js';

describe('DNS answers kept (src/smtp/dns.ts)', () => {
  it('an address with a TTL of 2^31-1 s is not kept for 68 years: a changed record is seen within a day', async () => {
    const server = await startDns(['local-ttl=2147483647', dns.a('mx1.far.test', '127.0.0.41')]);
    let now = 1_000_000;
    const resolver = new OutboundDns(server.address, 2000, () => now);
    try {
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      // The host moved: its old address may be another's now.
      await server.restart(['local-ttl=2147483647', dns.a('mx1.far.test', '127.0.0.42')]);
      now += 24 * 3600_000 + 1000;
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.42']);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
