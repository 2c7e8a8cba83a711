// The size a message has with CRLF line ends (as POP3 reports it and quotas count it): counted a
// chunk at a time as DATA arrives (CrlfCount), so nothing needs the message whole, or of parts
// at once (crlfSize); and a stored message's from that count (filteredCrlfSize).

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

/**
 * The CRLF size of a message stored as `parts`: lines this server added (each ending in a line
 * end), then `whole`'s bytes as the filter left them (withoutVerdicts and rspamd's removals take
 * out whole header lines). `counted` is the CRLF size of everything the client sent, of which
 * `whole` is all or the start: the part the filter left is counted from it, and the message is
 * not read through again for its size. When rspamd removed nothing the only scan is of the
 * added lines; when it did, of the header part it changed and of what that was.
 */
export function filteredCrlfSize(parts: readonly Buffer[], whole: Buffer, counted: number): number {
  const own = parts[parts.length - 1];
  const added = parts.slice(0, -1);
  // Lines this server wrote, so a line end ends each: a part that did not would be a bug here.
  if (added.some((p) => p.length > 0 && p[p.length - 1] !== 0x0a))
    throw new Error('an added header part has no line end');
  const changed = own === whole ? 0 : crlfSize(own) - crlfSize(whole);
  return crlfSize(added) + counted + changed;
}
