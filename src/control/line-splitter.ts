// Splits a byte stream into newline-terminated lines, with a cap on a line's length so that a
// peer cannot make us buffer without bound.

export class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.length + piece.length > this.maxLine) {
        this.overflow();
        return;
      }
      const line = this.parts.length ? Buffer.concat([...this.parts, piece]) : piece;
      this.parts = [];
      this.length = 0;
      start = nl + 1;
      this.onLine(line.toString('utf8').replace(/\r$/, ''));
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    if (this.length + rest.length > this.maxLine) {
      this.overflow();
      return;
    }
    this.parts.push(rest);
    this.length += rest.length;
  }

  private overflow(): void {
    this.parts = [];
    this.length = 0;
    this.onOverflow();
  }
}
