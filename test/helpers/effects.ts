// Checks a change by what it does, with real clients: can this address log in over POP3
// (Python's poplib), is mail to it accepted over SMTP (nodemailer), where did the mail land.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { expect } from 'vitest';
import { type DaemonHandle, ROOT } from './process.js';

const run = promisify(execFile);

export interface LoginResult {
  ok: boolean;
  stat?: [number, number];
  error?: string;
}

/** Logs in with poplib (USER/PASS, or AUTH PLAIN) and quits. */
export async function pop3Login(
  port: number,
  user: string,
  password: string,
  mode: 'user' | 'auth-plain' = 'user',
): Promise<LoginResult> {
  const hex = `hex:${Buffer.from(password, 'utf8').toString('hex')}`;
  const { stdout } = await run('python3', [join(ROOT, 'test/helpers/pop3_login.py'), String(port), user, hex, mode]);
  return JSON.parse(stdout) as LoginResult;
}

/** Every message's UIDL, in order, as poplib gets them (USER/PASS). */
export async function pop3Uidls(port: number, user: string, password: string): Promise<string[]> {
  const py = `
import poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1])); p.user(sys.argv[2]); p.pass_(sys.argv[3])
print('\\n'.join(x.decode().split(' ', 1)[1] for x in p.uidl()[1])); p.quit()`;
  const { stdout } = await run('python3', ['-c', py, String(port), user, password]);
  return stdout.trim().split('\n').filter(Boolean);
}

export interface SendResult {
  accepted: boolean;
  /** The SMTP code of a refusal. */
  code?: number;
  response?: string;
}

/** Sends one message to one recipient with nodemailer; a marker in the subject finds it again. */
export async function smtpSend(
  port: number,
  to: string,
  marker: string,
  from = 'sender@elsewhere.example',
): Promise<SendResult> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    await t.sendMail({
      envelope: { from, to: [to] },
      raw: `From: ${from}\r\nTo: ${to}\r\nSubject: ${marker}\r\n\r\nbody of ${marker}\r\n`,
    });
    return { accepted: true };
  } catch (err) {
    const e = err as {
      responseCode?: number;
      response?: string;
      rejectedErrors?: { responseCode?: number; response?: string }[];
    };
    const first = e.rejectedErrors?.[0] ?? e;
    return { accepted: false, code: first.responseCode, response: first.response };
  } finally {
    t.close();
  }
}

/** The messages in a Maildir (new/ and cur/) whose text contains `marker`. */
export function maildirWith(dir: string, marker: string): string[] {
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    if (!existsSync(join(dir, sub))) continue;
    for (const f of readdirSync(join(dir, sub))) {
      const text = readFileSync(join(dir, sub, f), 'latin1');
      if (text.includes(marker)) out.push(text);
    }
  }
  return out;
}

export interface SmtplibResult {
  ok: boolean;
  /** What the server said to EHLO, line by line. */
  ehlo: string[];
  /** The code and text of a refusal at DATA. */
  code?: number;
  error?: string;
  /** Recipients refused at RCPT: their code and text. */
  refused?: Record<string, [number, string]>;
}

/**
 * Sends one message with Python's smtplib: text has its line ends made CRLF; bytes go as they
 * are (to test what the server does with bare LF and the like).
 */
export function smtplib(port: number, from: string, to: string[], data: string | Buffer): Promise<SmtplibResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [join(ROOT, 'test/helpers/send_smtp.py'), String(port), from, to.join(',')]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
    p.stdin.end(typeof data === 'string' ? data.replace(/\r?\n/g, '\r\n') : data);
  });
}

/**
 * Sends, with smtplib, a one-line message from x@far.example to `to` whose Message-ID header is
 * the bytes `id` (none when null): a hostile sender's bytes, as they are. The SMTP code: 250,
 * or the refusal's.
 */
export async function sendWithId(port: number, to: string, id: Buffer | null): Promise<number> {
  const head = id ? [Buffer.from('Message-ID: '), id, Buffer.from('\r\n')] : [];
  const message = Buffer.concat([Buffer.from('Subject: id\r\n'), ...head, Buffer.from('\r\nhi\r\n')]);
  const r = await smtplib(port, 'x@far.example', [to], message);
  return r.ok ? 250 : (r.refused?.[to]?.[0] ?? r.code ?? 0);
}

/** Adds `accounts` (password `password-1`) and `forwards` on example.test, and applies them. */
export async function setup(d: DaemonHandle, accounts: string[], forwards: [string, string[]][] = []): Promise<void> {
  for (const a of accounts)
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
  for (const [f, dests] of forwards) expect((await d.cli(['forwards', 'add', f, ...dests])).code).toBe(0);
  await d.cli(['pending', 'apply']);
}

/** The messages in an example.test account's new/, as text. */
export const mailbox = (d: DaemonHandle, name: string): string[] => {
  const dir = join(d.dataDir, 'mail/example.test', name, 'new');
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1'));
};
