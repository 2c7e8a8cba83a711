// A settings file read for every problem it has, each with its line and what to write instead:
// TOML that does not parse (an unquoted `apply-interval = 30m` shown quoted), a key that is not
// a setting (with the nearest one: "did you mean apply-interval"), a value of the wrong type. A
// line that does not parse is set aside and the rest read again, so one run names them all.
// The daemon stops at the first (readConfigFile); `vmail config check` lists them all.
import { parse as parseToml, type TomlError } from 'smol-toml';
import { SETTINGS, type Value } from './settings.js';

export interface ConfigProblem {
  /** 1-based; 0 when the problem is the file as a whole. */
  line: number;
  key?: string;
  message: string;
  /** Not about the file (a flag, the environment, a file the daemon's user cannot read). */
  global?: boolean;
}

/** A settings file is a few kilobytes; a megabyte is the wrong file, and parsing it again and again is not free. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Past this many, the rest are more of the same (or not a settings file at all). */
const MAX_PROBLEMS = 50;
/** A key longer than any setting's by this much has no near one: no distance is computed for it. */
const MAX_SUGGEST_KEY = 64;

export interface ReadSettings {
  values: Map<string, { value: Value; line: number }>;
  problems: ConfigProblem[];
}

/** Every problem in `text`, and the settings it gives that have none. */
export function settingsFromText(text: string): ReadSettings {
  const problems: ConfigProblem[] = [];
  if (text.includes('\0'))
    return { values: new Map(), problems: [{ line: 0, message: 'binary data, not a TOML settings file' }] };
  const lines = text.split('\n');
  let doc: Record<string, unknown> | null = null;
  // Each pass sets aside the line smol-toml stops at; a file of junk stops at MAX_PROBLEMS.
  while (doc === null) {
    try {
      doc = parseToml(lines.join('\n'));
    } catch (err) {
      const e = err as TomlError;
      const line = e.line ?? 0;
      const key = /^\s*([A-Za-z0-9_-]{1,80})\s*=/.exec(lines[line - 1] ?? '')?.[1];
      problems.push({ line, key, message: syntaxMessage(lines[line - 1] ?? '', e) });
      if (line < 1 || line > lines.length || lines[line - 1] === '' || problems.length >= MAX_PROBLEMS) {
        if (problems.length >= MAX_PROBLEMS) problems.push({ line: 0, message: 'too many problems: not read further' });
        return { values: new Map(), problems };
      }
      lines[line - 1] = '';
    }
  }
  const values = new Map<string, { value: Value; line: number }>();
  for (const [key, raw] of Object.entries(doc)) {
    const line = lineOf(lines, key);
    const setting = SETTINGS.find((s) => s.key === key);
    if (!setting) {
      const near = nearestKey(key);
      problems.push({
        line,
        key: key.slice(0, 80),
        message: `unknown setting ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}...` : key)}${
          near ? `: did you mean ${near}?` : ' (vmail daemon --help lists the settings)'
        }`,
      });
      continue;
    }
    const value =
      typeof raw === 'string'
        ? raw
        : typeof raw === 'number' && Number.isInteger(raw)
          ? String(raw)
          : Array.isArray(raw) && setting.multiple && raw.every((x) => typeof x === 'string')
            ? (raw as string[])
            : null;
    if (value === null)
      problems.push({
        line,
        key,
        message: `${key} must be ${setting.multiple ? 'a string or a list of strings' : 'a string'}${
          typeof raw === 'boolean' ? ` (write ${key} = "${raw ? 'yes' : 'no'}")` : ''
        }`,
      });
    else values.set(key, { value, line });
  }
  // In the file's order, so that the daemon names the first line that is wrong.
  problems.sort((a, b) => a.line - b.line);
  return { values, problems };
}

/** smol-toml's complaint, made into what to write, where the line shows what was meant. */
function syntaxMessage(text: string, e: TomlError): string {
  const said = (e.message.split('\n')[0] ?? 'not valid TOML').replace(/^Invalid TOML document: /, '');
  const m = /^\s*([A-Za-z0-9_-]{1,80})\s*=\s*(.*?)\s*$/.exec(text);
  if (m) {
    const value = m[2].replace(/\s+#.*$/, '');
    // Not already a string, list, table, number, boolean or date: a bare word meant as a string.
    if (value && !/^["'[{]/.test(value) && !/^(true|false|[+-]?\d[\d_]*(\.\d+)?)$/.test(value))
      return `${m[1]} = ${value.slice(0, 80)}: a value that is not a number is written in quotes: ${m[1]} = ${JSON.stringify(value.slice(0, 200))}`;
  }
  return `not valid TOML: ${said}`;
}

/** The line `key = ...` is on (1-based), 0 if it is not found as written. */
function lineOf(lines: string[], key: string): number {
  const quoted = [key, JSON.stringify(key), `'${key}'`];
  const i = lines.findIndex((l) => {
    const t = l.trimStart();
    return quoted.some((q) => t.startsWith(q) && /^\s*=/.test(t.slice(q.length)));
  });
  return i + 1;
}

/** The setting nearest `key` in edits, if it is near enough to be what was meant. */
export function nearestKey(key: string): string | null {
  if (key.length > MAX_SUGGEST_KEY) return null;
  const k = key.toLowerCase();
  let best: { key: string; d: number } | null = null;
  for (const s of SETTINGS) {
    const d = levenshtein(k, s.key);
    if (!best || d < best.d) best = { key: s.key, d };
  }
  // A third of the name may be wrong (aply-interval, apply_interval, ApplyInterval's case aside).
  return best && best.d <= Math.max(2, Math.floor(best.key.length / 3)) ? best.key : null;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
