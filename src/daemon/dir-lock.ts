// One daemon per data dir (and per SQLite store): a lock file that names the daemon holding it,
// `PID STARTTIME` (the process's start time in /proc, so a pid the kernel gave again to another
// program after a kill -9 is not taken for the daemon).
//
// Node has no flock, so the file itself is the lock, taken race-free:
// - it is written whole under a name of this process's own, then linked to the lock's name:
//   link() fails when the name exists, so of two daemons starting at once exactly one gets it,
//   and no reader ever sees a half-written file;
// - a lock whose process is gone (kill -9, a power cut) is broken by renaming it to a name of
//   this process's own first: of two daemons breaking it at once only one rename succeeds, and
//   the one that succeeded checks it took the stale lock it judged, not a lock another daemon
//   had just taken (that one it links back);
// - the daemon removes its lock when it stops, only if the lock is still its own.
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../service/settings.js';

/** The kernel's start time of process `pid` (clock ticks since boot), or null when there is none. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    // No such process (or no /proc entry for it): nobody holds the lock under that pid.
    return null;
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The pid a lock's text names when that process still runs, else null (the lock is stale). */
function holder(text: string): number | null {
  const m = /^(\d+) (\d+)\n$/.exec(text);
  if (!m) return null;
  const pid = Number(m[1]);
  return pid !== process.pid && startTime(pid) === m[2] ? pid : null;
}

export class DirLock {
  private constructor(
    readonly path: string,
    private readonly text: string,
  ) {}

  /**
   * Takes the lock file `path` for this process, or throws a ConfigError naming the daemon
   * that holds it (`what`: what it guards, for that message).
   */
  static take(path: string, what: string): DirLock {
    const own = startTime(process.pid);
    if (own === null) throw new ConfigError(`cannot lock ${what}: /proc/${process.pid}/stat is unreadable`);
    const text = `${process.pid} ${own}\n`;
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const mine = `${path}.${process.pid}`;
    writeFileSync(mine, text, { mode: 0o640 });
    try {
      // Bounded: each turn either takes the lock, finds its live holder, or removed a stale one
      // (which only another daemon starting at that moment can make happen again).
      for (let turn = 0; turn < 20; turn++) {
        try {
          linkSync(mine, path);
          return new DirLock(path, text);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const seen = readText(path);
        if (seen === null) continue;
        const pid = holder(seen);
        if (pid !== null)
          throw new ConfigError(
            `another vmail daemon (pid ${pid}) is running on ${what}: stop it first, or give this one its own --data-dir`,
          );
        const claim = `${path}.stale.${process.pid}`;
        try {
          renameSync(path, claim);
        } catch (err) {
          // Another daemon broke it first: try again.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        if (readText(claim) !== seen) {
          // Between the read and the rename another daemon broke the stale lock and took the
          // name: that lock is live, so it goes back (the next turn names its holder).
          try {
            linkSync(claim, path);
          } catch (err) {
            // A third daemon has taken the name meanwhile: that one holds the lock now.
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          }
        }
        unlinkSync(claim);
      }
      throw new ConfigError(`cannot lock ${what}: ${path} keeps changing (daemons starting in a loop?)`);
    } finally {
      unlinkSync(mine);
    }
  }

  /** Lets go of the lock, if it is still this daemon's. */
  release(): void {
    if (readText(this.path) === this.text) unlinkSync(this.path);
  }
}
