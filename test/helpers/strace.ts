// The fsyncs and renames a script makes, counted and put in order by strace in a process of its
// own (-f: its threads too, so a call on libuv's thread pool is seen), with the path each synced.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './daemon.js';

/** The fsyncs and renames of `script`, in order, each with the thread that made it. */
export function tracedCalls(script: string, env: Record<string, string> = {}): { tid: number; call: string }[] {
  const out = join(tempDir('vmail-strace-'), 'calls');
  execFileSync(
    'strace',
    [
      '-f',
      '-qq',
      '-y',
      '-e',
      'trace=fsync,rename,renameat,renameat2',
      '-o',
      out,
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ],
    { env: { ...process.env, ...env } },
  );
  const calls: { tid: number; call: string }[] = [];
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const tid = Number(/^(\d+)/.exec(line)?.[1]);
    const sync = /\bfsync\(\d+<([^>]*)>/.exec(line);
    if (sync) calls.push({ tid, call: `fsync ${sync[1]}` });
    const mv = /\brename(?:at2?)?\((?:[^"]*)"([^"]*)",(?:[^"]*)"([^"]*)"/.exec(line);
    if (mv) calls.push({ tid, call: `rename ${mv[1]} -> ${mv[2]}` });
  }
  return calls;
}
