// Writes that survive a crash once they return: the file's data and the directory entry that
// names it are both fsynced. Used by Maildir delivery and by the forward queue. Plain file
// descriptors through the callback API: a FileHandle object per message costs more CPU than
// the write itself on a busy intake.
import fs from 'node:fs';
import { promisify } from 'node:util';

const openFd = promisify(fs.open);
const writevFd = promisify(fs.writev);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);
const renameFile = promisify(fs.rename);
const unlinkFile = promisify(fs.unlink);
const readFd = promisify(fs.read);
const writeFd = promisify(fs.write);

/** What a copy from a file reads and writes at a time: memory per copy stays this. */
const COPY_CHUNK = 256 * 1024;

/** Appends the bytes of the file at `source` to `fd` from offset `at`. */
async function copyInto(fd: number, source: string, at: number): Promise<void> {
  const from = await openFd(source, 'r');
  try {
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    for (let read = 0; ; ) {
      const { bytesRead } = await readFd(from, buf, 0, COPY_CHUNK, read);
      if (bytesRead === 0) return;
      read += bytesRead;
      for (let done = 0; done < bytesRead; ) {
        const { bytesWritten } = await writeFd(fd, buf, done, bytesRead - done, at);
        done += bytesWritten;
        at += bytesWritten;
      }
    }
  } finally {
    await closeFd(from);
  }
}

async function fsyncNow(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

/** Per directory: the fsync running, and the one that callers arriving meanwhile share. */
const dirSyncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

function startSync(dir: string): Promise<void> {
  const running = fsyncNow(dir).finally(() => {
    const s = dirSyncs.get(dir);
    if (s?.running === running && !s.next) dirSyncs.delete(dir);
  });
  const s = dirSyncs.get(dir);
  if (s) s.running = running;
  else dirSyncs.set(dir, { running, next: null });
  return running;
}

/**
 * Makes every change made in `dir` before the call durable (group commit). An fsync already
 * running may have started before the caller's change, so the caller waits for the next one,
 * which every caller arriving meanwhile shares: 20 deliveries finishing together in one
 * Maildir cost one directory fsync after the current one, not 20 in a row.
 */
export function fsyncDir(dir: string): Promise<void> {
  const s = dirSyncs.get(dir);
  if (!s) return startSync(dir);
  s.next ??= s.running
    .catch(() => {})
    .then(() => {
      s.next = null;
      return startSync(dir);
    });
  return s.next;
}

/**
 * Creates `path` (it must not exist) with `data`, fsynced. On failure nothing is left. Given
 * as parts (a recipient's own header lines and the body every recipient shares), they are
 * written with one vectored write, without joining them into one more copy. `tail` names a
 * file whose bytes follow them (a big message spooled to disk), copied a chunk at a time.
 */
export async function writeNewFile(path: string, data: Buffer | readonly Buffer[], tail?: string): Promise<void> {
  const fd = await openFd(path, 'wx', 0o600);
  try {
    let parts = Buffer.isBuffer(data) ? [data] : data.filter((p) => p.length > 0);
    let at = 0;
    while (parts.length) {
      let written = (await writevFd(fd, parts, at)).bytesWritten;
      at += written;
      // A short write: go on from where it stopped.
      while (parts.length && written >= parts[0].length) written -= parts.shift()!.length;
      if (written > 0) parts = [parts[0].subarray(written), ...parts.slice(1)];
    }
    if (tail) await copyInto(fd, tail, at);
    await fsyncFd(fd);
  } catch (err) {
    await closeFd(fd).catch(() => {});
    await unlinkFile(path).catch(() => {});
    throw err;
  }
  await closeFd(fd);
}

/** Writes `data` to `path` through `path.tmp` and a rename: the file is whole or absent. */
export async function writeDurable(
  path: string,
  data: Buffer | readonly Buffer[] | string,
  tail?: string,
): Promise<void> {
  const tmp = `${path}.tmp`;
  await unlinkFile(tmp).catch(() => {});
  await writeNewFile(tmp, typeof data === 'string' ? Buffer.from(data) : data, tail);
  await renameFile(tmp, path);
}
