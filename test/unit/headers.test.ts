// The header helpers every message passes through (src/smtp/headers.ts, withoutVerdicts in
// spam-filter.ts) take shortcuts: headerSafe keeps printable ASCII as it is, traceInfo looks
// further only at lines that start with r or d, withoutVerdicts returns a message with none of
// its fields at once. Each is checked against the plain way it replaced (written out here) on
// random headers built from the pieces that matter: CR, LF, folding, case, Latin-1 and UTF-8
// bytes, the field names themselves at and away from the start of a line.
import { describe, expect, it } from 'vitest';
import { headerSafe, traceInfo } from '../../src/smtp/headers.js';
import { removeHeaders, withoutVerdicts } from '../../src/smtp/spam-filter.js';

const plainHeaderSafe = (value: string, max = 200) =>
  [...value.replace(/[\p{Cc}\p{Cf}\p{Z}\p{Cs}\p{Co}\p{Cn}]/gu, '?')].slice(0, max).join('');

function plainTraceInfo(header: string) {
  let received = 0;
  const deliveredTo: string[] = [];
  for (const line of header.split(/\r?\n/)) {
    if (/^received:/i.test(line)) received++;
    const m = /^delivered-to:\s*<?([^>\s]+)>?/i.exec(line);
    if (m) deliveredTo.push(m[1].toLowerCase());
  }
  return { received, deliveredTo };
}

/** A seeded generator, so a failure names the header that made it. */
function random(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    // The high bits: an LCG's low bits repeat in short cycles.
    return (x >>> 15) % n;
  };
}

const PIECES = [
  'Received: from a',
  'RECEIVED:by b',
  'received :x',
  ' Received: folded',
  'Delivered-To: <Box@Example.Test>',
  'delivered-to:x@y',
  'Delivered-To:',
  'DELIVERED-TO:\t<a@b>>',
  'X-Spam-Status: Yes',
  'x-spamd-result: 1',
  'X-Rspamd-Queue-Id: 1',
  'Authentication-Results: mx.example.test; spf=pass',
  'authentication-results: (c) other.example; dkim=pass',
  'Subject: x-spam in the middle',
  'From: a@b',
  '\tcontinued',
  ' ',
  'é',
  '\u00ff\u00b5',
  'ſ',
  'K',
  '\r',
  '\n',
  '\r\n',
  '\r\n',
  '\r\n',
  ':',
  '',
];

function header(r: (n: number) => number): string {
  let h = '';
  for (let i = r(12); i >= 0; i--) h += PIECES[r(PIECES.length)] + (r(3) ? '\r\n' : '');
  return h;
}

describe('the header helpers give what the plain way gave', () => {
  it('traceInfo on 20,000 random headers', () => {
    const r = random(7);
    for (let i = 0; i < 20_000; i++) {
      const h = header(r);
      expect(traceInfo(h), JSON.stringify(h)).toEqual(plainTraceInfo(h));
    }
  });

  it('headerSafe on printable ASCII, spaces, controls, UTF-8 and lengths around the limit', () => {
    const r = random(11);
    for (const v of ['a b', ' ', 'x\ty', 'mx.example.org', '[127.0.0.1]', 'x'.repeat(201), 'a\x7f', ''])
      expect(headerSafe(v), JSON.stringify(v)).toBe(plainHeaderSafe(v));
    const chars = ['a', 'Z', '0', '.', '-', '[', ']', '~', '!', ' ', '\t', '\x7f', '\x00', 'é', '€', '\u200b', '😀'];
    for (let i = 0; i < 20_000; i++) {
      let v = '';
      for (let n = r(210); n > 0; n--) v += chars[r(r(2) ? 9 : chars.length)];
      for (const max of [200, 5, 0]) expect(headerSafe(v, max), JSON.stringify(v)).toBe(plainHeaderSafe(v, max));
    }
  });

  it('withoutVerdicts on 20,000 random messages: the same bytes, and the same object when nothing goes', () => {
    const r = random(13);
    const ours = (id: string) => id === 'mx.example.test';
    for (let i = 0; i < 20_000; i++) {
      const data = Buffer.from(`${header(r)}\r\n\r\nbody X-Spam-Status: not a header\r\n`, r(2) ? 'latin1' : 'utf8');
      const got = withoutVerdicts(data, ours);
      const plain = removeHeaders(data, new Map(), (name, field) => {
        if (name.startsWith('x-spam') || name.startsWith('x-rspamd-')) return true;
        if (name !== 'authentication-results') return false;
        // The field alone: removed whole (nothing left) when its authserv-id is ours or unreadable.
        return withoutVerdicts(Buffer.from(field, 'latin1'), ours).length === 0;
      });
      expect(got.equals(plain), JSON.stringify(data.toString('latin1'))).toBe(true);
      if (plain === data) expect(got).toBe(data);
    }
  });
});
