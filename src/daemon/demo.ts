// `vmail up` (and `npm start`): a daemon on a demo data dir, seeded on first use from
// fixtures/demo/seed.json through the daemon's own doors (the control socket for accounts and
// forwards, SMTP for the mail), so the console opens on a domain with something in it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { ControlClient } from '../control/client.js';
import { answers } from '../control/server.js';
import { PACKAGE_ROOT } from '../support/package-root.js';

interface Seed {
  domain: string;
  accounts: { name: string; password: string; messages: string[] }[];
  forwards: { name: string; destinations: string[] }[];
  pending: { kind: 'account'; action: 'add' | 'password'; name: string; password: string }[];
}

export interface Demo {
  socketPath: string;
  /** True when this call started the daemon (and stop() will end it). */
  started: boolean;
  stop(): Promise<void>;
}

export async function startDemo(dataDir: string, socketPath = join(dataDir, 'control.sock')): Promise<Demo> {
  if (await answers(socketPath)) return { socketPath, started: false, stop: async () => {} };
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  const fresh = !existsSync(join(dataDir, 'vmail.sqlite'));
  const seed = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'fixtures/demo/seed.json'), 'utf8')) as Seed;
  const log = openSync(join(dataDir, 'daemon.log'), 'a');
  // The demo runs on its flags alone: a server's /etc/vmail/vmail.conf (its store, ports, user,
  // certificate) or a VMAIL_* variable of the admin's shell must not make it join, or collide
  // with, the real service.
  const conf = join(dataDir, 'demo.conf');
  writeFileSync(conf, "# vmail up's demo daemon: no settings but its flags (a server's own config is not read).\n");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VMAIL_')));
  const child = spawn(
    process.execPath,
    [
      join(PACKAGE_ROOT, 'bin/vmail.js'),
      'daemon',
      '--data-dir',
      dataDir,
      '--socket',
      socketPath,
      '--domain',
      seed.domain,
      '--pop3',
      '127.0.0.1:0',
      '--smtp',
      '127.0.0.1:0',
      '--submission',
      '127.0.0.1:0',
      '--submissions',
      '0',
      '--http',
      '127.0.0.1:0',
      '--config',
      conf,
    ],
    { stdio: ['ignore', log, log], env },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForSocket(socketPath, child, dataDir);
    if (fresh) await seedDemo(socketPath, seed);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socketPath, started: true, stop };
}

async function waitForSocket(socketPath: string, child: ChildProcess, dataDir: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) {
      const tail = readFileSync(join(dataDir, 'daemon.log'), 'utf8').trim().split('\n').slice(-1)[0];
      throw new Error(`the demo daemon stopped: ${tail}`);
    }
    if (await answers(socketPath, 200)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the demo daemon did not answer on ${socketPath}; see ${join(dataDir, 'daemon.log')}`);
}

async function seedDemo(socketPath: string, seed: Seed): Promise<void> {
  const c = await ControlClient.connect(socketPath);
  try {
    for (const a of seed.accounts) await c.call('accounts.add', { name: a.name, password: a.password });
    for (const f of seed.forwards) await c.call('forwards.add', { name: f.name, destinations: f.destinations });
    await c.call('pending.apply');
    const status = await c.call('status');
    const smtp = nodemailer.createTransport({
      host: '127.0.0.1',
      port: status.smtp.port!,
      secure: false,
      ignoreTLS: true,
    });
    for (const a of seed.accounts) {
      for (const file of a.messages) {
        const raw = readFileSync(join(PACKAGE_ROOT, 'fixtures/messages', file));
        await smtp.sendMail({ envelope: { from: 'demo@example.org', to: [`${a.name}@${seed.domain}`] }, raw });
      }
    }
    smtp.close();
    for (const p of seed.pending) {
      await c.call(p.action === 'add' ? 'accounts.add' : 'accounts.passwd', { name: p.name, password: p.password });
    }
  } finally {
    c.close();
  }
}
