// Quota warnings (--quota-warn 80,95): POP3 shows no quota, so as a mailbox fills past each of
// those percentages of its quota a short message from postmaster@DOMAIN goes into it, once per
// crossing; falling back under a percentage re-arms it.
//
// Driven by the mailbox index's sizes (a delivery here or by another daemon, a POP3 deletion,
// a restore): each mailbox's sizes are taken one after another. What is armed is kept on disk,
// in the Maildir, as one marker file per percentage crossed (`vmail-quota-warned-80`), made
// with link(2) so that of two checks, in this daemon or another on a shared mail root, exactly
// one makes it and that one alone writes the warning; a restart sees the markers, so it neither
// repeats a warning nor forgets one is due. The marker is made before the warning is written:
// a crash between the two loses that one warning rather than sending it twice.
//
// The warning is written straight into the Maildir, past the quota (it is small, and the
// mailbox must hear that it is full). The percentages its own size crosses are marked with it,
// so that a warning never sets off another. The text comes from DATA_DIR/quota-warning.txt
// (read at each warning, so an edit needs no restart), else the built-in one below.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Quota } from '../model/changes.js';
import { formatQuota, humanBytes } from '../model/format.js';
import { quotaUse } from '../model/quota.js';
import { createAtomic, unlinkIfThere } from '../support/durable.js';
import type { Logger } from '../support/log.js';
import { randomHex } from '../support/random-id.js';
import { noteTrail } from '../support/trail.js';
import { deliver } from './maildir.js';

export const TEMPLATE_FILE = 'quota-warning.txt';
/** The longest template read; past it the built-in text is used. */
const TEMPLATE_MAX = 16 * 1024;

export const DEFAULT_TEMPLATE = `Subject: Your mailbox is {percent}% full

Your mailbox {address} holds {used} of its {quota} ({percent}%).

Once it is full, new mail to you is refused until some is deleted. Please
fetch your mail and delete what you no longer need, or set your mail
program to remove mail from the server after downloading it.

-- postmaster@{domain}
`;

export interface Usage {
  bytes: number;
  messages: number;
}

export interface QuotaWarningOptions {
  dataDir: string;
  /** --quota-warn, read at each check (SIGHUP may change it): lowest first; empty: none. */
  thresholds: () => readonly number[];
  /** An account's Maildir, domain and quota, or null (no such account). */
  mailbox: (address: string) => { dir: string; domain: string; quota: Quota | null } | null;
  /** The index's hooks for a message written into a Maildir, as a delivery calls them. */
  naming: (address: string, file: string) => void;
  added: (address: string, bytes: number) => void;
  log: Logger;
}

export function markerPath(dir: string, percent: number): string {
  return join(dir, `vmail-quota-warned-${percent}`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    // Not there (or not readable, which a marker we made always is): not marked.
    () => false,
  );
}

/** A header value in ASCII: as it is, or as one RFC 2047 encoded word. */
function headerText(s: string): string {
  const clean = s.replace(/[\r\n]+/g, ' ').slice(0, 200);
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean).toString('base64')}?=`;
}

/** The template with its placeholders filled: the subject (from a first `Subject:` line) and the body. */
export function fillTemplate(template: string, values: Record<string, string>): { subject: string; body: string } {
  const text = template.replace(/^\uFEFF/, '').replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m);
  const m = /^subject:[ \t]*([^\r\n]*)\r?\n(?:\r?\n)?/i.exec(text);
  const subject = m ? m[1] : `Your mailbox is ${values.percent}% full`;
  return { subject, body: m ? text.slice(m[0].length) : text };
}

export class QuotaWarnings {
  /** Per mailbox: the check running, which the next waits for. */
  private readonly chains = new Map<string, Promise<void>>();
  private templateWarned = false;

  constructor(private readonly o: QuotaWarningOptions) {}

  /** Takes a size the index reported for `address`; checks run one after another per mailbox. */
  sized(address: string, used: Usage): Promise<void> {
    if (!this.o.thresholds().length) return Promise.resolve();
    const next = (this.chains.get(address) ?? Promise.resolve())
      .then(() => this.check(address, used))
      .catch((err: Error) => this.o.log.warning('quota warning not written', { address, error: err.message }));
    this.chains.set(address, next);
    void next.then(() => {
      if (this.chains.get(address) === next) this.chains.delete(address);
    });
    return next;
  }

  /** Waits for the checks under way (at stop). */
  async idle(): Promise<void> {
    while (this.chains.size) await Promise.all(this.chains.values());
  }

  private async check(address: string, used: Usage): Promise<void> {
    const box = this.o.mailbox(address);
    const thresholds = this.o.thresholds();
    if (!box?.quota || !thresholds.length) return;
    const percent = (quotaUse(box.quota, used) ?? 0) * 100;
    const crossed: number[] = [];
    for (const t of thresholds) {
      const marker = markerPath(box.dir, t);
      if (percent < t) await unlinkIfThere(marker);
      else if (!(await exists(marker))) crossed.push(t);
    }
    if (!crossed.length) return;
    const id = randomHex(8);
    const message = await this.message(id, address, box.domain, box.quota, used, percent);
    // The percentages this warning's own size takes the mailbox past are marked with it.
    const after = (quotaUse(box.quota, { bytes: used.bytes + message.length, messages: used.messages + 1 }) ?? 0) * 100;
    let mine = false;
    for (const t of thresholds) {
      if (t > after) break;
      const marker = markerPath(box.dir, t);
      if (crossed.includes(t)) mine = (await createAtomic(marker, `${id}\n`, { mode: 0o600 })) || mine;
      else if (!(await exists(marker))) await createAtomic(marker, `${id}\n`, { mode: 0o600 });
    }
    // Another check (another daemon's) marked them first: its warning is the one.
    if (!mine) return;
    const { file } = await deliver(box.dir, message, {
      naming: (f) => this.o.naming(address, f),
      visible: (bytes) => this.o.added(address, bytes),
    });
    const threshold = crossed[crossed.length - 1];
    this.o.log.info('quota warning', { address, percent: Math.floor(percent), threshold, file });
    noteTrail({
      event: 'quota-warning',
      address,
      messageId: `<quota-warning.${id}@${box.domain}>`,
      detail: { percent: Math.floor(percent), threshold, bytes: used.bytes, messages: used.messages },
    });
  }

  private async template(): Promise<string> {
    const path = join(this.o.dataDir, TEMPLATE_FILE);
    try {
      const buf = await readFile(path);
      if (buf.length > TEMPLATE_MAX) throw new Error(`longer than ${TEMPLATE_MAX} bytes`);
      const text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      this.templateWarned = false;
      return text;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // No file: the built-in text, as documented. Any other problem is said (once until it is fixed).
      if (e.code !== 'ENOENT' && !this.templateWarned) {
        this.templateWarned = true;
        this.o.log.warning('quota warning template not used', { path, error: e.message });
      }
      return DEFAULT_TEMPLATE;
    }
  }

  /** The warning as it goes into the Maildir: CRLF lines, a complete header. */
  private async message(
    id: string,
    address: string,
    domain: string,
    quota: Quota,
    used: Usage,
    percent: number,
  ): Promise<Buffer> {
    const values: Record<string, string> = {
      percent: String(Math.floor(percent)),
      used: quota.messages === null ? humanBytes(used.bytes) : `${humanBytes(used.bytes)} in ${used.messages} messages`,
      quota: formatQuota(quota),
      address,
      domain,
    };
    const { subject, body } = fillTemplate(await this.template(), values);
    const head = [
      'Return-Path: <>',
      `Delivered-To: ${address}`,
      `From: Postmaster <postmaster@${domain}>`,
      `To: <${address}>`,
      `Subject: ${headerText(subject)}`,
      `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <quota-warning.${id}@${domain}>`,
      'Auto-Submitted: auto-generated',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
    ];
    const lines = body.replace(/\r?\n$/, '').split(/\r?\n/);
    return Buffer.from(`${[...head, '', ...lines].join('\r\n')}\r\n`);
  }
}
