// The daemon's config file: which one is read (--config, $VMAIL_CONFIG, the default path), and
// what it says, a TOML file with one key per setting, each value with the line it is on.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ConfigProblem, MAX_CONFIG_BYTES, type ReadSettings, settingsFromText } from './config-problems.js';
import { ConfigError, DEFAULT_CONFIG_FILE, type Value } from './settings.js';

/** Each setting a config file gives, with its value and the line it is on. */
export type ConfigFileValues = Map<string, { value: Value; line: number }>;

/** The config file to read: --config, $VMAIL_CONFIG, or the default path if it exists. */
export function configFileFrom(flag: string | undefined, env = process.env): string | null {
  if (flag) return resolve(flag);
  if (env.VMAIL_CONFIG) {
    // Named, so meant: a typo here would otherwise run on the defaults without a word.
    if (!existsSync(env.VMAIL_CONFIG))
      throw new ConfigError(
        `VMAIL_CONFIG=${env.VMAIL_CONFIG.slice(0, 300)}: no such file (unset it to use the defaults)`,
      );
    return resolve(env.VMAIL_CONFIG);
  }
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null;
}

/** Reads a config file: each known key with its value and line. Its first problem is a ConfigError. */
export function readConfigFile(file: string): ConfigFileValues {
  const { values, problems } = readConfigFileProblems(file);
  const first = problems[0];
  if (first) throw new ConfigError(problemLine(file, first));
  return values;
}

/** `FILE:LINE: message`, as the daemon and `config check` print a problem. */
export function problemLine(file: string, p: ConfigProblem): string {
  return `${file}${p.line ? `:${p.line}` : ''}: ${p.message}`;
}

/** A config file's settings and every problem it has (one, if it cannot be read at all). */
export function readConfigFileProblems(file: string): ReadSettings {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES)
      return {
        values: new Map(),
        problems: [{ line: 0, message: `${size} bytes: a settings file is a few kilobytes; is this the right file?` }],
      };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return settingsFromText(text);
}
