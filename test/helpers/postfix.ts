// A real Postfix for tests and benchmarks: Debian's Postfix as a second instance (its own
// configuration, queue and data directories in a temp dir, on a loopback address and port),
// delivering to Maildirs through virtual(8), as a Postfix mail host for virtual domains is set
// up. The tests use it as a remote domain's MX (127.0.0.2:25, 127.0.0.3:25); switches make it
// answer 451 to everything, offer no STARTTLS, or present a given certificate. It only
// receives: its own smtp client and DNS are never used.
//
// An instance never outlives the process that started it: every master started here is
// stopped when that process exits, or is told SIGINT/SIGTERM (a bench stopped with Ctrl-C, a
// test run killed), because a master left listening would take the next run's mail (Postfix
// binds with SO_REUSEPORT, so a second master on the same address shares its connections
// silently). For the same reason a start fails, saying which process holds it, when something
// already listens on the address and port.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './process.js';

/** The masters started here and not yet stopped, by pid: stopped at exit (see above). */
const masters = new Set<number>();

/** Stops every master still running (SIGTERM: the master stops its children and exits). */
function stopMasters(): void {
  for (const pid of masters) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Gone already (stopped by hand, or it died): nothing to stop.
    }
  }
  masters.clear();
}

let watching = false;

/** Stops the masters at exit and on SIGINT/SIGTERM (then dies of the signal, as it would have). */
function stopAtExit(): void {
  if (watching) return;
  watching = true;
  process.on('exit', stopMasters);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = () => {
      stopMasters();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Who listens on TCP `address`:`port` already (a line of ss(8)), or null when nobody does. */
function listener(address: string, port: number): string | null {
  const lines = execFileSync('ss', ['-Hltnp', `( sport = :${port} )`], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim());
  const clash = lines.find((l) => {
    const local = l.trim().split(/\s+/)[3] ?? '';
    const host = local.slice(0, local.lastIndexOf(':'));
    return host === address || host === '0.0.0.0' || host === '*' || host === '[::]';
  });
  return clash ? clash.trim().replace(/\s+/g, ' ') : null;
}

export interface PostfixOptions {
  /** Default 127.0.0.2. */
  address?: string;
  /** Default 25. */
  port?: number;
  /** Its mailboxes: `box@domain`, or `box` for box@example.test. */
  boxes: string[];
  /** `defer`: 451 to every recipient (smtpd_recipient_restrictions = defer). Default `accept`. */
  mode?: 'accept' | 'defer';
  /** `none`: no STARTTLS; a certificate and key (PEM files): STARTTLS with them. Default `none`. */
  tls?: 'none' | { cert: string; key: string };
  /** Its name in the greeting (default postfix.example.test). */
  hostname?: string;
  /**
   * Where it relays mail for domains it does not host (`[127.0.0.2]:25`): a Postfix as a
   * sending server, for the benchmarks. Unset: it only receives.
   */
  relayhost?: string;
  /** Its message_size_limit in bytes (Postfix's default is 10240000); set, the mailboxes have no size cap either. */
  messageSizeLimit?: number;
}

export interface RunningPostfix {
  address: string;
  port: number;
  /** The Maildir of `box` (`box@domain` or `box` of example.test); new/ is where mail lands. */
  maildir: (box: string) => string;
  /** The end of its log, to say why mail did not arrive. */
  logTail: () => string;
  /** Changes the mode or TLS and reloads it. */
  reconfigure: (change: Pick<PostfixOptions, 'mode' | 'tls'>) => void;
  stop: () => void;
  /** Its master process's id (its children are its smtpd, cleanup, qmgr and virtual). */
  pid: () => number;
}

function userIds(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }));
  return { uid: id('-u'), gid: id('-g') };
}

/** Why Postfix cannot run here, or null. */
export function postfixMissing(): string | null {
  if (!existsSync('/usr/sbin/postfix')) return 'Postfix is not installed (apt-get install postfix)';
  if (process.getuid?.() !== 0) return 'starting a Postfix instance needs root';
  return null;
}

const split = (box: string) => (box.includes('@') ? box.split('@') : [box, 'example.test']) as [string, string];

function mainCf(
  dir: string,
  o: Required<Omit<PostfixOptions, 'boxes' | 'relayhost' | 'messageSizeLimit'>> &
    Pick<PostfixOptions, 'relayhost' | 'messageSizeLimit'>,
  domains: string[],
  nobody: number,
): string {
  const tls =
    o.tls === 'none'
      ? ['smtpd_tls_security_level = none']
      : [
          'smtpd_tls_security_level = may',
          `smtpd_tls_cert_file = ${join(dir, 'tls-cert.pem')}`,
          `smtpd_tls_key_file = ${join(dir, 'tls-key.pem')}`,
        ];
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    `myhostname = ${o.hostname}`,
    'mydestination =',
    // master.cf binds the address; Postfix checks inet_interfaces against the interface list, where 127.0.0.2 is not.
    'inet_interfaces = all',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'smtpd_relay_restrictions = permit_mynetworks, reject',
    ...(o.mode === 'defer' ? ['smtpd_recipient_restrictions = defer', 'defer_code = 451'] : []),
    ...tls,
    'smtp_dns_support_level = disabled',
    ...(o.relayhost ? [`relayhost = ${o.relayhost}`, 'default_destination_concurrency_limit = 20'] : []),
    ...(o.messageSizeLimit ? [`message_size_limit = ${o.messageSizeLimit}`, 'virtual_mailbox_limit = 0'] : []),
    `virtual_mailbox_domains = ${domains.join(' ')}`,
    `virtual_mailbox_base = ${dir}/mail`,
    `virtual_mailbox_maps = texthash:${dir}/vmailbox`,
    `virtual_uid_maps = static:${nobody}`,
    `virtual_gid_maps = static:${nobody}`,
    'virtual_minimum_uid = 100',
    'virtual_destination_concurrency_limit = 50',
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    '',
  ].join('\n');
}

/** Starts Postfix on `address`:`port` (default 127.0.0.2:25) with a Maildir for each box. */
export function startPostfix(opts: PostfixOptions): RunningPostfix {
  const o = {
    address: opts.address ?? '127.0.0.2',
    port: opts.port ?? 25,
    mode: opts.mode ?? 'accept',
    tls: opts.tls ?? 'none',
    hostname: opts.hostname ?? 'postfix.example.test',
    relayhost: opts.relayhost,
    messageSizeLimit: opts.messageSizeLimit,
  };
  const taken = listener(o.address, o.port);
  if (taken) throw new Error(`Postfix not started: ${o.address}:${o.port} is taken already (${taken})`);
  const dir = tempDir('postfix-');
  const conf = join(dir, 'conf');
  cpSync('/etc/postfix', conf, { recursive: true });
  for (const sub of ['queue', 'data', 'mail']) mkdirSync(join(dir, sub));
  // Postfix's own processes run as postfix: they reach the queue through the temp dir, and
  // keep their data in a folder of their own; mail is delivered as nobody, into nobody's.
  chmodSync(dir, 0o755);
  const postfix = userIds('postfix');
  chownSync(join(dir, 'data'), postfix.uid, postfix.gid);
  const nobody = 65534;
  chownSync(join(dir, 'mail'), nobody, nobody);
  const domains = [...new Set(opts.boxes.map((b) => split(b)[1]))];
  writeFileSync(
    join(dir, 'vmailbox'),
    opts.boxes.map((b) => `${split(b).join('@')} ${split(b)[1]}/${split(b)[0]}/\n`).join(''),
  );
  const configure = () => {
    if (o.tls !== 'none') {
      copyFileSync(o.tls.cert, join(dir, 'tls-cert.pem'));
      copyFileSync(o.tls.key, join(dir, 'tls-key.pem'));
    }
    writeFileSync(join(conf, 'main.cf'), mainCf(dir, o, domains, nobody));
  };
  configure();
  // Its own address and port, and no chroot (the temp queue has none of the files a chroot needs).
  const master = readFileSync(join(conf, 'master.cf'), 'utf8')
    .split('\n')
    .map((line) => {
      if (/^smtp\s+inet\s/.test(line)) return `${o.address}:${o.port} inet n - n - - smtpd`;
      const f = line.split(/\s+/);
      if (f.length >= 8 && /^[a-z]/.test(line) && !line.startsWith('#')) f[4] = 'n';
      return f.length >= 8 && /^[a-z]/.test(line) ? f.join(' ') : line;
    })
    .join('\n');
  writeFileSync(join(conf, 'master.cf'), master);
  // Postfix tells only a terminal (or its log) why it did not start: run it under script(1).
  const postfixCommand = (verb: string) => {
    try {
      execFileSync('script', ['-qec', `postfix -c ${conf} ${verb}`, '/dev/null'], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`Postfix ${verb} failed: ${String((err as { stdout?: Buffer }).stdout ?? '').trim()}`);
    }
  };
  stopAtExit();
  postfixCommand('start');
  const masterPid = Number(readFileSync(join(dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
  masters.add(masterPid);
  return {
    address: o.address,
    port: o.port,
    maildir: (box) => join(dir, 'mail', split(box)[1], split(box)[0]),
    logTail: () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8').slice(-1500) : ''),
    reconfigure: (change) => {
      Object.assign(o, change);
      configure();
      postfixCommand('reload');
    },
    pid: () => Number(readFileSync(join(dir, 'queue/pid/master.pid'), 'utf8').trim()),
    stop: () => {
      masters.delete(masterPid);
      try {
        execFileSync('postfix', ['-c', conf, 'stop'], { stdio: 'pipe' });
      } catch {
        // Already stopped (or its configuration is gone): the signal below stops it either way.
      }
      try {
        process.kill(masterPid, 'SIGTERM');
      } catch {
        // Stopped by the command above: nothing left to stop.
      }
    },
  };
}
