// An import's input, for the CLI and the console alike: the file read whole and safely (a plain
// file, never a link, a device or a FIFO; at most 64 MB), the root of a tree of Maildirs as the
// daemon will check it, and the rows every parser (CSV, Dovecot, vpopmail) makes of a file.
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import type { ImportResult, ImportRow } from '../control/protocol.js';
import { InputError } from '../model/errors.js';

/** The largest input an import reads. */
export const MAX_FILE = 64 * 1024 * 1024;

/** What a parser makes of an import's file: the rows to send, and the rows and columns left out. */
export interface ParsedCsv {
  rows: ImportRow[];
  /** Rows refused before the daemon sees them (a broken line). */
  refused: ImportResult['refused'];
  /** Columns the import does not read. */
  ignored: string[];
}

/**
 * An import's input file (a CSV, a passwd-file, a vpasswd), read whole: a plain file only (not
 * a link, a device such as /dev/zero, a FIFO or a folder, which are refused at once rather
 * than read forever), at most `max` bytes. `-` is standard input, cut off at the same size.
 */
export async function readImportFile(path: string, max = MAX_FILE): Promise<Buffer> {
  const tooBig = () => new InputError(`${path} is over ${max / 1048576} MB: split it`);
  if (path === '-') {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooBig();
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }
  // O_NONBLOCK: opening a FIFO does not wait for a writer.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (err: NodeJS.ErrnoException) => {
      throw new InputError(
        err.code === 'ELOOP'
          ? `${path} is a symbolic link: give the file itself`
          : `cannot read ${path}: ${err.code ?? err.message}`,
      );
    },
  );
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new InputError(`${path} is a folder, not a file`);
    if (!st.isFile()) throw new InputError(`${path} is not a plain file (a device or a FIFO?): give a file`);
    if (st.size > max) throw tooBig();
    const data = await fh.readFile();
    if (data.length > max) throw tooBig();
    return data;
  } finally {
    await fh.close();
  }
}

/** An import tree's root as the daemon will check its Maildirs: its real path (links in it resolved). */
export async function realRoot(dir: string): Promise<string> {
  return realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read ${dir}: ${err.code ?? err.message}`);
  });
}
