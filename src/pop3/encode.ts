// Turns a stored message into POP3's multi-line form: CRLF line ends, dot-stuffing, a final line
// end if the message lacks one. Works on chunks, so a 5 MB message streams without a copy.

export interface EncodeState {
  atLineStart: boolean;
  lastWasCR: boolean;
}

export function newEncodeState(): EncodeState {
  return { atLineStart: true, lastWasCR: false };
}

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');

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

/** The whole encoding of one buffer, for small messages. */
export function encodeMessage(data: Buffer): Buffer {
  const out: Buffer[] = [];
  const state = newEncodeState();
  encodeChunk(data, state, out);
  finish(state, out);
  return out.length === 1 ? out[0] : Buffer.concat(out);
}
