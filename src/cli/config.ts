// `vmail config check`: the daemon's settings checked as it would read them, each printed with
// where it came from (flag, environment, file and line, default), passwords left out. A file
// with mistakes gets them all in one run, each with its line (as `vmail: FILE:LINE: what`, or
// as JSON with --json), and exit 78.
import { Command } from 'commander';
import { checkSettings } from '../service/config-check.js';
import { configFileFrom, problemLine } from '../service/config-file.js';
import type { ConfigProblem } from '../service/config-problems.js';
import { SETTINGS } from '../service/settings.js';
import { withoutPassword } from '../store/location.js';
import { EXIT, json, out } from './output.js';

export function configCommand(): Command {
  const config = new Command('config').description("the daemon's settings file");
  config
    .command('check')
    .description('check the settings and print each with where it came from, or every problem with its line')
    .option('--config <FILE>', 'the file to check (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf)')
    .option('--json', 'print JSON')
    .action((f: { config?: string; json?: boolean }) => {
      const file = configFileFrom(f.config);
      const { loaded, problems } = checkSettings(file);
      if (problems.length > 0 || !loaded) return refuse(file, problems, Boolean(f.json));
      const { values, sources } = loaded;
      if (f.json)
        return json({
          file,
          problems: [],
          settings: Object.fromEntries(
            SETTINGS.map((s) => [s.key, { value: hidePassword(values[s.key] ?? null), source: sources[s.key] }]),
          ),
        });
      out(file ? `${file}: valid` : 'no config file: the defaults and the environment');
      const rows = SETTINGS.map((s) => {
        const v = hidePassword(values[s.key] ?? null);
        return [
          s.key,
          v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(' ') : v,
          sources[s.key] ?? 'default',
        ];
      });
      const width = (i: number) => Math.max(...rows.map((r) => r[i].length));
      for (const r of rows) out(`  ${r[0].padEnd(width(0))}  ${r[1].padEnd(width(1))}  ${r[2]}`);
    });
  return config;
}

/** Every problem, one line each (or JSON), and 78. */
function refuse(file: string | null, problems: ConfigProblem[], asJson: boolean): void {
  if (asJson)
    json({ file, problems: problems.map((p) => ({ line: p.line || null, key: p.key ?? null, message: p.message })) });
  else
    for (const p of problems)
      process.stderr.write(`vmail: ${file && p.line >= 0 && !p.global ? problemLine(file, p) : p.message}\n`);
  process.exitCode = EXIT.config;
}

/** A setting's value with the password of a URL in it (the store's, the relay's) left out. */
function hidePassword<T>(value: T): T {
  return (typeof value === 'string' ? withoutPassword(value) : value) as T;
}
