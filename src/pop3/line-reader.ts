// Splits a POP3 client's bytes into command lines. A line longer than the limit is not buffered:
// the rest of it is dropped up to the next line end and reported once, so a 1 MB line without a
// newline costs nothing but the bytes read.

/** A command line as the client sent it, without its CRLF; the session decides how to read it. */
export type LineEvent = { line: Buffer } | { tooLong: true };

export class Pop3LineReader {
  private parts: Buffer[] = [];
  private length = 0;
  private discarding = false;

  constructor(
    private readonly maxLine: number,
    private readonly emit: (e: LineEvent) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.discarding) {
        if (nl >= 0) this.discarding = false;
      } else if (this.length + piece.length > this.maxLine + 1) {
        // +1 leaves room for the CR of a line that is exactly at the limit.
        this.parts = [];
        this.length = 0;
        this.emit({ tooLong: true });
        this.discarding = nl < 0;
      } else if (nl >= 0) {
        const line = this.parts.length ? Buffer.concat([...this.parts, piece]) : Buffer.from(piece);
        this.parts = [];
        this.length = 0;
        this.emit({ line: line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line });
      } else {
        this.parts.push(Buffer.from(piece));
        this.length += piece.length;
      }
      if (nl < 0) break;
      start = nl + 1;
    }
  }

  /** Drops whatever is buffered (after STLS, anything pipelined before the handshake). */
  reset(): void {
    this.parts = [];
    this.length = 0;
    this.discarding = false;
  }
}
