// Round 11 (hostile): the searching DATA phase (src/smtp/data-phase.ts) against smtp-server's own
// _feedDataStream, on inputs the builder's generator does not make: any mix of the bytes that
// matter ('.', CR, LF, a letter) at any length, cut anywhere (also into single bytes), with a
// data stream read at once and one read slowly (backpressure); and the smuggling rules checked
// on their own, not only "the same as the library".
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { describe, expect, it } from 'vitest';
import { libraryFeedDataStream, searchDataPhase } from '../../src/smtp/data-phase.js';

searchDataPhase();
const searching = SMTPStream.prototype._feedDataStream;

interface Outcome {
  message: string;
  ended: boolean;
  after: string[];
  bytes: number;
}

async function parse(feed: typeof searching, chunks: Buffer[], slow = false): Promise<Outcome> {
  const parser = new SMTPStream();
  parser._feedDataStream = feed;
  const got: Buffer[] = [];
  const after: string[] = [];
  let ended = false;
  let inData = false;
  let bytes = -1;
  parser.oncommand = (line, next) => {
    const text = line.toString('latin1');
    if (text === 'DATA' && !inData) {
      inData = true;
      const stream = parser.startDataMode() as any;
      if (slow) {
        // A reader that takes one small piece a turn: writes see backpressure.
        const pull = () => {
          let d: Buffer | null;
          // biome-ignore lint/suspicious/noAssignInExpressions: loop read
          if ((d = stream.read(1)) !== null) got.push(d);
          if (!ended) setImmediate(pull);
        };
        stream.on('end', () => {
          ended = true;
          bytes = stream.byteLength;
          parser.continue();
        });
        setImmediate(pull);
      } else {
        stream.on('data', (d: Buffer) => got.push(d));
        stream.on('end', () => {
          ended = true;
          bytes = stream.byteLength;
          parser.continue();
        });
      }
    } else after.push(text);
    next?.();
  };
  for (const c of [Buffer.from('DATA\r\n'), ...chunks])
    await new Promise<void>((resolve, reject) => parser.write(c, (err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve) => parser.end(() => resolve()));
  for (let i = 0; i < 50 && (slow ? !ended && inData : false); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r));
  return { message: Buffer.concat(got).toString('latin1'), ended, after, bytes };
}

function cut(bytes: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...at].sort((a, b) => a - b))
    if (p > from) {
      out.push(bytes.subarray(from, p));
      from = p;
    }
  if (from < bytes.length) out.push(bytes.subarray(from));
  return out;
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const label = (b: Buffer, at: number[]) => `${JSON.stringify(b.toString('latin1'))} cut at ${at.join(',')}`;

describe('hostile r11: searching DATA phase vs smtp-server', () => {
  it('equals the library on random strings of . CR LF x, cut at random places (fast reader)', async () => {
    const next = random(1111);
    const alphabet = ['.', '.', '.', '\r', '\n', '\r\n', 'x', '\r\n.', '\n.', '..'];
    for (let m = 0; m < 4000; m++) {
      let s = '';
      for (let n = Math.floor(next() * 24); n > 0; n--) s += alphabet[Math.floor(next() * alphabet.length)];
      if (next() < 0.5) s += '\r\n.\r\nNOOP\r\n';
      const bytes = Buffer.from(s, 'latin1');
      const at = Array.from({ length: Math.floor(next() * 8) }, () => Math.floor(next() * (bytes.length + 1)));
      const chunks = cut(bytes, at);
      const ours = await parse(searching, chunks);
      const theirs = await parse(libraryFeedDataStream, chunks);
      expect(ours, label(bytes, at)).toEqual(theirs);
    }
  }, 120_000);

  it('equals the library on every short string of {., CR, LF} up to 7 bytes + terminator, in single bytes and whole', async () => {
    const sym = ['.', '\r', '\n'];
    for (let len = 0; len <= 7; len++) {
      for (let k = 0; k < 3 ** len; k++) {
        let s = '';
        for (let j = 0, v = k; j < len; j++, v = Math.floor(v / 3)) s += sym[v % 3];
        const bytes = Buffer.from(`${s}\r\n.\r\nQUIT\r\n`, 'latin1');
        for (const at of [[], Array.from({ length: bytes.length }, (_, i) => i), [2], [3], [len], [len + 1]]) {
          const chunks = cut(bytes, at);
          const ours = await parse(searching, chunks);
          const theirs = await parse(libraryFeedDataStream, chunks);
          expect(ours, label(bytes, at)).toEqual(theirs);
        }
      }
    }
  }, 120_000);

  it('equals the library with a slow reader (backpressure), escapes spread over big chunks', async () => {
    const next = random(77);
    for (let m = 0; m < 60; m++) {
      let s = '';
      for (let n = 200 + Math.floor(next() * 400); n > 0; n--)
        s += ['..\r\n', 'ab\r\n', '...x\r\n', '\n.\n', '.\r'][Math.floor(next() * 5)];
      s += '\r\n.\r\nRSET\r\n';
      const bytes = Buffer.from(s, 'latin1');
      const at = Array.from({ length: 3 }, () => Math.floor(next() * (bytes.length + 1)));
      const chunks = cut(bytes, at);
      const ours = await parse(searching, chunks, true);
      const theirs = await parse(libraryFeedDataStream, chunks, true);
      expect(ours.ended, label(bytes, at)).toBe(true);
      expect(ours, label(bytes, at)).toEqual(theirs);
    }
  }, 120_000);

  it('never ends DATA on a false terminator, however cut (smuggling)', async () => {
    for (const fake of ['\n.\r\n', '\r\n.\n', '\r.\r\n', '\n.\n', '\r\n.\r', '\r\n\x00.\r\n', '\r\n .\r\n']) {
      const body = `Subject: s\r\n\r\nhello${fake}MAIL FROM:<evil@x>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nsmuggled\r\n`;
      const bytes = Buffer.from(`${body}\r\n.\r\nQUIT\r\n`, 'latin1');
      for (let p = 0; p <= bytes.length; p++)
        for (const at of [[p], [p, p + 1], [p, p + 2, p + 3]]) {
          const got = await parse(searching, cut(bytes, at));
          expect(got.after, `${JSON.stringify(fake)} cut at ${at}`).toEqual(['QUIT']);
          expect(got.message, `${JSON.stringify(fake)} cut at ${at}`).toBe(`${body}\r\n`);
        }
    }
  }, 120_000);
});
