// Where the vmail package lives, found from this file's place in the tree (src/ when run from
// source, dist/src/ when compiled), and what its package.json says.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vmail') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the vmail package root');
}

export const PACKAGE_ROOT = findRoot();
export const VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * The password-hashing worker's compiled file, found from the package root: the same from
 * dist/src/ and from the console's bundle in dist/console/ (a path relative to the module
 * that starts it is not).
 */
export const HASH_WORKER = join(PACKAGE_ROOT, 'dist/src/store/hash-worker.js');

/** The DKIM-signing worker's compiled file (dkim-worker.ts), found the same way. */
export const DKIM_WORKER = join(PACKAGE_ROOT, 'dist/src/smtp/dkim-worker.js');
