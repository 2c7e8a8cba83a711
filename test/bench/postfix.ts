// A Postfix of its own for the SMTP benchmark: Debian's Postfix as a second instance (its own
// configuration, queue and data directories in a temp dir, on a loopback port), delivering to
// Maildirs through virtual(8), as a Postfix mail host for virtual domains is set up.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/process.js';

export interface RunningPostfix {
  port: number;
  /** The Maildir of `box` (new/ is where a delivered message lands). */
  maildir: (box: string) => string;
  /** The end of its log, to say why mail did not arrive. */
  logTail: () => string;
  stop: () => void;
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

/** Starts Postfix on 127.0.0.1:`port` with a Maildir for each of `boxes`@example.test. */
export function startPostfix(port: number, boxes: string[]): RunningPostfix {
  const dir = tempDir('postfix-bench-');
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
  writeFileSync(join(dir, 'vmailbox'), boxes.map((b) => `${b}@example.test example.test/${b}/\n`).join(''));
  writeFileSync(
    join(conf, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dir}/queue`,
      `data_directory = ${dir}/data`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = postfix-bench.example.test',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      'virtual_mailbox_domains = example.test',
      `virtual_mailbox_base = ${dir}/mail`,
      `virtual_mailbox_maps = texthash:${dir}/vmailbox`,
      `virtual_uid_maps = static:${nobody}`,
      `virtual_gid_maps = static:${nobody}`,
      'virtual_minimum_uid = 100',
      'virtual_destination_concurrency_limit = 50',
      `maillog_file = ${dir}/maillog`,
      `maillog_file_prefixes = ${dir}`,
      '',
    ].join('\n'),
  );
  // Its own port, and no chroot (the temp queue has none of the files a chroot needs).
  const master = readFileSync(join(conf, 'master.cf'), 'utf8')
    .split('\n')
    .map((line) => {
      if (/^smtp\s+inet\s/.test(line)) return `127.0.0.1:${port} inet n - n - - smtpd`;
      const f = line.split(/\s+/);
      if (f.length >= 8 && /^[a-z]/.test(line) && !line.startsWith('#')) f[4] = 'n';
      return f.length >= 8 && /^[a-z]/.test(line) ? f.join(' ') : line;
    })
    .join('\n');
  writeFileSync(join(conf, 'master.cf'), master);
  // Postfix tells only a terminal (or its log) why it did not start: run it under script(1).
  try {
    execFileSync('script', ['-qec', `postfix -c ${conf} start`, '/dev/null'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`Postfix did not start: ${String((err as { stdout?: Buffer }).stdout ?? '').trim()}`);
  }
  return {
    port,
    maildir: (box) => join(dir, 'mail/example.test', box),
    logTail: () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8').slice(-1500) : ''),
    stop: () => {
      try {
        execFileSync('postfix', ['-c', conf, 'stop'], { stdio: 'pipe' });
      } catch {
        // Already stopped.
      }
    },
  };
}
