// Where the store is, as --store and the config file name it: read here without loading a
// database driver (the CLI reads the config on every command).
/** Where the store is: a SQLite file, or a PostgreSQL database several daemons share. */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Reads `--store`: `sqlite:PATH` or `postgres://...` (also `postgresql://`); null is the
 * default, `DATA_DIR/vmail.sqlite`. Throws a one-line message for anything else.
 */
export function parseStoreLocation(text: string | null, dataDir: string): StoreLocation {
  if (text === null || text === '') return { kind: 'sqlite', path: `${dataDir}/vmail.sqlite` };
  if (text.startsWith('sqlite:')) {
    const path = text.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new Error('sqlite: needs a path, e.g. sqlite:/var/lib/vmail/vmail.sqlite');
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      const u = new URL(text);
      if (!u.pathname || u.pathname === '/') throw new Error('no database');
    } catch {
      throw new Error('write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE');
    }
    return { kind: 'postgres', url: text };
  }
  throw new Error('write sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE');
}

/**
 * `text` with the password of any URL in it (`scheme://user:password@`) left out, or shown as
 * `mark`: for logs, status, `config check` and the audit log, which never show one.
 */
export function withoutPassword(text: string, mark = ''): string {
  return text.replace(/(\/\/[^/:@\s"]+):[^@\s"]*@/g, mark ? `$1:${mark}@` : '$1@');
}
