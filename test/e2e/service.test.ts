// vmail as a service on a real server: `vmail setup` into a temp root (so no real systemd is
// needed), every file it writes checked, the unit verified by systemd-analyze, the settings
// file checked by `vmail config check`, and the daemon run as an unprivileged user (created
// here) that receives and serves mail; its log lines fed to fail2ban-regex with the shipped
// filter; SIGHUP with a renewed certificate. Needs root (to make users), systemd-analyze,
// mandoc and fail2ban from Debian (.ci/run installs them).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { pop3Login, smtpSend } from '../helpers/effects.js';
import { idOf, makeUsers, type Users, vmailAs } from '../helpers/users.js';

const run = promisify(execFile);
const tag = `${process.pid % 100000}`;
const USER = `vmsvc${tag}`;
const ADMIN = `vmadm${tag}`;
const OUTSIDER = `vmout${tag}`;

/** The lines of /proc/PID/status that say who a process is and what it may do. */
function identity(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Uid|Gid|Groups|CapEff|CapPrm):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

let root: string;
let users: Users;

beforeAll(() => {
  users = makeUsers([USER, ADMIN, OUTSIDER]);
  execFileSync('usermod', ['-aG', USER, ADMIN]);
  root = tempDir('vmail-root-');
  // As / is: anyone may pass through.
  execFileSync('chmod', ['755', root]);
});

afterAll(() => users.remove());

describe('vmail setup', () => {
  it('writes the user, the folders, the settings and a unit systemd accepts; again, it keeps them', async () => {
    const dry = await runCli([
      'setup',
      '--domain',
      'example.com',
      '--hostname',
      'mail.example.com',
      '--root',
      root,
      '--dry-run',
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would make\s+user and group vmail/);
    expect(existsSync(join(root, 'etc/vmail'))).toBe(false);

    const first = await runCli(['setup', '--domain', 'example.com', '--hostname', 'mail.example.com', '--root', root]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.match(/^ {2}made /gm)).toHaveLength(5);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const [, , uid, gid, , home, shell] = passwd
      .split('\n')
      .find((l) => l.startsWith('vmail:'))!
      .split(':');
    expect([home, shell]).toEqual(['/var/lib/vmail', '/usr/sbin/nologin']);
    expect(Number(uid)).toBeLessThan(1000);
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).toMatch(new RegExp(`^vmail:x:${gid}:`, 'm'));
    const mode = (p: string) => statSync(join(root, p)).mode & 0o777;
    const owner = (p: string) => [statSync(join(root, p)).uid, statSync(join(root, p)).gid];
    expect([mode('var/lib/vmail'), owner('var/lib/vmail')]).toEqual([0o750, [Number(uid), Number(gid)]]);
    expect([mode('var/lib'), mode('etc/vmail'), owner('etc/vmail')]).toEqual([0o755, 0o750, [0, Number(gid)]]);
    expect([mode('etc/vmail/vmail.conf'), owner('etc/vmail/vmail.conf')]).toEqual([0o640, [0, Number(gid)]]);
    const conf = readFileSync(join(root, 'etc/vmail/vmail.conf'), 'utf8');
    expect(conf).toMatch(/^domain = \["example\.com"\]$/m);
    expect(conf).toMatch(/^hostname = "mail\.example\.com"$/m);
    expect(conf).toMatch(/^user = "vmail"$/m);
    expect(conf).toMatch(/^socket = "\/run\/vmail\/control\.sock"$/m);

    const unitPath = join(root, 'etc/systemd/system/vmail.service');
    const unit = readFileSync(unitPath, 'utf8');
    for (const line of [
      'User=vmail',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
      'StateDirectory=vmail',
      'RuntimeDirectory=vmail',
      'UMask=0027',
      'Restart=on-failure',
      'RestartPreventExitStatus=64 78',
      'ProtectSystem=strict',
      'NoNewPrivileges=true',
      'PrivateTmp=true',
      'ExecReload=/bin/kill -HUP $MAINPID',
      // Ready when every listener is (sd_notify), and its journal lines under vmail's name.
      'Type=notify',
      'NotifyAccess=main',
      'SyslogIdentifier=vmail',
    ]) {
      expect(unit).toContain(`${line}\n`);
    }
    expect(unit).toMatch(
      new RegExp(
        `^ExecStart=${realpathSync(process.execPath)} ${realpathSync(join(ROOT, 'bin/vmail.js'))} daemon --config /etc/vmail/vmail.conf$`,
        'm',
      ),
    );
    // systemd's own check, with this package's manual where Documentation= points.
    const verify = await run('systemd-analyze', ['verify', unitPath], {
      env: { ...process.env, MANPATH: `${join(ROOT, 'man')}:` },
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
    );
    expect(verify, verify.out).toMatchObject({ code: 0 });
    expect(verify.out).not.toMatch(/vmail\.service.*(error|not executable|Unknown|failed)/i);

    // Again: nothing is made twice, and the settings the admin may have edited stay.
    writeFileSync(join(root, 'etc/vmail/vmail.conf'), `${conf}log-level = "debug"\n`);
    const again = await runCli(['setup', '--domain', 'example.com', '--hostname', 'mail.example.com', '--root', root]);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/^ {2}kept /gm)).toHaveLength(5);
    expect(readFileSync(join(root, 'etc/vmail/vmail.conf'), 'utf8')).toMatch(/log-level = "debug"/);
  });
});

describe('vmail setup on a host that has a group vmail already (as one moving from Postfix and Dovecot)', () => {
  it('makes the user vmail in that group, and says so', async () => {
    const other = tempDir('vmail-root-group-');
    mkdirSync(join(other, 'etc'));
    writeFileSync(join(other, 'etc/group'), 'root:x:0:\nvmail:x:5000:dovecot\n');
    for (const f of ['passwd', 'shadow', 'gshadow']) writeFileSync(join(other, `etc/${f}`), '');
    const r = await runCli(['setup', '--domain', 'example.com', '--hostname', 'mail.example.com', '--root', other]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/kept\s+group vmail \(there already/);
    const user = readFileSync(join(other, 'etc/passwd'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('vmail:'))!;
    expect(user.split(':')[3]).toBe('5000');
    // The group is the one it was, its members kept.
    expect(readFileSync(join(other, 'etc/group'), 'utf8')).toMatch(/^vmail:x:5000:dovecot$/m);
  });

  it('a useradd that refuses says why, in its own words', async () => {
    const other = tempDir('vmail-root-bad-');
    mkdirSync(join(other, 'etc'));
    // A shadow file useradd cannot open (here a folder where the file should be).
    for (const f of ['passwd', 'group', 'gshadow']) writeFileSync(join(other, `etc/${f}`), '');
    mkdirSync(join(other, 'etc/shadow'));
    const r = await runCli(['setup', '--domain', 'example.com', '--hostname', 'mail.example.com', '--root', other]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/useradd could not make the user vmail: useradd: cannot open \S*etc\/shadow/);
    expect(r.stderr).not.toMatch(/Command failed/);
  });
});

describe('vmail config check', () => {
  it('prints every setting with where it came from, and refuses a bad file with its line and status 78', async () => {
    const file = join(root, 'etc/vmail/vmail.conf');
    const ok = await runCli(['config', 'check', '--config', file, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const { settings } = JSON.parse(ok.stdout);
    expect(settings.domain).toEqual({ value: ['example.com'], source: `${file}:7` });
    expect(settings['log-level'].value).toBe('debug');
    expect(settings.relay).toEqual({ value: null, source: 'default' });
    expect(settings['max-message-size']).toEqual({ value: '25M', source: 'default' });
    const text = await runCli(['config', 'check', '--config', file]);
    expect(text.stdout).toMatch(/^ {2}hostname\s+mail\.example\.com\s+\S+vmail\.conf:8$/m);

    const bad = (body: string) => {
      const f = join(tempDir(), 'bad.conf');
      writeFileSync(f, body);
      return runCli(['config', 'check', '--config', f]).then((r) => ({ ...r, f }));
    };
    const unknown = await bad('# a comment\ndomain = "example.com"\nsmpt = "0.0.0.0:25"\n');
    expect(unknown.code).toBe(78);
    expect(unknown.stderr).toBe(`vmail: ${unknown.f}:3: unknown setting "smpt": did you mean smtp?\n`);
    const value = await bad('domain = "example.com"\nmax-message-size = "lots"\n');
    expect(value.code).toBe(78);
    expect(value.stderr).toBe(`vmail: ${value.f}:2: max-message-size "lots": write a size like 25M, 512K or 1048576\n`);
    // A store URL's password is never shown; a node name with a space, or a store URL it
    // cannot read, is refused with the line.
    const withStore = await bad(
      'domain = "example.com"\nstore = "postgres://vmail:s3cret@db.example.com/vmail"\nnode = "mx1"\n',
    );
    expect(withStore.code, withStore.stderr).toBe(0);
    expect(withStore.stdout).toMatch(/^ {2}store\s+postgres:\/\/vmail@db\.example\.com\/vmail\s/m);
    expect(withStore.stdout).not.toContain('s3cret');
    const json = await runCli(['config', 'check', '--config', withStore.f, '--json']);
    expect(json.stdout).not.toContain('s3cret');
    const node = await bad('domain = "example.com"\nnode = "mx 1"\n');
    expect(node.code).toBe(78);
    expect(node.stderr).toBe(
      `vmail: ${node.f}:2: node "mx 1": letters, digits, '.', '_' and '-', up to 52 (PostgreSQL keeps 63 bytes of a connection's name, vmail-node:NAME)\n`,
    );
    const store = await bad('domain = "example.com"\nstore = "mysql://db/vmail"\n');
    expect(store.code).toBe(78);
    expect(store.stderr).toBe(
      `vmail: ${store.f}:2: store: write sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE\n`,
    );
    const syntax = await bad('domain = "example.com\n');
    expect(syntax.code).toBe(78);
    expect(syntax.stderr).toMatch(new RegExp(`^vmail: ${syntax.f}:1: .+\\n$`));
    // The daemon refuses to start on it, with the same line and status, so systemd does not loop.
    const daemon = await runCli(['daemon', '--config', value.f]);
    expect(daemon.code).toBe(78);
    expect(daemon.stderr.trimEnd().split('\n').at(-1)).toMatch(/max-message-size "lots"/);
  });
});

describe('the daemon as an unprivileged user', () => {
  it('binds, drops to the user, keeps its files to it, receives and serves mail; admins in its group use the socket', async () => {
    const data = join(root, 'var/lib/vmail');
    const socket = join(root, 'run/vmail/control.sock');
    const dir = tempDir();
    execFileSync('chmod', ['755', dir]);
    // The certificate belongs to the daemon's user, as certbot's deploy hook would leave it.
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const newCert = (cn: string) =>
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          `/CN=${cn}`,
        ],
        { stdio: 'ignore' },
      );
    newCert('first.example.com');
    execFileSync('chown', [`${USER}:${USER}`, cert, key]);
    const secret = join(dir, 'root-only.txt');
    writeFileSync(secret, 'root only', { mode: 0o600 });
    const conf = join(dir, 'vmail.conf');
    writeFileSync(
      conf,
      [
        'domain = ["example.com"]',
        'hostname = "mail.example.com"',
        `data-dir = "${data}"`,
        `socket = "${socket}"`,
        `user = "${USER}"`,
        'pop3 = "127.0.0.1:0"',
        'smtp = "127.0.0.1:0"',
        'submission = "0"',
        'submissions = "0"',
        'http = "0"',
        'https = "0"',
        `tls-cert = "${cert}"`,
        `tls-key = "${key}"`,
        'auth-failure-delay = "1ms"',
        '',
      ].join('\n'),
    );
    mkdirSync(join(root, 'run'), { mode: 0o755 });
    const proc = spawn(process.execPath, [VMAIL, 'daemon', '--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let log = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (log += d));
    try {
      await waitFor(() => out.includes('ready'), 'the daemon to be ready', 15_000).catch((e) => {
        throw new Error(`${(e as Error).message}\n${out}\n${log}`);
      });
      const pop3 = Number(/pop3=(\d+)/.exec(out)![1]);
      const smtp = Number(/smtp=(\d+)/.exec(out)![1]);
      const uid = idOf(USER, '-u');
      const gid = idOf(USER, '-g');
      // Who it is now: the user, its group, no root group, no capabilities.
      const who = identity(proc.pid!);
      expect(who.Uid.split(/\s+/).map(Number)).toEqual([uid, uid, uid, uid]);
      expect(who.Gid.split(/\s+/).map(Number)).toEqual([gid, gid, gid, gid]);
      expect(who.Groups.split(/\s+/).filter(Boolean).map(Number)).not.toContain(0);
      expect(who.CapEff).toBe('0000000000000000');
      expect(log).toMatch(new RegExp(` daemon became user user=${USER} uid=${uid} gid=${gid}`));
      // Its files are the user's; the socket is for the user's group.
      for (const p of [data, join(data, 'vmail.sqlite'), join(root, 'run/vmail')]) expect(statSync(p).uid, p).toBe(uid);
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      expect(statSync(socket).gid).toBe(gid);
      // What root alone may read stays out of its reach: its own user is refused.
      const peek = await run('runuser', ['-u', USER, '--', 'cat', secret]).then(
        () => 'read',
        () => 'refused',
      );
      expect(peek).toBe('refused');

      // An admin in the group uses the socket without sudo; someone else cannot.
      const asUser = (user: string, args: string[], input?: string) => vmailAs(user, args, socket, input);
      expect((await asUser(ADMIN, ['accounts', 'add', 'sales', '--password-stdin'], 'sales-pass-1\n')).code).toBe(0);
      expect((await asUser(ADMIN, ['pending', 'apply'])).stdout).toMatch(/Applied 1 change/);
      const outsider = await asUser(OUTSIDER, ['status']);
      expect(outsider.code).toBe(69);
      expect(outsider.stderr).toMatch(/permission denied/);

      // Mail in by SMTP, out by POP3, through the unprivileged daemon.
      expect(await smtpSend(smtp, 'sales@example.com', 'service-walk')).toEqual({ accepted: true });
      expect(await pop3Login(pop3, 'sales', 'sales-pass-1')).toMatchObject({ ok: true, stat: [1, expect.any(Number)] });
      for (let i = 0; i < 3; i++) expect((await pop3Login(pop3, 'sales', `wrong-${i}`)).ok).toBe(false);
      expect((await smtpSend(smtp, 'someone@elsewhere.example', 'relay-try')).code).toBe(550);

      // The log lines admins grep, and fail2ban matches: one per failed login, one per relay try.
      await waitFor(() => (log.match(/pop3 login failed/g) ?? []).length === 3, 'the failures to be logged');
      expect(log).toMatch(
        / info smtp accepted id=[0-9a-f]+ client=127\.0\.0\.1 helo=\S+ from=<sender@elsewhere\.example> to=<sales@example\.com> where=maildir size=\d+ tls=false\n/,
      );
      expect(log).toMatch(/ info pop3 login user=sales@example\.com rip=127\.0\.0\.1\n/);
      const logFile = join(dir, 'vmail.log');
      writeFileSync(logFile, log);
      const f2b = await run('fail2ban-regex', [
        '--print-all-matched',
        logFile,
        join(ROOT, 'contrib/fail2ban/filter.d/vmail.conf'),
      ]);
      expect(f2b.stdout).toMatch(/^Lines: \d+ lines, 0 ignored, 4 matched, \d+ missed/m);
      expect(f2b.stdout).toMatch(/127\.0\.0\.1/);

      // SIGHUP: a renewed certificate is read again; a session open across it goes on.
      const stlsSubject = async () => {
        const { stdout } = await run('sh', [
          '-c',
          `timeout 5 openssl s_client -connect 127.0.0.1:${pop3} -starttls pop3 </dev/null 2>/dev/null | openssl x509 -noout -subject`,
        ]);
        return stdout.trim();
      };
      expect(await stlsSubject()).toMatch(/CN\s*=\s*first\.example\.com/);
      const { RawPop3 } = await import('../helpers/pop3.js');
      const open = await RawPop3.open(pop3);
      await open.login('sales', 'sales-pass-1');
      newCert('renewed.example.com');
      execFileSync('chown', [`${USER}:${USER}`, cert, key]);
      proc.kill('SIGHUP');
      await waitFor(() => / daemon reloaded changed=nothing certificate="read again"/.test(log), 'the reload');
      expect(await stlsSubject()).toMatch(/CN\s*=\s*renewed\.example\.com/);
      expect(await open.cmd('STAT')).toMatch(/^\+OK 1 \d+$/);
      await open.quit();
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.on('exit', r));
      }
    }
    expect(log).toMatch(/ daemon stopping signal=SIGTERM/);
  }, 60_000);
});
