// The caches that make submission fast (issue 27's bench) are never stale: a DKIM key parsed once
// still gives way to a rotated one at the very next message (made by this daemon, or by another
// one sharing the mail root), each signature checked by dkimpy against the record published; a
// DNS answer from a real dnsmasq is kept for its TTL and asked again after it, a failure is never
// kept, and a flood of names stays bounded. And the send count written after the 250 is on disk
// once the stop ends.
import { spawn } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DkimKeys } from '../../src/smtp/dkim.js';
import { DnsTemporaryError, OutboundDns } from '../../src/smtp/dns.js';
import { SendLimit } from '../../src/smtp/send-limit.js';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { tempDir } from '../helpers/daemon.js';
import { dns, silentDns, startDns } from '../helpers/dns-server.js';

/** dkimpy's verdict on `data` with the TXT record `value` published at `name`. */
function dkimpy(data: Buffer, name: string, value: string): Promise<{ ok: boolean; selector: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [join(PACKAGE_ROOT, 'test/helpers/dkim_verify.py'), 'dkim', name, value]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
    p.stdin.end(data);
  });
}

const mail = (n: number) =>
  Buffer.from(`From: a@example.test\r\nTo: b@far.test\r\nSubject: ${n}\r\n\r\nbody ${n}\r\n`, 'latin1');
const selectorOf = (signed: Buffer) => /\bs=([a-z0-9-]+);/.exec(signed.toString('latin1'))?.[1];

describe('DKIM keys parsed once, rotated at once', () => {
  it('a key made with `domains dkim` signs the very next message; the old record no longer verifies it', async () => {
    const keys = new DkimKeys(join(tempDir(), 'dkim'));
    const first = await keys.create('example.test', 'one');
    // Several messages with one key: parsed once, each signature still valid.
    for (let n = 0; n < 3; n++) {
      const signed = await keys.sign('example.test', mail(n));
      expect(selectorOf(signed)).toBe('one');
      expect((await dkimpy(signed, first.name, first.value)).ok).toBe(true);
    }
    const second = await keys.create('example.test', 'two');
    const signed = await keys.sign('example.test', mail(9));
    expect(selectorOf(signed)).toBe('two');
    expect((await dkimpy(signed, second.name, second.value)).ok).toBe(true);
    // Signed with the new key, not the old one parsed before: the old key's record fails it.
    expect((await dkimpy(signed, `two._domainkey.example.test`, first.value)).ok).toBe(false);
  }, 60_000);

  it('a key another daemon made in the shared folder signs this daemon’s next message', async () => {
    const dir = join(tempDir(), 'dkim');
    const here = new DkimKeys(dir);
    const there = new DkimKeys(dir);
    const old = await here.create('example.test', 'old');
    expect(selectorOf(await here.sign('example.test', mail(1)))).toBe('old');
    const made = await there.create('example.test', 'new');
    // The folder's time may not move within its resolution: set it, as a later write would.
    utimesSync(join(dir, 'example.test'), new Date(), new Date(Date.now() + 5000));
    const signed = await here.sign('example.test', mail(2));
    expect(selectorOf(signed)).toBe('new');
    expect((await dkimpy(signed, made.name, made.value)).ok).toBe(true);
    expect((await dkimpy(signed, made.name, old.value)).ok).toBe(false);
  }, 60_000);

  it('a key file replaced in place by another key under the same selector signs with the new key', async () => {
    const dir = join(tempDir(), 'dkim');
    const keys = new DkimKeys(dir);
    const a = await keys.create('example.test', 'sel');
    expect((await dkimpy(await keys.sign('example.test', mail(1)), a.name, a.value)).ok).toBe(true);
    // An admin's own key put over ours (the cache is by the key's text, not its name).
    const otherDir = join(tempDir(), 'dkim');
    const b = await new DkimKeys(otherDir).create('example.test', 'sel');
    const file = join(dir, 'example.test', 'sel.pem');
    writeFileSync(file, readFileSync(join(otherDir, 'example.test', 'sel.pem')));
    utimesSync(join(dir, 'example.test'), new Date(), new Date(Date.now() + 10_000));
    const signed = await keys.sign('example.test', mail(2));
    expect((await dkimpy(signed, b.name, b.value)).ok).toBe(true);
    expect((await dkimpy(signed, a.name, a.value)).ok).toBe(false);
  }, 60_000);
});

describe('DNS answers kept for their TTL (a real dnsmasq)', () => {
  it('an address is kept for its TTL, asked again after it; an MX for at most 30 s', async () => {
    const server = await startDns([
      'local-ttl=60',
      dns.mx('far.test', 'mx1.far.test'),
      dns.a('mx1.far.test', '127.0.0.41'),
    ]);
    let now = 1_000_000;
    const resolver = new OutboundDns(server.address, 2000, () => now);
    try {
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      expect(await resolver.mx('far.test')).toEqual({ kind: 'mx', hosts: [{ name: 'mx1.far.test', preference: 10 }] });
      await server.restart(['local-ttl=60', dns.mx('far.test', 'mx2.far.test'), dns.a('mx1.far.test', '127.0.0.42')]);
      // Within the TTL: the kept answers, without asking.
      now += 20_000;
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      expect(await resolver.mx('far.test')).toMatchObject({ hosts: [{ name: 'mx1.far.test' }] });
      // Past 30 s the MX (whose TTL Node's resolver does not give) is asked again.
      now += 11_000;
      expect(await resolver.mx('far.test')).toMatchObject({ hosts: [{ name: 'mx2.far.test' }] });
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      // Past the address's 60 s TTL it is asked again.
      now += 30_000;
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.42']);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('a TTL of 0 is never kept: every lookup asks', async () => {
    const server = await startDns([dns.a('mx1.far.test', '127.0.0.41')]);
    const resolver = new OutboundDns(server.address, 2000, () => 5);
    try {
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
      await server.restart([dns.a('mx1.far.test', '127.0.0.43')]);
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.43']);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('a server that does not answer is a temporary failure every time, never kept', async () => {
    const silent = await silentDns();
    const resolver = new OutboundDns(silent.address, 200);
    try {
      await expect(resolver.mx('far.test')).rejects.toBeInstanceOf(DnsTemporaryError);
      await expect(resolver.mx('far.test')).rejects.toBeInstanceOf(DnsTemporaryError);
    } finally {
      silent.close();
    }
  }, 60_000);

  it('10,200 different names keep memory bounded and the newest answers right', async () => {
    const server = await startDns(['local-ttl=600', dns.a('mx1.far.test', '127.0.0.41')]);
    const resolver = new OutboundDns(server.address, 2000);
    try {
      // Unknown names under the zone: NXDOMAIN, kept 30 s each (a spammer's list of domains).
      for (let i = 0; i < 10_200; i += 1020)
        await Promise.all(Array.from({ length: 1020 }, (_, j) => resolver.txt(`n${i + j}.far.test`)));
      const kept = (resolver as unknown as { cache: { answers: Map<string, unknown> } }).cache.answers.size;
      expect(kept).toBeLessThanOrEqual(10_000);
      expect(await resolver.addresses('mx1.far.test')).toEqual(['127.0.0.41']);
    } finally {
      await server.stop();
    }
  }, 120_000);
});

describe('the send count, written after the 250', () => {
  it('200 counts kept at once, then a flush (a stop), leave all 200 on disk', async () => {
    const dir = join(tempDir(), 'sending');
    const limit = new SendLimit(dir, { count: 1000, windowMs: 3_600_000 });
    const failures: Error[] = [];
    for (let i = 0; i < 200; i++) limit.take('a@example.test')!.keep((e) => failures.push(e));
    await limit.flush();
    expect(failures).toEqual([]);
    const times = JSON.parse(readFileSync(join(dir, 'a%40example.test.json'), 'utf8')) as number[];
    expect(times).toHaveLength(200);
    // A new run reads all 200.
    const again = new SendLimit(dir, { count: 1000, windowMs: 3_600_000 });
    again.load((f, why) => failures.push(new Error(`${f}: ${why}`)));
    expect(again.count('a@example.test').sent).toBe(200);
  });
});
