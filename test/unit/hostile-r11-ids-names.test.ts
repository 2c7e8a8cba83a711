// Round 11 (hostile): random-id's pool (lengths across refills, no repeats, no visible pattern)
// and asciiDomain's fast path against the URL parser it skips, on domains the builder's
// exhaustive check (up to 6 characters) does not reach: long labels, hyphens, digits, x/n.
import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asciiDomain } from '../../src/model/names.js';
import { randomHex } from '../../src/support/random-id.js';

describe('hostile r11: random ids from a pool', () => {
  it('gives 2n hex digits for every size, across many refills, and never the same id twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const n = [5, 6, 8, 1, 4095, 3][i % 6];
      const h = randomHex(n);
      if (h.length !== 2 * n || !/^[0-9a-f]*$/.test(h)) expect(h.length, h).toBe(-1);
      if (n >= 5) {
        if (seen.has(h)) expect(h, 'a repeated id').toBe('');
        seen.add(h);
      }
    }
    expect(randomHex(4096).length).toBe(8192);
  });

  it('ids in a row are independent: no byte value is over-represented, consecutive ids differ in about half their bits', () => {
    const counts = new Array(256).fill(0);
    let prev = Buffer.from(randomHex(6), 'hex');
    let diffBits = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const b = Buffer.from(randomHex(6), 'hex');
      for (let j = 0; j < 6; j++) {
        counts[b[j]]++;
        let x = b[j] ^ prev[j];
        while (x) {
          diffBits += x & 1;
          x >>= 1;
        }
      }
      prev = b;
    }
    const mean = (n * 6) / 256;
    for (const c of counts) expect(Math.abs(c - mean)).toBeLessThan(mean * 0.15);
    expect(diffBits / (n * 48)).toBeGreaterThan(0.49);
    expect(diffBits / (n * 48)).toBeLessThan(0.51);
  });
});

describe('hostile r11: asciiDomain fast path', () => {
  const URL_ONLY = /[\x00-\x20\x7f%]/;
  const viaParser = (input: string) => {
    const t = input.trim().replace(/\.$/, '');
    return (t && !URL_ONLY.test(t) && domainToASCII(t)) || t.toLowerCase();
  };

  it('answers as before on edge domains', () => {
    const cases = [
      `${'a'.repeat(64)}.test`,
      'a'.repeat(300),
      `${`${'a'.repeat(63)}.`.repeat(5)}com`,
      '-a.b',
      'a-.b',
      'ab--cd.test',
      'a.b-',
      '0x7f.a',
      '127.0.0.1a',
      '1.2.3.a',
      'a.0x',
      'a.b0x',
      'x.n--a',
      'a.xn-',
      'a.xnx--a',
      'XN--bcher-kva.test',
      'xn--bcher-kva.test',
      'Example.TEST',
      'example.test.',
      'a.127.1',
      'a.0x7f',
      'b\u00fccher.test',
      'ss.de',
      'a'.repeat(100_000),
    ];
    for (const c of cases) expect(asciiDomain(c), JSON.stringify(c.slice(0, 60))).toBe(viaParser(c));
  });

  it('answers as before on 200,000 random strings of a b 0 9 - x n .', () => {
    let s = 7;
    const r = () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    const alpha = 'ab09-xn.';
    for (let i = 0; i < 200_000; i++) {
      let t = '';
      for (let n = 1 + Math.floor(r() * 14); n > 0; n--) t += alpha[Math.floor(r() * alpha.length)];
      if (asciiDomain(t) !== viaParser(t)) expect(asciiDomain(t), JSON.stringify(t)).toBe(viaParser(t));
    }
  });
});
