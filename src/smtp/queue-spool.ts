// The forward queue's files on disk (DATA_DIR/queue/): per message a description (ID.json) and
// the message itself (ID.eml), the message file durable before the description that makes it
// queued; descriptions that parse wrong set aside in corrupt/, never deleted; the spool folders
// of daemons that are gone taken over with one rename; and what `queue list` shows of an entry.
// The queue's logic is forward-queue.ts.
import { mkdir, readdir, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueView } from '../control/protocol.js';
import { fsyncDir, mkdirDurable, renameDurable, writeAtomic } from '../support/durable.js';
import type { Logger } from '../support/log.js';

export interface QueueEntry {
  id: string;
  /** Envelope sender; '' is the null sender of a bounce. */
  from: string;
  to: string;
  /** The hosted address that forwarded it: a bounce comes from that domain's postmaster. */
  via?: string;
  /** The SMTP client the message came from, for the ARC seal's authentication results. */
  client?: { ip: string; helo: string };
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastError: string | null;
  size: number;
}

/** Where a description that does not parse goes (with its message file), kept for a person to look at. */
const CORRUPT = 'corrupt';

/** A description that does not parse as one, or a message whose file is gone: set aside, not retried. */
export class Unusable extends Error {}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The messages in another daemon's spool folder, as their descriptions say: read, never
 * changed. One sent or moved while this reads is left out.
 */
export async function readSpool(dir: string): Promise<QueueEntry[]> {
  // Only a listing: no folder (or none readable) shows no messages, and the files stay untouched.
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  const read = await Promise.all(
    names.map((n) =>
      readFile(join(dir, n), 'utf8')
        .then((text) => JSON.parse(text) as QueueEntry)
        // Sent or moved while this read, or half-written: left out of the listing, not touched.
        .catch(() => null),
    ),
  );
  return read.filter((e): e is QueueEntry => typeof e?.id === 'string' && typeof e.createdAt === 'number');
}

/** A description as the spool holds it, or Unusable when it parses wrong. */
function parseEntry(text: string, id: string): QueueEntry {
  let e: QueueEntry;
  try {
    e = JSON.parse(text) as QueueEntry;
  } catch (err) {
    throw new Unusable(`not JSON: ${(err as Error).message}`);
  }
  if (
    typeof e !== 'object' ||
    e === null ||
    e.id !== id ||
    typeof e.from !== 'string' ||
    typeof e.to !== 'string' ||
    !Number.isFinite(e.createdAt) ||
    !Number.isFinite(e.attempts) ||
    !Number.isFinite(e.nextAttemptAt)
  )
    throw new Unusable('not a queue description');
  return e;
}

export class QueueSpool {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /**
   * Makes the spool ready after a start: finishes an adoption a crash cut short, removes the
   * files of unfinished writes, and returns the ids of the messages waiting.
   */
  async prepare(): Promise<Set<string>> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // An adoption a crash cut short is finished first: its messages are whole in their folder.
    await this.moveAdopted();
    const names = await readdir(this.dir);
    const ids = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)));
    for (const n of names) {
      if (n.endsWith('.tmp') || (n.endsWith('.eml') && !ids.has(n.slice(0, -4))))
        await unlink(join(this.dir, n)).catch((err: NodeJS.ErrnoException) =>
          // A write cut short, never queued: left in place it is only looked at again next start.
          this.log.warning('queue leftover not removed', { file: n, error: err.message }),
        );
    }
    return ids;
  }

  /**
   * Message `id`'s description; Unusable when it parses wrong or its message file is gone, any
   * other error when it cannot be read now.
   */
  async readDescription(id: string): Promise<QueueEntry> {
    const entry = parseEntry(await readFile(join(this.dir, `${id}.json`), 'utf8'), id);
    await stat(join(this.dir, `${id}.eml`)).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new Unusable('its message file is missing') : err;
    });
    return entry;
  }

  /** Moves a description that parses wrong, and its message file, to corrupt/ (logged, never deleted). */
  async setAside(id: string, why: string): Promise<void> {
    const to = join(this.dir, CORRUPT);
    try {
      await mkdirDurable(to);
      for (const ext of ['.json', '.eml'])
        await renameDurable(join(this.dir, `${id}${ext}`), join(to, `${id}${ext}`)).catch(
          (err: NodeJS.ErrnoException) => {
            // A description without its message file: there is no file to move.
            if (err.code !== 'ENOENT') throw err;
          },
        );
      this.log.error('queue description set aside', { id, why, dir: to });
    } catch (err) {
      // Not moved: it stays in the spool, and the next start looks at it again.
      this.log.error('queue description unusable', { id, why, error: (err as Error).message });
    }
  }

  /**
   * Moves another daemon's spool folder `dir` into this spool with one rename (of several
   * daemons trying, one gets it), then its messages into the spool; returns the names of the
   * descriptions moved, none when another daemon took the folder first.
   */
  async adoptFolder(dir: string, into: string): Promise<string[]> {
    try {
      await renameDurable(dir, join(this.dir, into));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EEXIST' || code === 'ENOTEMPTY') return [];
      throw err;
    }
    return this.moveAdopted();
  }

  /**
   * Takes the messages a daemon running alone left in `dir` (the spool before the store was
   * shared) into the folder `into`. Each message goes to whichever daemon renames its
   * description first, and its file after it; `prepare()` then moves them into the spool.
   * Returns how many came.
   */
  async adoptLoose(dir: string, into: string): Promise<number> {
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      // No such folder: the daemon never queued anything before the store was shared.
      if (err.code !== 'ENOENT') this.log.error('queue not adopted', { dir, error: err.message });
      return [] as string[];
    });
    const to = join(this.dir, into);
    let n = 0;
    for (const name of names.filter((x) => x.endsWith('.json'))) {
      if (n === 0) await mkdir(to, { recursive: true, mode: 0o700 });
      try {
        await renameDurable(join(dir, name), join(to, name));
      } catch (err) {
        // Gone: another daemon took it. Anything else leaves it where it is, for the next start.
        if (!isMissing(err))
          this.log.error('queue message not adopted', { file: join(dir, name), error: (err as Error).message });
        continue;
      }
      const eml = `${name.slice(0, -5)}.eml`;
      await renameDurable(join(dir, eml), join(to, eml)).catch((err: NodeJS.ErrnoException) => {
        // Gone: a write cut short before the store was shared; the description is set aside at load.
        // Anything else strands the message where it was: the log says where.
        if (err.code !== 'ENOENT')
          this.log.error('queue message not adopted', { file: join(dir, eml), error: err.message });
      });
      n++;
    }
    if (n) await Promise.all([fsyncDir(to), fsyncDir(dir)]);
    // An empty folder of ours, made for nothing: moveAdopted() removes it at the next start.
    else await rmdir(to).catch(() => {});
    return n;
  }

  /**
   * Moves the messages of adopted folders into the spool, each message file before its
   * description (the spool drops a message file alone as a write cut short only after this).
   */
  private async moveAdopted(): Promise<string[]> {
    const moved: string[] = [];
    for (const sub of await readdir(this.dir)) {
      if (!sub.startsWith('adopted-')) continue;
      const from = join(this.dir, sub);
      const names = await readdir(from);
      for (const ext of ['.eml', '.json'])
        for (const n of names.filter((x) => x.endsWith(ext))) {
          await renameDurable(join(from, n), join(this.dir, n));
          if (ext === '.json') moved.push(n);
        }
      // What the gone daemon set aside stays set aside, under its folder's name.
      if (names.includes(CORRUPT)) {
        await mkdirDurable(join(this.dir, CORRUPT));
        await renameDurable(join(from, CORRUPT), join(this.dir, CORRUPT, sub));
      }
      // A write the gone daemon cut short, never queued; if it stays, the rmdir below says so.
      for (const n of names.filter((x) => x.endsWith('.tmp'))) await unlink(join(from, n)).catch(() => {});
      await rmdir(from);
    }
    if (moved.length) await fsyncDir(this.dir);
    return moved;
  }

  /** Writes a message and then its description, each durably: once this resolves it is queued. */
  async write(entry: QueueEntry, data: Buffer | readonly Buffer[], tail?: string): Promise<void> {
    // The message file is written and fsynced before the description that makes it queued
    // (rule 5 in support/durable.ts); the one directory fsync after the description's rename
    // makes both names durable, so the message file's rename waits for no fsync of its own.
    await writeAtomic(join(this.dir, `${entry.id}.eml`), data, { tail, syncDir: false });
    await this.writeDescription(entry);
  }

  /** Replaces message `entry.id`'s description, durably. */
  writeDescription(entry: QueueEntry): Promise<void> {
    return writeAtomic(join(this.dir, `${entry.id}.json`), JSON.stringify(entry));
  }

  /** The message itself. */
  readMessage(id: string): Promise<Buffer> {
    return readFile(join(this.dir, `${id}.eml`));
  }

  /**
   * Removes message `id`'s files, the description first: once it is gone the message is no
   * longer queued, and a message file left alone is dropped at the next start.
   */
  async remove(id: string): Promise<void> {
    for (const ext of ['.json', '.eml'])
      await unlink(join(this.dir, `${id}${ext}`)).catch((err: NodeJS.ErrnoException) => {
        // Already gone is what was wanted.
        if (err.code !== 'ENOENT')
          this.log.error('queue file not removed', { file: `${id}${ext}`, error: err.message });
      });
  }
}

/** What `queue list` shows of a message; `node` is the daemon whose spool holds it, on a shared mail root. */
export function queueView(e: QueueEntry, node?: string): QueueView {
  const iso = (t: number) => new Date(t).toISOString();
  return {
    id: e.id,
    from: e.from,
    to: e.to,
    createdAt: iso(e.createdAt),
    attempts: e.attempts,
    nextAttemptAt: iso(e.nextAttemptAt),
    lastAttemptAt: e.lastAttemptAt === null ? null : iso(e.lastAttemptAt),
    lastError: e.lastError,
    size: e.size,
    ...(node === undefined ? {} : { node }),
  };
}
