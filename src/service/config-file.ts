// The daemon's config file: which one is read (--config, $VMAIL_CONFIG, the default path), and
// what it says, a TOML file with one key per setting, each value with the line it is on.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseToml, type TomlError } from 'smol-toml';
import { ConfigError, DEFAULT_CONFIG_FILE, SETTINGS, type Value } from './settings.js';

/** Each setting a config file gives, with its value and the line it is on. */
export type ConfigFileValues = Map<string, { value: Value; line: number }>;

/** The config file to read: --config, $VMAIL_CONFIG, or the default path if it exists. */
export function configFileFrom(flag: string | undefined, env = process.env): string | null {
  if (flag) return resolve(flag);
  if (env.VMAIL_CONFIG) return resolve(env.VMAIL_CONFIG);
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null;
}

/** Reads a config file: each known key with its value and line. Unknown keys and bad values are ConfigErrors. */
export function readConfigFile(file: string): ConfigFileValues {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    const e = err as TomlError;
    throw new ConfigError(
      `${file}:${e.line ?? '?'}: ${(e.message.split('\n')[0] ?? 'not valid').replace(/^Invalid TOML document: /, '')}`,
    );
  }
  const lineOf = (key: string) => {
    const i = text
      .split('\n')
      .findIndex((l) => new RegExp(`^\\s*["']?${key.replace(/[.-]/g, '\\$&')}["']?\\s*=`).test(l));
    return i + 1;
  };
  const out: ConfigFileValues = new Map();
  for (const [key, raw] of Object.entries(doc)) {
    const setting = SETTINGS.find((s) => s.key === key);
    if (!setting)
      throw new ConfigError(
        `${file}:${lineOf(key)}: unknown setting ${JSON.stringify(key)} (see vmail config check --help for the settings)`,
      );
    const line = lineOf(key);
    const value =
      typeof raw === 'string'
        ? raw
        : typeof raw === 'number' && Number.isInteger(raw)
          ? String(raw)
          : Array.isArray(raw) && setting.multiple && raw.every((x) => typeof x === 'string')
            ? (raw as string[])
            : null;
    if (value === null)
      throw new ConfigError(
        `${file}:${line}: ${key} must be ${setting.multiple ? 'a string or a list of strings' : 'a string'}`,
      );
    out.set(key, { value, line });
  }
  return out;
}
