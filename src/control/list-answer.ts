// A long list answered in pieces: the server writes one piece's JSON at a time, as the client
// reads, instead of holding 100,000 row objects, their JSON text and the socket's copy of it
// at once (that whole answer once cost the daemon over 150 MB). The bytes on the wire are
// the same one line an array answer is.

/** Rows made a piece at a time by `next` (null once there are no more); each piece is made when it is sent. */
export class ListAnswer<T> {
  constructor(private readonly next: () => T[] | null) {}

  /** The next piece of rows, or null at the end. */
  piece(): T[] | null {
    return this.next();
  }

  /** The whole list at once (inside a batch, whose answers go out together as one line). */
  toJSON(): T[] {
    return this.whole(Number.POSITIVE_INFINITY) ?? [];
  }

  /** The whole list, or null as soon as it holds more than `most` rows (the rest is never made). */
  whole(most: number): T[] | null {
    const all: T[] = [];
    for (let p = this.next(); p; p = this.next()) {
      for (const row of p) all.push(row);
      if (all.length > most) return null;
    }
    return all;
  }
}
