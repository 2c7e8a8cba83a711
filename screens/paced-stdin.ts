// Keys that arrive together (typed fast over SSH, or pasted) reach Ink one at a time: Ink would
// hand "aname" to the screens as one input, where `a` is a command and the rest is a name. With
// the screens acting on the state the previous key left (useLatestReducer), a burst such as
// "a name <Tab> password <Enter>" does what the same keys typed slowly would.
import { PassThrough } from 'node:stream';

/**
 * Splits terminal input into keys: one character, one control key or one escape sequence each,
 * since a letter can be a command (a, d, /) that changes where the next letters go.
 */
export function splitKeys(input: string): string[] {
  const out: string[] = [];
  const re = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001bO.|\u001b[\s\S]?|[\s\S]/gu;
  for (const m of input.matchAll(re)) out.push(m[0]);
  return out;
}

/** Escape sequences of keys the console uses; others (a pasted "clear screen", bracketed-paste marks) are dropped. */
const KNOWN_SEQUENCE = /^\u001b(\[[ABCDHFZ]|O[ABCDHF]|\[[1-8]~|\[1;[2-8][ABCD]|[^[O]?)$/;

export function isKnownKey(key: string): boolean {
  return !key.startsWith('\u001b') || KNOWN_SEQUENCE.test(key);
}

export function pacedStdin(real: NodeJS.ReadStream): NodeJS.ReadStream {
  const paced = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const queue: string[] = [];
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    const next = queue.shift();
    if (next === undefined) return;
    paced.write(next);
    if (queue.length) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // One turn of the event loop apart, so Ink reads each key on its own.
    setImmediate(pump);
  };
  real.on('data', (chunk: Buffer | string) => {
    queue.push(...splitKeys(chunk.toString()).filter(isKnownKey));
    schedule();
  });
  Object.assign(paced, {
    isTTY: true,
    setRawMode: (mode: boolean) => {
      real.setRawMode(mode);
      if (mode) real.resume();
      return paced;
    },
    ref: () => {
      real.ref();
      return paced;
    },
    unref: () => {
      real.unref();
      return paced;
    },
  });
  return paced;
}
