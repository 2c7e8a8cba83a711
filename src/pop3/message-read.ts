// Reading a message off the disk for RETR and TOP: the fast path that reads a small message in
// one open and one read (on the spot while the disk is quick, through the thread pool once it
// was slow), and where TOP's cut falls in the bytes read. The wire side is in retrieve.ts.
import fs from 'node:fs';
import { join } from 'node:path';
import { MESSAGE_OPEN, type MessageEntry } from '../maildir/maildir.js';

/** Messages up to this size are read and sent in one piece; larger ones stream. */
export const SMALL = 256 * 1024;

/** Where TOP's cut falls: after the header's blank line, `bodyLines` more line ends. */
export interface TopState {
  bodyLines: number;
  inBody: boolean;
  lineStart: boolean;
  prevBlank: boolean;
  count: number;
}

/** TOP's cut at the start of a message: in the header, at a line start, no line counted. */
export function newTopState(bodyLines: number): TopState {
  return { bodyLines, inBody: false, lineStart: true, prevBlank: false, count: 0 };
}

/** The offset in `chunk` just after TOP's last line, or -1 if the cut is in a later chunk. */
export function topCut(t: TopState, chunk: Buffer): number {
  for (let p = 0; p < chunk.length; p++) {
    const c = chunk[p];
    if (c === 10) {
      if (!t.inBody && (t.prevBlank || t.lineStart)) {
        t.inBody = true;
        if (t.bodyLines === 0) return p + 1;
      } else if (t.inBody && ++t.count >= t.bodyLines) {
        return p + 1;
      }
      t.lineStart = true;
      t.prevBlank = false;
    } else if (c === 13 && t.lineStart) {
      t.prevBlank = true;
    } else {
      t.lineStart = false;
      t.prevBlank = false;
    }
  }
  return -1;
}

/** A message the name says is small enough to read in one piece. */
export function isSmall(m: MessageEntry): boolean {
  return m.diskSize !== undefined && m.diskSize <= SMALL;
}

/**
 * Reads a small message (or its first `prefix` bytes, for TOP) in one open and one read,
 * trusting the size in its name; null when the file is gone or not the size its name says (then
 * the slower path finds out what happened).
 * While reads are quick (the file is in the page cache, as a mailbox being fetched mostly is), it
 * reads on the spot: a trip through the thread pool costs two thread wake-ups, each more than the
 * read. SLOW_IN_A_ROW reads in a row that take longer than SLOW_READ_MS send every read to the
 * thread pool for ASYNC_FOR_MS, so a slow disk holds up the other sessions a few times, not on
 * every message.
 */
export function readSmall(dir: string, m: MessageEntry, prefix = Infinity): Promise<Buffer | null> {
  const size = m.diskSize!;
  const want = Math.min(size, prefix);
  if (Date.now() >= asyncUntil) return Promise.resolve(readSmallNow(join(dir, m.folder, m.file), size, want));
  // The callback API: no FileHandle object per message, which costs more than the read.
  return new Promise((resolve) => {
    // No link followed (openMessage, on the slower path, tells of one and refuses it).
    fs.open(join(dir, m.folder, m.file), MESSAGE_OPEN, (err, fd) => {
      if (err) return resolve(null);
      // fstat of an open file waits on no disk: no thread-pool trip.
      if (!plainOfSize(fd, size)) {
        fs.closeSync(fd);
        return resolve(null);
      }
      const buf = Buffer.allocUnsafe(want);
      fs.read(fd, buf, 0, want, 0, (rerr, bytesRead) => {
        // Closing a file opened for reading never waits on the disk: no thread-pool trip.
        fs.closeSync(fd);
        resolve(!rerr && bytesRead === want ? buf : null);
      });
    });
  });
}

/** Whether the open file is a plain file of `size` bytes (a link is never followed: O_NOFOLLOW). */
function plainOfSize(fd: number, size: number): boolean {
  const st = fs.fstatSync(fd);
  return st.isFile() && st.size === size;
}

// A page-cache read takes microseconds; 10 ms is a disk seek (or worse). A busy machine may keep
// this thread off the CPU for 10 ms during a quick read now and then (measured: at a load of 10
// on 2 cores, every session tripped a one-read rule, and the thread pool's trips doubled the CPU
// a RETR costs), but not during SLOW_IN_A_ROW reads in a row; a cold disk makes every read slow.
const SLOW_READ_MS = 10;
const SLOW_IN_A_ROW = 3;
const ASYNC_FOR_MS = 10_000;
/** Until when reads go through the thread pool (reads were slow). */
let asyncUntil = 0;
/** Slow reads on the spot since the last quick one. */
let slowReads = 0;

/** Counts a read on the spot that took `ms`: SLOW_IN_A_ROW slow ones send reads to the thread pool. */
function noteReadTime(ms: number): void {
  if (ms <= SLOW_READ_MS) slowReads = 0;
  else if (++slowReads >= SLOW_IN_A_ROW) {
    slowReads = 0;
    asyncUntil = Date.now() + ASYNC_FOR_MS;
  }
}

function readSmallNow(path: string, size: number, want: number): Buffer | null {
  const t0 = performance.now();
  let fd: number;
  try {
    // No link followed (O_NOFOLLOW); O_NONBLOCK: a FIFO put where a message was opens at once (and reads as empty) instead of
    // holding the event loop, and so every session, until something writes to it.
    fd = fs.openSync(path, MESSAGE_OPEN);
  } catch {
    // Gone or unreadable: null sends the caller to the path that opens the file and says which.
    return null;
  }
  try {
    if (!plainOfSize(fd, size)) return null;
    const buf = Buffer.allocUnsafe(want);
    return fs.readSync(fd, buf, 0, want, 0) === want ? buf : null;
  } catch {
    // A read error (EISDIR, EAGAIN from a FIFO, EIO): the slower path reads again and reports it.
    return null;
  } finally {
    fs.closeSync(fd);
    noteReadTime(performance.now() - t0);
  }
}
