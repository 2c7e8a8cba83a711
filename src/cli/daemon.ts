// `vmail daemon`: the mail service run in the foreground, with every setting as an option of the
// same name; SIGTERM and SIGINT stop it, SIGHUP reloads its settings, a lost shared store ends it
// with 75 so that systemd starts it again.
import { Command, Option } from 'commander';
import { configFileFrom } from '../service/config-file.js';
import { type Loaded, loadConfig } from '../service/load-config.js';
import { SETTINGS } from '../service/settings.js';
import { EXIT, out } from './output.js';

/** The daemon's settings as options: one per setting, named as in the config file. */
function settingOptions(cmd: Command): Command {
  for (const s of SETTINGS) {
    const opt = new Option(`--${s.key} <${s.arg}>`, `${s.help}${s.default ? ` (default ${s.default})` : ''}`);
    if (s.multiple) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(opt);
  }
  return cmd.option('--config <FILE>', 'settings file (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf if it exists)');
}

/** The settings from flags (by setting key), the environment and the config file. */
function daemonSettings(opts: Record<string, string | string[] | undefined>): Loaded {
  const flags: Record<string, string | string[] | undefined> = {};
  for (const s of SETTINGS) flags[s.key] = opts[s.key.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())];
  return loadConfig(flags, configFileFrom(opts.config as string | undefined));
}

export function daemonCommand(): Command {
  return settingOptions(
    new Command('daemon').description('run the mail service: SMTP, POP3, the hourly apply and the control socket'),
  ).action(async (opts: Record<string, string | string[] | undefined>) => {
    const { config } = daemonSettings(opts);
    const { startDaemon } = await import('../daemon/daemon.js');
    const { Logger } = await import('../support/log.js');
    const log = new Logger(config.logLevel);
    // systemd's socket, connected while the daemon may still be root; its children do not inherit it.
    const { systemdNotifier, monotonicUsec } = await import('../support/sd-notify.js');
    const notify = systemdNotifier(process.env.NOTIFY_SOCKET, (msg, fields) => log.warning(msg, fields));
    delete process.env.NOTIFY_SOCKET;
    const running = await startDaemon(config, log);
    const summary = () => {
      const s = running.status();
      return `${s.domains.length} domains, ${s.accounts} accounts, ${s.forwards} forwards, ${s.pending} pending, queue ${s.queue.messages}`;
    };
    let stopping = false;
    const stop = (signal: string, code: number = EXIT.ok) => {
      if (stopping) return;
      stopping = true;
      notify.send({ STOPPING: 1, STATUS: `stopping (${signal})` });
      log.notice('daemon stopping', { signal });
      running.stop().then(
        () => process.exit(code),
        (err: Error) => {
          log.error('daemon stop failed', { error: err.message });
          process.exit(EXIT.failure);
        },
      );
    };
    // Cut off from a shared store, it stops rather than serve without the others' locks;
    // 75 (EX_TEMPFAIL): systemd starts it again once the store is back.
    running.onLost((why) => {
      log.error('store connection lost', { store: running.config.store.kind, error: why });
      stop('store lost', 75);
    });
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      notify.send({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: 'reloading settings' });
      try {
        running.reload(daemonSettings(opts).config);
      } catch (err) {
        log.error('daemon reload failed', { error: (err as Error).message, kept: 'the settings it had' });
      }
      notify.send({ READY: 1, STATUS: summary() });
    });
    // The last line of defence: every background task handles its own failures, but a slip in
    // one must not take every POP3 and SMTP session down with it. Logged, loudly, and served on.
    process.on('unhandledRejection', (err) =>
      log.error('internal error', { error: (err as Error)?.stack ?? String(err), kept: 'running' }),
    );
    const { pop3, pop3s, smtp, submission, submissions, http, https } = running.ports;
    const sub = `${submission ? `submission=${submission} ` : ''}${submissions ? `submissions=${submissions} ` : ''}${http ? `http=${http} ` : ''}${https ? `https=${https} ` : ''}`;
    out(
      `vmail daemon ready: pop3=${pop3} ${pop3s ? `pop3s=${pop3s} ` : ''}smtp=${smtp} ${sub}socket=${config.socketPath} domains=${running.changes.domains.join(',')}`,
    );
    notify.send({ READY: 1, MAINPID: process.pid, STATUS: summary() });
    // `systemctl status` keeps a current line; the timer alone does not keep the daemon up.
    setInterval(() => {
      if (!stopping) notify.send({ STATUS: summary() });
    }, 60_000).unref();
    return new Promise(() => {});
  });
}
