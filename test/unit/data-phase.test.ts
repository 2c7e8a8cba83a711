// The DATA phase that searches (src/smtp/data-phase.ts) beside smtp-server's own: both parsers
// are fed the same bytes, cut in the same places (every place, for short inputs; at random, for
// thousands of messages made of the lines that matter: dots, escaped dots, terminators without
// their CR, bare LFs, commands after the end), and must pass on the same message, end it at the
// same byte and read the same commands after it. Then what the searching one costs on the
// inputs an attacker would pick.
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { describe, expect, it } from 'vitest';
import { libraryFeedDataStream, searchDataPhase } from '../../src/smtp/data-phase.js';

const libraryContinue = SMTPStream.prototype.continue;
searchDataPhase();
const searching = SMTPStream.prototype._feedDataStream;

interface Outcome {
  message: string;
  ended: boolean;
  after: string[];
}

/** Feeds `chunks` to a parser in DATA mode that uses `feed`; what it passed on and read after. */
async function parse(feed: typeof searching, chunks: Buffer[]): Promise<Outcome> {
  const parser = new SMTPStream();
  parser._feedDataStream = feed;
  const got: Buffer[] = [];
  const after: string[] = [];
  let ended = false;
  let inData = false;
  parser.oncommand = (line, next) => {
    const text = line.toString('latin1');
    if (text === 'DATA' && !inData) {
      inData = true;
      const stream = parser.startDataMode();
      stream.on('data', (d: Buffer) => got.push(d));
      stream.on('end', () => {
        ended = true;
        parser.continue();
      });
    } else after.push(text);
    next?.();
  };
  for (const c of [Buffer.from('DATA\r\n'), ...chunks])
    await new Promise<void>((resolve, reject) => parser.write(c, (err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve) => parser.end(() => resolve()));
  // The data stream's end, and the commands read after it, come some turns later.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return { message: Buffer.concat(got).toString('latin1'), ended, after };
}

/** `bytes` cut at the given places. */
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

async function same(bytes: Buffer, at: number[]): Promise<Outcome> {
  const chunks = cut(bytes, at);
  const ours = await parse(searching, chunks);
  const theirs = await parse(libraryFeedDataStream, chunks);
  expect(ours, `${JSON.stringify(bytes.toString('latin1'))} cut at ${at.join(',')}`).toEqual(theirs);
  return ours;
}

/** A small seeded generator, so a failure can be run again. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const LINES = ['', '.', '..', '...', '.x', '..x', 'abc', 'a.b', '. ', 'QUIT', 'x'.repeat(70)];
const ENDS = ['\r\n', '\r\n', '\r\n', '\n', '\r', ''];

function message(next: () => number): Buffer {
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
  let text = '';
  for (let n = Math.floor(next() * 12); n > 0; n--) text += pick(LINES) + pick(ENDS);
  const r = next();
  if (r < 0.6) text += '\r\n.\r\n';
  else if (r < 0.7) text += '.\r\n';
  else if (r < 0.8) text += '\n.\r\n';
  if (next() < 0.5) text += 'RSET\r\nMAIL FROM:<a@b>\r\n';
  return Buffer.from(text, 'latin1');
}

describe('the DATA phase that searches', () => {
  it('passes on what smtp-server passes on, for every input made of the lines that matter, cut anywhere', async () => {
    const next = random(30);
    for (let m = 0; m < 3000; m++) {
      const bytes = message(next);
      const at = Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * (bytes.length + 1)));
      await same(bytes, at);
    }
  });

  it('is the same cut at every single place and into single bytes, around terminators and escapes', async () => {
    const samples = [
      '.\r\nQUIT\r\n',
      '..\r\n.\r\nQUIT\r\n',
      'a\r\n..b\r\n...\r\n.\r\nNOOP\r\n',
      '\r\n.\r\nNOOP\r\n',
      'a\n.\r\nb\r\n.\r\nNOOP\r\n',
      'a\r\n.\nb\r\n.\r\n',
      '..\r\n..\r\n..\r\n.\r\n',
      'x\r\n.\r',
      '.',
      '..',
    ];
    for (const s of samples) {
      const bytes = Buffer.from(s, 'latin1');
      for (let p = 0; p <= bytes.length; p++) await same(bytes, [p]);
      await same(
        bytes,
        Array.from({ length: bytes.length }, (_, i) => i),
      );
    }
  });

  it('undoes the escape dots of a real message and ends at its terminator', async () => {
    const got = await same(Buffer.from('Subject: x\r\n\r\n..hidden\r\n.\r\nRSET\r\n'), []);
    expect(got).toEqual({ message: 'Subject: x\r\n\r\n.hidden\r\n', ended: true, after: ['RSET'] });
  });

  it('does not end at a dot line after a bare LF, nor let a client smuggle commands by how it cuts', async () => {
    // "\n.\r\n" is not the end (RFC 5321 4.1.1.4: CRLF . CRLF); the commands inside are message.
    const bytes = Buffer.from('a\n.\r\nRCPT TO:<x@y>\r\n\r\n.\r\nQUIT\r\n', 'latin1');
    for (let p = 0; p <= bytes.length; p++) {
      const got = await same(bytes, [p]);
      expect(got.after).toEqual(['QUIT']);
      expect(got.message).toBe('a\n.\r\nRCPT TO:<x@y>\r\n\r\n');
    }
  });

  it('takes 800 KB of escaped dot lines whole (the library makes a turn of the event loop for each)', async () => {
    const lines = 200_000;
    const bytes = Buffer.from(`${'..\r\n'.repeat(lines)}.\r\n`, 'latin1');
    const got = await parse(searching, cut(bytes, [65536, 131072, 400000]));
    expect(got.message).toBe('.\r\n'.repeat(lines));
    expect(got.ended).toBe(true);
  });

  it('reads the commands after two whole transactions pipelined in one packet (the library dropped them)', async () => {
    /** The commands a parser reads from `input` in one write, each DATA's message ended as smtp-server does. */
    const commands = async (cont: typeof libraryContinue) => {
      const parser = new SMTPStream();
      parser.continue = cont;
      const seen: string[] = [];
      parser.oncommand = (line, next) => {
        const text = line.toString('latin1');
        seen.push(text);
        if (text === 'DATA') {
          const stream = parser.startDataMode();
          stream.resume();
          // As smtp-server's DATA handler: the reply (here, nothing to store) once the stream ends.
          stream.on('end', () => parser.continue());
        }
        next?.();
      };
      const input =
        'MAIL FROM:<a@b>\r\nDATA\r\none\r\n.\r\nRSET\r\nMAIL FROM:<a@b>\r\nDATA\r\ntwo\r\n.\r\nNOOP\r\nQUIT\r\n';
      parser.write(Buffer.from(input));
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
      return seen;
    };
    const all = ['MAIL FROM:<a@b>', 'DATA', 'RSET', 'MAIL FROM:<a@b>', 'DATA', 'NOOP', 'QUIT'];
    expect(await commands(SMTPStream.prototype.continue)).toEqual(all);
    expect(await commands(libraryContinue)).toEqual(all.slice(0, 5));
  });
});
