// The size a message has with CRLF line ends (as POP3 reports it and quotas count it): counted a
// chunk at a time as DATA arrives (CrlfCount), so nothing needs the message whole, or of parts
// at once (crlfSize).

/** Counts the CRLF size of bytes given a chunk at a time (as crlfSize() does for them joined). */
export class CrlfCount {
  private size = 0;
  private last = -1;

  add(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.size += chunk.length;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1))
      if ((i > 0 ? chunk[i - 1] : this.last) !== 13) this.size++;
    this.last = chunk[chunk.length - 1];
  }

  get total(): number {
    return this.size + (this.last !== -1 && this.last !== 10 ? 2 : 0);
  }
}

/**
 * The number of bytes `data` has once every line ends in CRLF and the last line has an end.
 * Given as parts, they count as if joined.
 */
export function crlfSize(data: Buffer | readonly Buffer[]): number {
  const count = new CrlfCount();
  for (const part of Buffer.isBuffer(data) ? [data] : data) count.add(part);
  return count.total;
}
