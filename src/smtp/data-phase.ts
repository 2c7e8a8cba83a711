// smtp-server's DATA phase, found with Buffer.indexOf instead of a JavaScript loop over every
// byte. The library looks at each byte of a message for a line that starts with a dot: 2 ns a
// byte, about 40 us of a 20 KB message's 0.5 ms, and 50 ms of a 25 MB message's 120 (measured,
// the largest cost of either). Here one native search (memchr) finds each "\n." instead, and
// an escaped dot costs a copy, not a trip through setImmediate and a write of its own.
//
// It is the library's method with the library's rules, unchanged (test/unit/data-phase.test.ts
// feeds both the same messages cut at every place and compares what each lets through):
// - a line of one dot ends the message only after CRLF (`\r\n.\r\n`), or as the very first line;
// - a dot that starts a line and is followed by a dot is dropped (RFC 5321 4.5.2);
// - the last four bytes of a chunk wait for the next, so a terminator cut in two is still one;
// - a line that starts with a dot before any byte was passed on can be a terminator only then
//   (`_atDataStart`), which is what stops a client from ending DATA early by how it cuts its
//   packets and smuggling commands in.
// And continue() with the order of its two steps fixed (continueParsing, below): two whole
// transactions pipelined in one packet left the session hung.
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

const LF_DOT = Buffer.from('\n.');
const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

type Done = (err?: Error | null) => void;

/** SMTPStream's _feedDataStream, searching instead of stepping (see the top). */
function feedDataStream(this: SMTPStream, input: Buffer, done: Done): void {
  const dataStream = this._dataStream;
  let chunk = input;
  const held = this._lastBytes;
  if (held && held.length > 0) {
    chunk = Buffer.concat([held, chunk], held.length + chunk.length);
    this._lastBytes = false;
  }
  if (this._atDataStart && chunk.length >= 3 && chunk[0] === DOT && chunk[1] === CR && chunk[2] === LF) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  if (this._atDataStart && chunk.length >= 2 && chunk[0] === DOT && chunk[1] === DOT) {
    chunk = chunk.subarray(1);
    this._atDataStart = false;
  }
  const len = chunk.length;
  /** What is passed on, in order: the parts between escape dots. */
  const parts: Buffer[] = [];
  const pass = (part: Buffer) => {
    parts.push(part);
    this._countDataBytes(part.length);
  };
  const joined = () => (parts.length === 1 ? parts[0] : Buffer.concat(parts));
  // `from` is where the part being scanned starts; as in the library, a dot is looked at from
  // the part's third byte on (its "\n" at the second), and only with two bytes after it.
  let from = 0;
  for (let lf = chunk.indexOf(LF_DOT, 1); lf >= 0 && lf + 1 < len - 2; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const dot = lf + 1;
    if (chunk[dot - 2] === CR && chunk[dot + 1] === CR && chunk[dot + 2] === LF) {
      pass(chunk.subarray(from, dot));
      this._endDataMode(joined(), chunk.subarray(dot + 3), done);
      return;
    }
    if (chunk[dot + 1] === DOT) {
      pass(chunk.subarray(from, dot));
      from = dot + 1;
      // The kept dot starts the next part: its next "\n." is past it.
      lf = from;
    }
  }
  const keep = Math.min(4, len - from);
  this._lastBytes = chunk.subarray(len - keep);
  if (len - keep > from) pass(chunk.subarray(from, len - keep));
  if (!parts.length || !dataStream?.writable || dataStream.write(joined()) || dataStream.destroyed) {
    done();
    return;
  }
  // A stream the application destroys never drains, it only closes.
  const onDrain = () => {
    dataStream.removeListener('drain', onDrain);
    dataStream.removeListener('close', onDrain);
    done();
  };
  dataStream.once('drain', onDrain);
  dataStream.once('close', onDrain);
}

/**
 * SMTPStream's continue(), which lets the parser go on after a message's reply, with the
 * library's order fixed: it cleared `_continueCallback` after calling it, and the call may run a
 * whole second transaction that a client pipelined (RSET, MAIL, RCPT, DATA, the message, its
 * end) and set the continuation of that one, which the clearing then dropped: the commands after
 * the second message (NOOP, QUIT) were never read, and the session hung until its timeout.
 */
function continueParsing(this: SMTPStream): void {
  const next = this._continueCallback;
  if (typeof next !== 'function') {
    // The message has not ended yet: its end goes on at once (smtp-server's own rule).
    this._continueCallback = true;
    return;
  }
  this._continueCallback = false;
  next();
}

/** smtp-server's own method, for the test that compares the two. */
export const libraryFeedDataStream = SMTPStream.prototype._feedDataStream;

let installed = false;

/** Makes every SMTPStream (intake, submission, after STARTTLS too) use feedDataStream and continueParsing. */
export function searchDataPhase(): void {
  if (installed) return;
  installed = true;
  SMTPStream.prototype._feedDataStream = feedDataStream;
  SMTPStream.prototype.continue = continueParsing;
}
