// The forms a setting's value is written in (HOST:PORT, a size, a count, a delay, a duration),
// each read into what the daemon uses or refused with a ConfigError naming where it was given.
import { parseDuration } from '../model/schedule.js';
import { ConfigError, type Listen } from './settings.js';

/** Each listener's usual port, for the example in its error (`--smtp 2525` is shown an SMTP one). */
const USUAL_PORT: Record<string, number> = {
  smtp: 25,
  pop3: 110,
  pop3s: 995,
  submission: 587,
  submissions: 465,
  http: 80,
  metrics: 9100,
};

export function parseListen(input: string, flag: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(input);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    // `flag` is `--smtp` or `FILE:LINE: smtp`: the setting is its last word.
    const key = /([a-z0-9]+)$/.exec(flag)?.[1] ?? '';
    const example = /^\d{1,5}$/.test(input)
      ? `0.0.0.0:${input} (every address) or 127.0.0.1:${input}`
      : `0.0.0.0:${USUAL_PORT[key] ?? 8080}`;
    throw new ConfigError(
      `${flag} ${JSON.stringify(input)}: write HOST:PORT, e.g. ${example} (port 0 picks a free one)`,
    );
  }
  return { host: m[1] ?? m[2], port };
}

/** A listener that may be off: `0` (or unset) is off, else HOST:PORT. */
export function parseOptionalListen(input: string | null, flag: string): Listen | null {
  return input === null || input === '0' ? null : parseListen(input, flag);
}

export function parseSize(input: string, flag: string): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(input.trim());
  if (!m) throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a size like 25M, 512K or 1048576`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

export function parseCount(input: string, flag: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(input))
    throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a whole number from 1`);
  return Number(input);
}

export function parseMillis(input: string, flag: string): number {
  const m = /^(\d+)(ms|s)$/.exec(input);
  if (!m || Number(m[1]) > 60_000)
    throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a delay like 500ms or 2s`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export function duration(input: string, flag: string): number {
  try {
    return parseDuration(input, flag);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
