// Writes that survive a crash once they return: the file's data and the directory entry that
// names it are both fsynced. Used by Maildir delivery and by the forward queue.
import { open, rename } from 'node:fs/promises';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` through `path.tmp` and a rename: the file is whole or absent. */
export async function writeDurable(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
