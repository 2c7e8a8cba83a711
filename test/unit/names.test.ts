import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/model/errors.js';
import {
  asciiDomain,
  checkPassword,
  nameProblem,
  normalizeDomain,
  parseDestinations,
  parseLocalAddress,
} from '../../src/model/names.js';

const hosted = ['example.test'];

describe('account and forward names', () => {
  it.each([
    ['sales', 'sales'],
    ['Sales', 'sales'],
    ['  john.doe ', 'john.doe'],
    ['a', 'a'],
    ['a_b-c.d9', 'a_b-c.d9'],
    ['x'.repeat(64), 'x'.repeat(64)],
    ['bob@example.test', 'bob'],
    ['BOB@EXAMPLE.TEST', 'bob'],
  ])('accepts %j as %j', (input, name) => {
    expect(parseLocalAddress(input, hosted)).toEqual({ name, domain: 'example.test' });
  });

  it.each([
    ['../etc', /letters a-z/],
    ['a..b', /"\.\."/],
    ['-x', /start and end/],
    ['x-', /start and end/],
    ['.x', /start and end/],
    ['x'.repeat(65), /65 characters/],
    ['', /empty/],
    ['jürgen', /letters a-z/],
    ['a b', /letters a-z/],
    ['a/b', /letters a-z/],
    ['a\u0000b', /letters a-z/],
    ['bob@otherdomain.com', /not a domain hosted here.*without the @otherdomain.com/],
    ['@example.test', /empty/],
    // Letters that lowercase into ASCII must not pass as the ASCII name they resemble.
    ['\u212Aelvin', /letters a-z/],
    ['\u0130nfo', /letters a-z/],
    ['ſales', /letters a-z/],
  ])('refuses %j with a clear reason', (input, reason) => {
    expect(() => parseLocalAddress(input, hosted)).toThrow(InputError);
    expect(() => parseLocalAddress(input, hosted)).toThrow(reason);
  });

  it('needs a domain when more than one is hosted', () => {
    expect(() => parseLocalAddress('bob', ['a.test', 'b.test'])).toThrow(/more than one domain/);
    expect(parseLocalAddress('bob', ['a.test', 'b.test'], 'b.test')).toEqual({ name: 'bob', domain: 'b.test' });
    expect(parseLocalAddress('bob@a.test', ['a.test', 'b.test'])).toEqual({ name: 'bob', domain: 'a.test' });
  });

  it('error messages are one line even for hostile input', () => {
    try {
      parseLocalAddress('evil\nname\r\u001b[2J', hosted);
    } catch (err) {
      expect((err as Error).message).not.toMatch(/[\n\r\u001b]/);
    }
    expect(nameProblem('ok')).toBeNull();
  });
});

describe('domains', () => {
  it('lowercases and validates', () => {
    expect(normalizeDomain('Example.TEST')).toBe('example.test');
    expect(normalizeDomain('mail.example.com.')).toBe('mail.example.com');
    for (const bad of ['localhost', 'exa mple.com', '-a.com', 'a..com', `${'a'.repeat(64)}.com`, 'a.123', '']) {
      expect(() => normalizeDomain(bad), bad).toThrow(InputError);
    }
  });
});

describe('passwords', () => {
  it('accepts 8 to 128 characters that are not the name', () => {
    expect(checkPassword('secret123', 'bob')).toBe('secret123');
    expect(checkPassword('x'.repeat(128), 'bob')).toHaveLength(128);
  });
  it.each([
    ['short', /too short/],
    ['x'.repeat(129), /too long/],
    ['salesman', /may not be the account name/],
    ['secret123\n', /line breaks/],
    ['secret\u0085123', /line breaks/],
    ['secret\u2028123', /line breaks/],
    ['secret\ud800123', /line breaks/],
  ])('refuses %j', (pw, reason) => {
    expect(() => checkPassword(pw, pw === 'salesman' ? 'salesman' : 'bob')).toThrow(reason);
  });
  it('counts characters, not UTF-16 units, and stores the composed form', () => {
    expect(checkPassword('🔑'.repeat(8), 'bob')).toBe('🔑'.repeat(8));
    expect(checkPassword('é'.repeat(128), 'bob')).toHaveLength(128);
    expect(checkPassword('pa\u0308sswort', 'bob')).toBe('pässwort');
  });
  it('refuses a missing password', () => {
    expect(() => checkPassword(undefined, 'bob')).toThrow(/required/);
  });
});

describe('forward destinations', () => {
  it('accepts 1 to 20 valid addresses, lowercased and deduplicated', () => {
    expect(parseDestinations(['A@Example.org', 'a@example.org', 'b@x.io'], 'f@example.test')).toEqual([
      'a@example.org',
      'b@x.io',
    ]);
  });
  it('refuses bad lists', () => {
    expect(() => parseDestinations([], 'f@example.test')).toThrow(/at least one/);
    expect(() =>
      parseDestinations(
        Array.from({ length: 21 }, (_, i) => `u${i}@x.io`),
        'f@example.test',
      ),
    ).toThrow(/at most 20/);
    expect(() => parseDestinations(['f@example.test'], 'f@example.test')).toThrow(/itself/);
    for (const bad of ['nobody', '@x.io', 'a@', 'a@localhost', 'a b@x.io', 'a..b@x.io', 'a@x..io', '\u212A@x.io']) {
      expect(() => parseDestinations([bad], 'f@example.test'), bad).toThrow(/not a valid mail address/);
    }
  });
});

describe('asciiDomain', () => {
  it('gives what the URL parser gives for every short domain of ASCII letters, digits, hyphens and dots', () => {
    // The quick path (a plain domain comes back as it is) against the parser it skips.
    const alphabet = ['a', 'z', '0', '7', '-', '.', 'x'];
    const byParser = (d: string) => {
      const t = d.trim().replace(/\.$/, '');
      return (t && domainToASCII(t)) || t.toLowerCase();
    };
    let n = 0;
    const walk = (prefix: string) => {
      if (prefix.length) {
        expect(asciiDomain(prefix), prefix).toBe(byParser(prefix));
        n++;
      }
      if (prefix.length < 6) for (const c of alphabet) walk(prefix + c);
    };
    walk('');
    for (const d of [
      '127.1',
      'a.0x7f',
      'example.0x',
      'xn--bcher-kva.test',
      'xn--zz.test',
      'b\u00fccher.test',
      '1.2.3.4',
    ])
      expect(asciiDomain(d), d).toBe(byParser(d));
    expect(n).toBeGreaterThan(100_000);
  });
});
