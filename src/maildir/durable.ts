// Writes that survive a crash once they return: the file's data and the directory entry that
// names it are both fsynced. Used by Maildir delivery and by the forward queue. Plain file
// descriptors through the callback API: a FileHandle object per message costs more CPU than
// the write itself on a busy intake.
import fs from 'node:fs';
import { promisify } from 'node:util';

const openFd = promisify(fs.open);
const writeFd = promisify(fs.write);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);
const renameFile = promisify(fs.rename);
const unlinkFile = promisify(fs.unlink);

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

/** Creates `path` (it must not exist) with `data`, fsynced. On failure nothing is left. */
export async function writeNewFile(path: string, data: Buffer): Promise<void> {
  const fd = await openFd(path, 'wx', 0o600);
  try {
    for (let at = 0; at < data.length; ) at += (await writeFd(fd, data, at, data.length - at, at)).bytesWritten;
    await fsyncFd(fd);
  } catch (err) {
    await closeFd(fd).catch(() => {});
    await unlinkFile(path).catch(() => {});
    throw err;
  }
  await closeFd(fd);
}

/** Writes `data` to `path` through `path.tmp` and a rename: the file is whole or absent. */
export async function writeDurable(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp`;
  await unlinkFile(tmp).catch(() => {});
  await writeNewFile(tmp, typeof data === 'string' ? Buffer.from(data) : data);
  await renameFile(tmp, path);
}
