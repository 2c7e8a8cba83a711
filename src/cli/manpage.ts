// vmail(8), in mdoc, made from the same command definitions as --help and the same table of
// settings as the config file, so the manual cannot say something the program does not do.
// `npm run man` writes man/vmail.8; a test checks it is current and that mandoc finds it clean.
import type { Command, Option } from 'commander';
import { DEFAULT_CONFIG_FILE, SERVICE_SOCKET, SETTINGS } from '../service/settings.js';
import { program } from './main.js';

/** Text safe in an mdoc line: no leading dot or quote, backslashes escaped. */
function safe(s: string): string {
  const t = s.replace(/\\/g, '\\e');
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

/** Prose as mdoc wants it: each sentence on a line of its own, no line past 78 bytes. */
function text(s: string): string {
  const sentences = s.split(/(?<=[.;:!?)])\s+(?=[A-Z(])/);
  const lines: string[] = [];
  for (const sentence of sentences) {
    let line = '';
    for (const word of sentence.split(/\s+/)) {
      if (line && Buffer.byteLength(`${line} ${word}`) > 78) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    if (line) lines.push(line);
  }
  return lines.map(safe).join('\n');
}

function synopsis(path: string[], cmd: Command): string[] {
  const lines = ['.Nm', `.Cm ${path.slice(1).join(' ')}`];
  for (const arg of cmd.registeredArguments) {
    const name = arg.name().toUpperCase();
    lines.push(arg.required ? `.Ar ${name}${arg.variadic ? ' ...' : ''}` : `.Op Ar ${name}`);
  }
  return lines;
}

function optionItem(o: Option): string[] {
  const flag = o.long ?? o.short ?? '';
  const arg = /<([^>]+)>/.exec(o.flags)?.[1];
  return [`.It Fl ${flag.replace(/^-/, '')}${arg ? ` Ar ${arg}` : ''}`, text(`${o.description}.`)];
}

/** Every command that does something, with its place in the tree (vmail accounts add ...). */
function leaves(cmd: Command, path: string[] = ['vmail']): { path: string[]; cmd: Command }[] {
  if (cmd.commands.length === 0) return [{ path, cmd }];
  // A command named __... is for the completion scripts, not for people (hidden from --help too).
  return cmd.commands.filter((c) => !c.name().startsWith('__')).flatMap((c) => leaves(c, [...path, c.name()]));
}

export function manPage(date = new Date()): string {
  const p = program();
  return `${[...synopsisAndDescription(p, date), ...commandsSection(p), ...settingsSection(), ...referenceSections()].join('\n')}\n`;
}

/** NAME, SYNOPSIS (every command) and DESCRIPTION. */
function synopsisAndDescription(p: Command, date: Date): string[] {
  const month = date.toLocaleString('en', { month: 'long', timeZone: 'UTC' });
  const out: string[] = [
    `.Dd ${month} ${date.getUTCDate()}, ${date.getUTCFullYear()}`,
    '.Dt VMAIL 8',
    '.Os',
    '.Sh NAME',
    '.Nm vmail',
    `.Nd ${text(p.description())}`,
    '.Sh SYNOPSIS',
  ];
  for (const { path, cmd } of leaves(p)) out.push(...synopsis(path, cmd), '.Op Ar options', '.Pp');
  out.pop();
  out.push(
    '.Sh DESCRIPTION',
    text(
      'One daemon receives mail for the hosted domains by SMTP, keeps it in Maildirs or forwards it, and serves it to mail clients over POP3.',
    ),
    text(
      "The full-screen console and the other commands manage POP3 accounts and forwarding addresses over the daemon's control socket.",
    ),
    text(
      'Changes are queued and take effect at the next apply, at the top of every hour by default, unless applied at once with',
    ),
    '.Nm',
    '.Cm pending apply .',
  );
  return out;
}

/** COMMANDS: each with its options; the daemon's settings are left to SETTINGS. */
function commandsSection(p: Command): string[] {
  const out: string[] = ['.Sh COMMANDS', '.Bl -tag -width Ds'];
  for (const { path, cmd } of leaves(p)) {
    out.push(
      `.It Nm Cm ${path.slice(1).join(' ')}${cmd.registeredArguments.map((a) => ` Ar ${a.name().toUpperCase()}${a.variadic ? ' ...' : ''}`).join('')}`,
      text(`${cmd.description()}.`),
    );
    const daemon = cmd.name() === 'daemon';
    const opts = cmd.options.filter(
      (o) =>
        !['--help', '--version'].includes(o.long ?? '') && !(daemon && SETTINGS.some((s) => `--${s.key}` === o.long)),
    );
    if (opts.length) out.push('.Bl -tag -width Ds', ...opts.flatMap(optionItem), '.El');
    if (daemon) out.push('It takes every setting of', '.Sx SETTINGS', 'as an option of the same name.');
  }
  out.push('.El');
  return out;
}

/** SETTINGS: every setting of the daemon, where it is read from, and whether SIGHUP reloads it. */
function settingsSection(): string[] {
  const out: string[] = [
    '.Sh SETTINGS',
    'The daemon reads its settings from options, then the environment, then',
    `.Pa ${DEFAULT_CONFIG_FILE}`,
    '(or',
    '.Fl -config ,',
    '.Ev VMAIL_CONFIG ) ,',
    'a TOML file with one key per setting, then the defaults.',
    'Settings marked reloadable take effect on',
    '.Dv SIGHUP ;',
    'the others need a restart.',
    '.Bl -tag -width Ds',
  ];
  for (const s of SETTINGS) {
    out.push(
      `.It Fl -${s.key} Ar ${s.arg}`,
      text(`${s.help}.${s.default ? ` Default: ${s.default}.` : ''}${s.reloadable ? ' Reloadable.' : ''}`),
    );
  }
  out.push('.El');
  return out;
}

/** ENVIRONMENT, FILES, EXIT STATUS, SIGNALS, EXAMPLES and SEE ALSO. */
function referenceSections(): string[] {
  return [
    '.Sh ENVIRONMENT',
    '.Bl -tag -width Ds',
    '.It Ev VMAIL_DATA_DIR',
    'The data directory, when no option gives it.',
    '.It Ev VMAIL_SOCKET',
    'The control socket the commands use, when no option gives it.',
    '.It Ev VMAIL_CONFIG',
    'The settings file.',
    '.It Ev NO_COLOR',
    'The console draws without colours.',
    '.It Ev JOURNAL_STREAM',
    'Set by systemd: log lines carry their priority and no time.',
    '.El',
    '.Sh FILES',
    '.Bl -tag -width Ds',
    `.It Pa ${DEFAULT_CONFIG_FILE}`,
    'The settings.',
    '.It Pa /var/lib/vmail/vmail.sqlite',
    'Accounts, forwards, the queue of changes and the log of applied ones.',
    '.It Pa /var/lib/vmail/mail/ Ns Ar DOMAIN Ns / Ns Ar NAME',
    'One Maildir per account.',
    '.It Pa /var/lib/vmail/archive/',
    'The Maildirs of removed accounts; vmail never deletes them.',
    '.It Pa /var/lib/vmail/queue/',
    'Forwarded mail waiting for the relay.',
    `.It Pa ${SERVICE_SOCKET}`,
    'The control socket of the installed service (group vmail).',
    '.El',
    '.Sh EXIT STATUS',
    '.Bl -tag -width Ds',
    '.It 0',
    'Done.',
    '.It 1',
    'A change the rules refuse, or a runtime failure.',
    '.It 64',
    'A usage error: an unknown command or option, or a missing argument.',
    '.It 69',
    'The daemon cannot be reached.',
    '.It 78',
    'A configuration error.',
    '.El',
    '.Pp',
    'The console exits 130 after Ctrl-C, 129 after',
    '.Dv SIGHUP',
    'and 143 after',
    '.Dv SIGTERM .',
    '.Sh SIGNALS',
    '.Bl -tag -width Ds',
    '.It Dv SIGHUP',
    text(
      'The daemon reads its settings again and applies the reloadable ones, and reads the TLS certificate and key again; open sessions go on.',
    ),
    '.It Dv SIGTERM , Dv SIGINT',
    text(
      'The daemon stops accepting, lets messages being stored and relay attempts under way finish (for up to ten seconds), and exits 0.',
    ),
    '.El',
    '.Sh EXAMPLES',
    'Set up a server for a domain, then add an account and apply at once:',
    '.Bd -literal -offset indent',
    '# vmail setup --domain example.com --hostname mail.example.com',
    "$ echo 's3cret-pass' | vmail accounts add sales --password-stdin",
    '$ vmail forwards add info sales@example.com owner@elsewhere.org',
    '$ vmail pending apply',
    '.Ed',
    '.Sh SEE ALSO',
    '.Xr journalctl 1 ,',
    '.Xr systemctl 1',
  ];
}

// `node dist/src/cli/manpage.js` prints the page.
if (process.argv[1]?.endsWith('manpage.js')) process.stdout.write(manPage());
