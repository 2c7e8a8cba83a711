// Turns a stored message into POP3's multi-line form: CRLF line ends, dot-stuffing, a final line
// end if the message lacks one. A large message is encoded chunk by chunk as it streams; a small
// one read whole becomes its whole reply in one Buffer.

export interface EncodeState {
  atLineStart: boolean;
  lastWasCR: boolean;
}

export function newEncodeState(): EncodeState {
  return { atLineStart: true, lastWasCR: false };
}

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');

/** Encodes one chunk; `state` carries line position across chunks. */
export function encodeChunk(chunk: Buffer, state: EncodeState, out: Buffer[]): void {
  let start = 0;
  let i = 0;
  const n = chunk.length;
  while (i < n) {
    if (state.atLineStart && chunk[i] === 0x2e) {
      if (i > start) out.push(chunk.subarray(start, i));
      out.push(DOT);
      start = i;
    }
    const nl = chunk.indexOf(10, i);
    if (nl < 0) {
      state.atLineStart = false;
      state.lastWasCR = chunk[n - 1] === 13;
      break;
    }
    const hasCR = nl > 0 ? chunk[nl - 1] === 13 : state.lastWasCR;
    if (!hasCR) {
      if (nl > start) out.push(chunk.subarray(start, nl));
      out.push(CRLF);
      start = nl + 1;
    }
    state.atLineStart = true;
    state.lastWasCR = false;
    i = nl + 1;
  }
  if (start < n) out.push(chunk.subarray(start, n));
}

/** Ends a message: a line end if it did not end with one. The caller sends `.\r\n` after. */
export function finish(state: EncodeState, out: Buffer[]): void {
  if (!state.atLineStart) out.push(CRLF);
}

/** Where `encodeReply` inserts a byte: `position * 2 + INSERT_CR` or `position * 2 + INSERT_DOT`. */
const INSERT_DOT = 0;
const INSERT_CR = 1;
/** Insertion points of one message, reused (a message with more gets a list of its own). */
const scratch = new Int32Array(8192);

/**
 * Runs shorter than this are copied byte by byte: Buffer.copy of a range makes a typed-array view
 * per call (measured: a daemon sending LF files, a line per copy, spent twice Dovecot's CPU on it).
 */
const COPY_RUN = 1024;

/** Copies data[from, to) into `out` at `j`; returns the offset after it. */
function copyRun(data: Buffer, from: number, to: number, out: Buffer, j: number): number {
  if (to - from >= COPY_RUN) return j + data.copy(out, j, from, to);
  for (let i = from; i < to; i++) out[j++] = data[i];
  return j;
}

/**
 * The reply for a message read whole: `head` (the status line with its CRLF), the message in
 * POP3's form, and the final `.\r\n`. The same rules as `encodeChunk`: a CR before every LF
 * without one, a dot before a line's leading dot, CRLF after a last line without an end. One
 * pass finds where bytes go in (one indexOf per line, no per-line string or Buffer). A message
 * already in that form (a file vmail wrote: CRLF, no dotted line) comes back as three parts
 * with its bytes uncopied; any other as one Buffer, copied once run by run between insertions.
 */
export function encodeReply(head: string, data: Buffer): Buffer[] {
  const n = data.length;
  let inserts = scratch;
  let count = 0;
  const add = (at: number, kind: number) => {
    if (count === inserts.length) {
      const more = new Int32Array(inserts.length * 2);
      more.set(inserts);
      inserts = more;
    }
    inserts[count++] = at * 2 + kind;
  };
  let line = 0;
  let ended = true;
  while (line < n) {
    if (data[line] === 0x2e) add(line, INSERT_DOT);
    const nl = data.indexOf(10, line);
    if (nl < 0) {
      ended = false;
      break;
    }
    if (nl === 0 || data[nl - 1] !== 13) add(nl, INSERT_CR);
    line = nl + 1;
  }
  if (count === 0 && ended) return [Buffer.from(head, 'latin1'), data, END];
  const out = Buffer.allocUnsafe(head.length + n + count + (ended ? 0 : 2) + 3);
  let j = out.write(head, 0, 'latin1');
  let from = 0;
  for (let k = 0; k < count; k++) {
    const at = inserts[k] >> 1;
    j = copyRun(data, from, at, out, j);
    out[j++] = (inserts[k] & 1) === INSERT_CR ? 13 : 0x2e;
    from = at;
  }
  j = copyRun(data, from, n, out, j);
  // A last line without an end gets one (a lone CR at its end stays, before it).
  if (!ended) {
    out[j++] = 13;
    out[j++] = 10;
  }
  out[j++] = 0x2e;
  out[j++] = 13;
  out[j] = 10;
  return [out];
}
