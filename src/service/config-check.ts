// `vmail config check`'s whole look: the file's own problems (config-problems.ts), then the
// daemon's checks of each value (loadConfig), run again without each value it refuses so that
// one run names them all, then what the daemon's user must be able to read (the TLS key and
// certificate, as that user: the daemon drops root before it reads them).
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { type ConfigFileValues, readConfigFileProblems } from './config-file.js';
import type { ConfigProblem } from './config-problems.js';
import { type Loaded, loadConfig } from './load-config.js';
import { type Config, ConfigError, SETTINGS } from './settings.js';

export interface Checked {
  loaded: Loaded | null;
  problems: ConfigProblem[];
}

export function checkSettings(file: string | null, env = process.env): Checked {
  const read = file ? readConfigFileProblems(file) : { values: new Map(), problems: [] };
  const problems = [...read.problems];
  const values: ConfigFileValues = new Map(read.values);
  const prefix = file ? `${file}:` : null;
  let loaded: Loaded | null = null;
  // Each refused value is left out and the rest checked again: at most once per setting.
  for (let i = 0; i <= SETTINGS.length && !loaded; i++) {
    try {
      loaded = loadConfig({}, file, env, values);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const m = prefix && err.message.startsWith(prefix) ? /^(\d+): /.exec(err.message.slice(prefix.length)) : null;
      const line = m ? Number(m[1]) : 0;
      const key = line ? [...values].find(([, v]) => v.line === line)?.[0] : undefined;
      problems.push({
        line,
        key,
        message: m ? err.message.slice(prefix!.length + m[0].length) : err.message,
        global: !m,
      });
      if (!key) break;
      values.delete(key);
    }
  }
  if (loaded) problems.push(...unreadable(loaded.config, loaded.sources));
  // In the file's order; what is not on a line of it last.
  problems.sort((a, b) => (a.line || Number.MAX_SAFE_INTEGER) - (b.line || Number.MAX_SAFE_INTEGER));
  return { loaded: problems.length ? null : loaded, problems };
}

/** The TLS files the daemon's user could not read, as that user finds them. */
function unreadable(config: Config, sources: Loaded['sources']): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const asUser = process.getuid?.() === 0 && config.user ? config.user : null;
  for (const [key, path] of [
    ['tls-cert', config.tlsCert],
    ['tls-key', config.tlsKey],
  ] as const) {
    if (!path) continue;
    const why = readableBy(path, asUser);
    if (!why) continue;
    const line = /:(\d+)$/.exec(sources[key] ?? '')?.[1];
    out.push({
      line: line ? Number(line) : 0,
      key,
      message: `${key} ${path}: ${why}`,
      global: !line,
    });
  }
  return out;
}

/** Why `user` (or this process) cannot read `path`, or null if it can. */
function readableBy(path: string, user: string | null): string | null {
  if (!user) {
    try {
      accessSync(path, constants.R_OK);
      return null;
    } catch (err) {
      return `cannot be read (${(err as NodeJS.ErrnoException).code}): the daemon would not start`;
    }
  }
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-r', path], { stdio: 'ignore' });
    return null;
  } catch {
    // test -r says only no; the admin's fix is the same whatever the reason (mode, owner, a folder above).
    return `the daemon's user ${user} cannot read it: give it to group ${user} (chgrp ${user} FILE; chmod g+r FILE, and g+x on the folders above), as certbot's deploy hooks can`;
  }
}
