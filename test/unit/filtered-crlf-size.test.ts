// filteredCrlfSize (src/smtp/spam-filter.ts): the stored size of a message worked out from the
// count made as it arrived and its headers alone must be the size of the bytes stored, whatever
// the filter took out, with LF, CRLF and bare CR lines, in memory or only its start (spooled).
import { describe, expect, it } from 'vitest';
import { CrlfCount, crlfSize } from '../../src/maildir/crlf-size.js';
import { headerEnd } from '../../src/smtp/headers.js';
import { filteredCrlfSize, withoutVerdicts } from '../../src/smtp/spam-filter.js';

const ends = ['\r\n', '\n', '\r\r\n'];
let seed = 7;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};

function message(): Buffer {
  const fields = [
    'Subject: hi',
    'X-Spam: Yes',
    'X-Rspamd-Score: -9',
    'From: a@example.org',
    'X-Spam-Status: No,',
    '\tfolded on',
  ];
  const lines: string[] = [];
  for (let i = rand(8); i >= 0; i--) lines.push(fields[rand(fields.length)] + ends[rand(ends.length)]);
  lines.push(ends[rand(2)]);
  for (let i = rand(30); i >= 0; i--) lines.push(`${'b'.repeat(rand(90))}${ends[rand(ends.length)]}`);
  if (rand(3) === 0) lines.push('no final line end');
  return Buffer.from(lines.join(''));
}

describe('filteredCrlfSize', () => {
  it('is the CRLF size of the stored parts for 5,000 messages, whole or cut where a spool would start', () => {
    const received = Buffer.from('Received: from x\r\n\tby y;\r\n');
    for (let i = 0; i < 5000; i++) {
      const data = message();
      const count = new CrlfCount();
      count.add(data);
      const own = withoutVerdicts(data, () => true);
      const stored = crlfSize([received, own]);
      expect(filteredCrlfSize([received, own], data, count.total), data.toString('latin1')).toBe(stored);
      // Spooled: the parts hold a start with the whole header in it, the count covers everything.
      const h = headerEnd(data);
      if (h < 0) continue;
      const head = data.subarray(0, h + rand(data.length - h + 1));
      expect(filteredCrlfSize([received, withoutVerdicts(head, () => true)], head, count.total)).toBe(stored);
    }
  });
});
