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

/**
 * The whole encoding of one buffer, for small messages. Lines that already end in CRLF cost one
 * indexOf each and are sent uncopied; from the first line that does not (a bare LF, or a last
 * line without an end), the rest goes through `encodeText`: Maildirs moved in from other servers
 * have LF line ends throughout, and two Buffers per line cost more than the conversion itself.
 */
export function encodeMessage(data: Buffer): Buffer {
  const out: Buffer[] = [];
  const n = data.length;
  let start = 0;
  let line = 0;
  while (line < n) {
    const nl = data.indexOf(10, line);
    if (nl < 0 || nl === line || data[nl - 1] !== 13) {
      if (line > start) out.push(data.subarray(start, line));
      out.push(encodeText(data.subarray(line)));
      start = n;
      break;
    }
    if (data[line] === 0x2e) {
      if (line > start) out.push(data.subarray(start, line));
      out.push(DOT);
      start = line;
    }
    line = nl + 1;
  }
  if (start < n) out.push(data.subarray(start, n));
  return out.length === 1 ? out[0] : Buffer.concat(out);
}

/**
 * The same rules as `encodeChunk` for `data` that starts at a line start and ends the message,
 * done on a Latin-1 string (one character per byte, so any bytes come back unchanged): split at
 * LF, a CR before the LF dropped (the join puts it back), a leading dot doubled, joined with CRLF.
 */
function encodeText(data: Buffer): Buffer {
  const lines = data.toString('latin1').split('\n');
  const last = lines.length - 1;
  for (let k = 0; k < last; k++) {
    let l = lines[k];
    if (l.charCodeAt(l.length - 1) === 13) l = l.slice(0, -1);
    if (l.charCodeAt(0) === 0x2e) l = `.${l}`;
    lines[k] = l;
  }
  // Text after the last LF is a line without an end: it gets one. A lone CR at its end stays.
  const tail = lines[last];
  if (tail !== '') {
    if (tail.charCodeAt(0) === 0x2e) lines[last] = `.${tail}`;
    lines.push('');
  }
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
