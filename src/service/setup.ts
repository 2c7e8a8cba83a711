// `vmail setup`: a fresh Debian server (or any with systemd) from nothing to a running mail
// service for a domain. Makes the system user and group vmail, /var/lib/vmail, the settings
// file /etc/vmail/vmail.conf, and a hardened systemd unit that runs the daemon as vmail with
// the one capability it needs (binding ports 25, 110 and 995). Idempotent: what is there is
// kept (the settings file is never overwritten), and --dry-run only says what it would do.
// --root writes under another directory, as a packager's staging tree or a test would.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '../model/errors.js';
import { normalizeDomain } from '../model/names.js';
import { writeAtomicSync } from '../support/durable.js';
import { PACKAGE_ROOT } from '../support/package-root.js';

export interface SetupOptions {
  domain: string;
  hostname: string;
  /** Where postmaster@ the hosted domains goes (--postmaster; default root's mail, root@HOSTNAME). */
  postmaster?: string;
  /** Where / is: the real root, or a staging directory. */
  root: string;
  dryRun: boolean;
}

export interface SetupStep {
  what: string;
  outcome: 'made' | 'kept' | 'updated' | 'would make' | 'would update' | 'done' | 'would do' | 'note';
}

export const USER = 'vmail';

/** The unit, with the hardening that fits a mail daemon that writes only its own state. */
export function unitFile(execStart: string): string {
  return `# vmail: written by \`vmail setup\`; \`vmail setup\` again rewrites it (settings go in /etc/vmail/vmail.conf)
[Unit]
Description=vmail mail service (SMTP intake, POP3, the hourly apply)
Documentation=man:vmail(8)
After=network-online.target
Wants=network-online.target

[Service]
# The daemon says READY=1 once every listener is up, RELOADING=1 and READY=1 around a reload,
# STOPPING=1 when it stops, and a STATUS= line (systemctl status vmail).
Type=notify
NotifyAccess=main
ExecStart=${execStart} daemon --config /etc/vmail/vmail.conf
ExecReload=/bin/kill -HUP $MAINPID
SyslogIdentifier=vmail
User=${USER}
Group=${USER}
UMask=0027
# Ports 25, 110 and 995 without root; nothing else.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=true
# /var/lib/vmail (mail, queue, store) and /run/vmail (the control socket, for group ${USER}).
StateDirectory=vmail
StateDirectoryMode=0750
RuntimeDirectory=vmail
RuntimeDirectoryMode=0750
ProtectSystem=strict
# /home, /root and /run/user are hidden from the daemon. To import Maildirs from a home folder,
# make it ProtectHome=read-only (a copy), and add ReadWritePaths=/home/OLD for --move.
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
SystemCallArchitectures=native
Restart=on-failure
# A bad setting (78) or a usage error (64) is not fixed by starting again.
RestartPreventExitStatus=64 78
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;
}

export function configFile(domain: string, hostname: string, postmaster = `root@${hostname}`): string {
  return `# vmail settings. Every daemon flag has a key of the same name here (vmail daemon --help,
# man vmail); flags given on the command line win over this file. After a change:
#   vmail config check              checks this file and shows where each setting comes from
#   systemctl reload vmail          applies certificate, relay, limits and log-level
#   systemctl restart vmail         applies everything else

domain = ["${domain}"]
hostname = "${hostname}"
data-dir = "/var/lib/vmail"
socket = "/run/vmail/control.sock"
user = "${USER}"
# postmaster@ every hosted domain without a postmaster account or forward of its own goes here:
postmaster = "${postmaster}"

pop3 = "0.0.0.0:110"
smtp = "0.0.0.0:25"
# With a certificate (certbot renews it; reload picks it up):
# pop3s = "0.0.0.0:995"
# tls-cert = "/etc/letsencrypt/live/${hostname}/fullchain.pem"
# tls-key = "/etc/letsencrypt/live/${hostname}/privkey.pem"

# Where forwarded mail goes out (a smarthost that accepts your forwarding):
# relay = "smtp://smarthost.example.net:25"
# A smarthost that wants a login (STARTTLS, its certificate verified, then AUTH):
# relay = "smtp://USER:PASSWORD@smarthost.example.net:587"
# A private relay whose certificate a CA of your own signs:
# relay-ca-file = "/etc/vmail/relay-ca.pem"

# log-level = "info"
`;
}

/** The ids of `user` in the system rooted at `root`. */
function idsOf(root: string): { uid: number; gid: number } | null {
  if (root === '/') {
    try {
      const id = (flag: string) =>
        Number(execFileSync('id', [flag, USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      // id fails when there is no such user: setup makes it. Should id itself fail, useradd
      // refuses a user that exists, or the look after it finds none, and setup says so.
      return null;
    }
  }
  const line = existsSync(join(root, 'etc/passwd'))
    ? readFileSync(join(root, 'etc/passwd'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${USER}:`))
    : undefined;
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Whether the group vmail exists in the system rooted at `root`. */
function groupExists(root: string): boolean {
  if (root === '/') {
    try {
      execFileSync('getent', ['group', USER], { stdio: 'ignore' });
      return true;
    } catch {
      // getent exits 2 for a group it does not know: useradd makes it with the user.
      return false;
    }
  }
  const file = join(root, 'etc/group');
  return (
    existsSync(file) &&
    readFileSync(file, 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${USER}:`))
  );
}

/** useradd, for a system user vmail (in the group vmail if there is one); its own words if it refuses. */
function makeUser(root: string, step: (what: string, outcome: SetupStep['outcome']) => void): void {
  const prefix: string[] = [];
  if (root !== '/') {
    // useradd --prefix edits the staging tree's own user files.
    mkdirSync(join(root, 'etc'), { recursive: true });
    for (const f of ['passwd', 'group', 'shadow', 'gshadow'])
      if (!existsSync(join(root, `etc/${f}`))) writeFileSync(join(root, `etc/${f}`), '');
    prefix.push('--prefix', root);
  }
  // A host moving from Postfix and Dovecot often has a group vmail already: the user joins it.
  const group = groupExists(root);
  try {
    execFileSync(
      'useradd',
      [
        ...prefix,
        '--system',
        ...(group ? ['--gid', USER] : ['--user-group']),
        '--home-dir',
        '/var/lib/vmail',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        USER,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
    );
  } catch (err) {
    const said = String((err as { stderr?: string }).stderr ?? '').trim() || (err as Error).message;
    throw new Error(`useradd could not make the user ${USER}: ${said.split('\n').join('; ')}`);
  }
  if (group) step(`group ${USER} (there already: the user ${USER} joins it)`, 'kept');
}

/** ProtectHome=true hides these from the service: a node or vmail installed there cannot run. */
const hiddenByProtectHome = (path: string) => /^\/(home|root|run\/user)(\/|$)/.test(path);

export function setup(opts: SetupOptions, report: (step: SetupStep) => void = () => {}): SetupStep[] {
  const domain = normalizeDomain(opts.domain);
  if (!opts.dryRun && process.getuid?.() !== 0) {
    throw new InputError(
      'vmail setup makes a system user and writes to /etc: run it as root (or see what it would do with --dry-run)',
    );
  }
  const steps: SetupStep[] = [];
  const step = (what: string, outcome: SetupStep['outcome']) => {
    const s = { what, outcome };
    steps.push(s);
    report(s);
  };
  const at = (path: string) => join(opts.root, path);

  // The system user and group.
  let ids = idsOf(opts.root);
  if (ids) step(`user and group ${USER}`, 'kept');
  else if (opts.dryRun) step(`user and group ${USER} (system, no login, home /var/lib/vmail)`, 'would make');
  else {
    makeUser(opts.root, step);
    ids = idsOf(opts.root);
    if (!ids) throw new Error(`useradd did not make the user ${USER}`);
    step(`user and group ${USER}`, 'made');
  }

  const dir = (path: string, mode: number, owner: 'root' | 'vmail') => {
    if (existsSync(at(path))) return step(`${path} (${mode.toString(8)})`, 'kept');
    if (opts.dryRun)
      return step(
        `${path} (${mode.toString(8)}, ${owner === 'root' ? `root:${USER}` : `${USER}:${USER}`})`,
        'would make',
      );
    mkdirSync(dirname(at(path)), { recursive: true, mode: 0o755 });
    mkdirSync(at(path), { mode });
    chmodSync(at(path), mode);
    chownSync(at(path), owner === 'root' ? 0 : ids!.uid, ids!.gid);
    step(`${path} (${mode.toString(8)})`, 'made');
  };
  dir('/var/lib/vmail', 0o750, 'vmail');
  dir('/etc/vmail', 0o750, 'root');

  // The settings: written once, then the admin's.
  const conf = '/etc/vmail/vmail.conf';
  if (existsSync(at(conf))) {
    const text = readFileSync(at(conf), 'utf8');
    step(
      text.includes(`"${domain}"`)
        ? conf
        : `${conf} (it does not name ${domain}: add it with vmail domains add ${domain})`,
      'kept',
    );
  } else if (opts.dryRun) step(`${conf} for ${domain}`, 'would make');
  else {
    writeAtomicSync(at(conf), configFile(domain, opts.hostname, opts.postmaster), { mode: 0o640 });
    chmodSync(at(conf), 0o640);
    chownSync(at(conf), 0, ids!.gid);
    step(`${conf} for ${domain}`, 'made');
  }

  // The unit: vmail's, rewritten when it differs (a new Node.js or package path).
  const unitPath = '/etc/systemd/system/vmail.service';
  // By real paths: the unit runs the node and vmail that ran this setup, wherever links point.
  const nodePath = realpathSync(process.execPath);
  const vmailJs = realpathSync(join(PACKAGE_ROOT, 'bin/vmail.js'));
  const unit = unitFile(`${nodePath} ${vmailJs}`);
  for (const [what, path] of [
    ['Node.js', nodePath],
    ['vmail', vmailJs],
  ])
    if (hiddenByProtectHome(path))
      step(
        `${what} is at ${path}, which the unit's ProtectHome=true hides from the service: install it under /usr/local (e.g. Debian's nodejs, or npm install -g with prefix /usr/local) and run vmail setup again`,
        'note',
      );
  const current = existsSync(at(unitPath)) ? readFileSync(at(unitPath), 'utf8') : null;
  if (current === unit) step(unitPath, 'kept');
  else if (opts.dryRun) step(unitPath, current === null ? 'would make' : 'would update');
  else {
    mkdirSync(dirname(at(unitPath)), { recursive: true });
    // Whole or not at all: a unit cut short by a crash would keep the service from starting.
    writeAtomicSync(at(unitPath), unit, { mode: 0o644 });
    step(unitPath, current === null ? 'made' : 'updated');
  }

  // Started at boot, and now, where systemd runs this system.
  const systemd = opts.root === '/' && existsSync('/run/systemd/system');
  if (systemd) {
    if (opts.dryRun) step('systemctl daemon-reload; systemctl enable --now vmail', 'would do');
    else {
      execFileSync('systemctl', ['daemon-reload'], { stdio: 'ignore' });
      execFileSync('systemctl', ['enable', '--now', 'vmail'], { stdio: 'ignore' });
      step('systemctl enable --now vmail', 'done');
    }
  }
  return steps;
}

/** What the admin does next, after the steps. */
export function nextSteps(opts: SetupOptions, systemdRuns: boolean): string[] {
  return [
    '',
    'Next:',
    ...(systemdRuns
      ? []
      : [
          `  start it:        systemctl daemon-reload && systemctl enable --now vmail`,
          `  (no systemd?)    vmail daemon --config /etc/vmail/vmail.conf   (it drops to user ${USER})`,
        ]),
    `  DNS:             ${opts.domain}. MX 10 ${opts.hostname}.   (and an A record for ${opts.hostname})`,
    `  admins:          usermod -aG ${USER} NAME   (then they run vmail console without sudo)`,
    '  check:           vmail config check; vmail status',
  ];
}
