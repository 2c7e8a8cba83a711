// `vmail config check`: the daemon's settings checked as it would read them, each printed with
// where it came from (flag, environment, file and line, default), passwords left out.
import { Command } from 'commander';
import { configFileFrom } from '../service/config-file.js';
import { loadConfig } from '../service/load-config.js';
import { SETTINGS } from '../service/settings.js';
import { withoutPassword } from '../store/location.js';
import { json, out } from './output.js';

export function configCommand(): Command {
  const config = new Command('config').description("the daemon's settings file");
  config
    .command('check')
    .description('check the settings and print each with where it came from')
    .option('--config <FILE>', 'the file to check (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf)')
    .option('--json', 'print JSON')
    .action((f: { config?: string; json?: boolean }) => {
      const file = configFileFrom(f.config);
      const { values, sources } = loadConfig({}, file);
      if (f.json)
        return json({
          file,
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

/** A setting's value with the password of a URL in it (the store's, the relay's) left out. */
function hidePassword<T>(value: T): T {
  return (typeof value === 'string' ? withoutPassword(value) : value) as T;
}
