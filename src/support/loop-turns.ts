// Work done with quick (synchronous) calls holds the event loop while it runs: an apply that
// makes 500 Maildirs at once with them would keep every socket waiting for a few hundred
// milliseconds. Spread over turns of the loop, sockets are served between the slices.

/**
 * For `items` pieces of work started at once, `slice` to a turn of the event loop: item i
 * awaits turn(i), resolved for the first slice now and for each next slice one turn
 * (setImmediate, after pending I/O) after the slice before.
 */
export function loopTurns(items: number, slice: number): (i: number) => Promise<void> {
  const turns: Promise<void>[] = [Promise.resolve()];
  for (let k = 1; k * slice < items; k++)
    turns.push(turns[k - 1].then(() => new Promise<void>((r) => setImmediate(r))));
  return (i) => turns[Math.floor(i / slice)];
}
