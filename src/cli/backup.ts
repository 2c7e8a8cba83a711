// `vmail backup DIR`, `vmail backup verify DIR` and `vmail restore DIR --data-dir D [--store
// URL]`: run on the files (a daemon may keep running during a backup; none may run on D during a
// restore), with progress on stderr and one line of outcome on stdout.
import { Command } from 'commander';
import { configFileFrom } from '../service/config-file.js';
import { loadConfig } from '../service/load-config.js';
import { out } from './output.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

interface BackupFlags {
  dataDir?: string;
  store?: string;
  config?: string;
}

export function backupCommand(): Command {
  const backup = new Command('backup')
    .description('a consistent copy of the store, the mail and the keys, while the daemon runs')
    .argument('<DIR>', 'a new folder, outside the data dir (written as DIR.tmp, then renamed)')
    .option('--data-dir <DIR>', 'the data dir (default: $VMAIL_DATA_DIR, the config file, /var/lib/vmail)')
    .option('--store <URL>', "the daemon's store, when not DATA_DIR/vmail.sqlite (sqlite:PATH, postgres://...)")
    .option('--config <FILE>', 'settings file (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf if it exists)')
    .action(async (dir: string, f: BackupFlags) => {
      const { config } = loadConfig({ 'data-dir': f.dataDir, store: f.store }, configFileFrom(f.config));
      const { makeBackup } = await import('../backup/backup.js');
      const r = await makeBackup(dir, config, say);
      out(
        `Backed up ${r.files} file(s), ${Math.round(r.bytes / 1048576)} MB (${r.linked} hard-linked, ${r.copied} copied) into ${r.dir}; check it with vmail backup verify ${r.dir}`,
      );
    });
  backup
    .command('verify')
    .description('is a backup whole: every file of its manifest, of its size and SHA-256 (exit 1 if not)')
    .argument('<DIR>', 'the backup')
    .action(async (dir: string) => {
      const { checkBackup } = await import('../backup/manifest.js');
      let said = Date.now();
      const { manifest, problems } = await checkBackup(dir, (done, total) => {
        if (Date.now() - said < 2000) return;
        said = Date.now();
        say(`verify: ${done} of ${total} files`);
      });
      for (const p of problems) process.stderr.write(`vmail: ${dir}: ${p}\n`);
      if (problems.length) {
        process.exitCode = 1;
        return;
      }
      out(`${dir} is whole: ${manifest.files.length} file(s), made ${manifest.madeAt} by vmail ${manifest.vmail}.`);
    });
  return backup;
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('a backup into an empty data dir (and an empty store), no daemon running there')
    .argument('<DIR>', 'the backup (it must verify)')
    .requiredOption('--data-dir <D>', 'the empty (or new) data dir to restore into')
    .option('--store <URL>', 'an empty store to restore into, when not D/vmail.sqlite (postgres://...)')
    .action(async (dir: string, f: { dataDir: string; store?: string }) => {
      const { restoreBackup } = await import('../backup/restore.js');
      const r = await restoreBackup(dir, f.dataDir, f.store ?? null, say);
      out(`Restored ${r.files} file(s) into ${r.dataDir} and the store into ${r.store}.`);
      if (r.settings)
        out(`The settings file it was made with is ${r.settings}: compare it with yours before starting.`);
      out(
        `Next: chown -R vmail:vmail ${r.dataDir} if the daemon runs as vmail, then start it with --data-dir ${r.dataDir}${f.store ? ' --store URL' : ''}.`,
      );
    });
}
