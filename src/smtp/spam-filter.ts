// Spam and authentication checks through rspamd's HTTP protocol (POST /checkv2): each message,
// once its DATA is in, goes to rspamd with the client's IP, HELO, envelope sender and
// recipients, and rspamd's action decides what SMTP answers: `reject` 550 5.7.1 with rspamd's
// reason, `soft reject`/`greylist` 451 4.7.1, the others deliver, with the headers rspamd asks
// for (its `milter` block: X-Spamd-Result, Authentication-Results, ...) added and vmail's own
// `X-Spam-Status: Yes|No, score=S required=R action=A`. Whatever the sender wrote that vmail
// or rspamd may write (X-Spam*, X-Spamd-*, X-Rspamd-*, an Authentication-Results: naming this
// server or a hosted domain, RFC 8601 section 5) is removed first, checked or not, so no
// verdict can be forged. When rspamd does not answer in time, or answers an action vmail does
// not know, the admin's choice holds: accept unchecked (open) or defer with 451 (tempfail),
// and the log says which.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { SpamFilterView } from '../control/protocol.js';
import { crlfSize } from '../maildir/crlf-size.js';
import { metrics } from '../service/metrics.js';
import type { Logger } from '../support/log.js';
import { headerEnd } from './headers.js';

export interface FilterSettings {
  url: string | null;
  fail: 'open' | 'tempfail';
  timeoutMs: number;
}

export interface MessageMeta {
  id: string;
  ip: string;
  helo: string;
  from: string;
  rcpts: readonly string[];
  /** This server's name, rspamd's `MTA-Name`. */
  hostname: string;
  /** Whether an authserv-id (RFC 8601) is this server's: its host name or a hosted domain. */
  ours: (authservId: string) => boolean;
}

/** What to do with a message: refuse it with an SMTP reply, or deliver it as `parts`. */
export type Verdict =
  | { refuse: { code: number; text: string } }
  | { parts: Buffer[]; action: string; score?: number; symbols?: string[] };

interface RspamdReply {
  action?: string;
  score?: number;
  required_score?: number;
  symbols?: Record<string, { score?: number }>;
  subject?: string;
  error?: string;
  messages?: { smtp_message?: string };
  milter?: {
    add_headers?: Record<string, HeaderValue | HeaderValue[]>;
    remove_headers?: Record<string, number>;
  };
}
type HeaderValue = string | { value: string; order?: number };

const MAX_REPLY = 1024 * 1024;
/** The actions rspamd has; any other answer is treated as no answer (--rspamd-fail). */
const ACTIONS = new Set(['no action', 'greylist', 'add header', 'rewrite subject', 'soft reject', 'reject', 'discard']);
/** When nothing was checked for this long, a ping tells whether rspamd is still there. */
const PING_EVERY_MS = 30_000;

/** The spam verdict as the trail says it: `no-action 2.10 (SYM_A, SYM_B)`, or undefined when unchecked. */
export function verdictText(v: Exclude<Verdict, { refuse: unknown }>): string | undefined {
  if (v.action === 'unchecked') return undefined;
  const score = v.score === undefined ? '' : ` ${v.score.toFixed(2)}`;
  return `${v.action.replace(' ', '-')}${score}${v.symbols?.length ? ` (${v.symbols.join(', ')})` : ''}`;
}

/**
 * The CRLF size of a message stored as a verdict's `parts`: lines this server added (each ending
 * in a line end), then `whole`'s bytes as the filter left them (withoutVerdicts and rspamd's
 * removals take out whole header lines, so the body is the same bytes). `counted` is the CRLF
 * size of everything the client sent, of which `whole` is all or the start: the stored size is
 * worked out from it and the headers alone, and the message is not read through again.
 */
export function filteredCrlfSize(parts: readonly Buffer[], whole: Buffer, counted: number): number {
  const own = parts[parts.length - 1];
  const added = parts.slice(0, -1);
  // Lines this server wrote, so a line end ends each: a part that did not would be a bug here.
  if (added.some((p) => p.length > 0 && p[p.length - 1] !== 0x0a))
    throw new Error('an added header part has no line end');
  return crlfSize(added) + counted + (own === whole ? 0 : headerChange(own, whole));
}

/** What taking header lines out of `whole` (leaving `own`) changed its CRLF size by. */
function headerChange(own: Buffer, whole: Buffer): number {
  const end = headerEnd(whole);
  const ownEnd = end - (whole.length - own.length);
  // The same body after the same line end: only the headers need counting.
  if (end > 0 && ownEnd > 0 && own[ownEnd - 1] === 0x0a && own.subarray(ownEnd).equals(whole.subarray(end)))
    return crlfSize(own.subarray(0, ownEnd)) - crlfSize(whole.subarray(0, end));
  return crlfSize(own) - crlfSize(whole);
}

export class SpamFilter extends EventEmitter {
  private agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private state: 'up' | 'down' | 'unknown' = 'unknown';
  private lastError: string | null = null;
  private lastContactAt = 0;
  private readonly counts = { checked: 0, rejected: 0, deferred: 0, unchecked: 0 };
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private settings: FilterSettings,
    private readonly log: Logger,
  ) {
    super();
  }

  /** SIGHUP's new address, failure mode or bound. */
  /** Whether check() reads the message (rspamd is configured), or passes it as it is. */
  get reads(): boolean {
    return Boolean(this.settings.url);
  }

  configure(settings: FilterSettings): void {
    if (settings.url !== this.settings.url) {
      this.state = 'unknown';
      this.lastError = null;
    }
    this.settings = settings;
    if (this.timer || !settings.url) this.start();
  }

  /** Checks now and then that rspamd answers, so the console shows a filter that went away. */
  start(): void {
    this.stop();
    if (!this.settings.url) return;
    const tick = () => {
      if (Date.now() - this.lastContactAt >= PING_EVERY_MS) void this.ping();
    };
    this.timer = setInterval(tick, PING_EVERY_MS / 3);
    this.timer.unref();
    void this.ping();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stop();
    this.agent.destroy();
  }

  view(): SpamFilterView | null {
    if (!this.settings.url) return null;
    return {
      url: this.settings.url,
      fail: this.settings.fail,
      state: this.state,
      lastError: this.lastError,
      ...this.counts,
    };
  }

  /** rspamd's judgement of a message (our Received: line, then what the client sent); never throws. */
  async check(received: Buffer, data: Buffer, meta: MessageMeta): Promise<Verdict> {
    // rspamd sees the message as it arrived (forged headers are evidence); the mailbox does not.
    const clean = withoutVerdicts(data, meta.ours);
    if (!this.settings.url) return { parts: [received, clean], action: 'unchecked' };
    let reply: RspamdReply;
    try {
      reply = await this.post([received, data], meta);
      if (reply.error || typeof reply.action !== 'string') throw new Error(reply.error ?? 'rspamd gave no action');
      this.contact(null);
    } catch (err) {
      const error = (err as Error).message;
      this.contact(error);
      return this.failed(received, clean, 'spam filter unavailable', { id: meta.id, error });
    }
    const action = reply.action!;
    if (!ACTIONS.has(action))
      return this.failed(received, clean, 'spam filter unknown action', { id: meta.id, action: oneLine(action) });
    this.counts.checked++;
    metrics.rspamd(action);
    this.log.info('spam checked', {
      id: meta.id,
      action,
      score: reply.score?.toFixed(2),
      required: reply.required_score?.toFixed(2),
    });
    const reason = oneLine(reply.messages?.smtp_message);
    if (action === 'reject' || action === 'discard') {
      this.counts.rejected++;
      return { refuse: { code: 550, text: `5.7.1 ${reason || 'Message rejected as spam'}` } };
    }
    if (action === 'soft reject' || action === 'greylist') {
      this.counts.deferred++;
      return { refuse: { code: 451, text: `4.7.1 ${reason || 'Try again later'}` } };
    }
    return { parts: withRspamdHeaders(received, clean, reply), action, score: reply.score, symbols: topSymbols(reply) };
  }

  /** No verdict to go by: what --rspamd-fail says, logged. */
  private failed(received: Buffer, clean: Buffer, what: string, fields: Record<string, string>): Verdict {
    const open = this.settings.fail === 'open';
    metrics.rspamd('unavailable');
    this.counts[open ? 'unchecked' : 'deferred']++;
    this.log.warning(what, { ...fields, outcome: open ? 'accepted unchecked' : 'deferred' });
    return open
      ? { parts: [received, clean], action: 'unchecked' }
      : { refuse: { code: 451, text: '4.7.1 The spam filter is unavailable: try again later' } };
  }

  private contact(error: string | null): void {
    this.lastContactAt = Date.now();
    this.lastError = error;
    const state = error ? 'down' : 'up';
    if (state === this.state) return;
    this.state = state;
    if (error) this.log.warning('spam filter down', { url: this.settings.url ?? undefined, error });
    else this.log.notice('spam filter up', { url: this.settings.url ?? undefined });
    this.emit('state', this.view());
  }

  private async ping(): Promise<void> {
    const url = this.settings.url;
    if (!url) return;
    try {
      const body = await this.request(`${url}/ping`, 'GET', {}, []);
      if (!body.toString().startsWith('pong')) throw new Error('rspamd did not answer its ping');
      if (url === this.settings.url) this.contact(null);
    } catch (err) {
      if (url === this.settings.url) this.contact((err as Error).message);
    }
  }

  private async post(parts: Buffer[], meta: MessageMeta): Promise<RspamdReply> {
    const headers: Record<string, string | string[]> = {
      IP: field(meta.ip),
      Helo: field(meta.helo || 'unknown'),
      From: field(meta.from),
      Rcpt: meta.rcpts.map(field),
      'Queue-Id': meta.id,
      'MTA-Name': field(meta.hostname),
    };
    const body = await this.request(`${this.settings.url}/checkv2`, 'POST', headers, parts);
    try {
      return JSON.parse(body.toString('utf8')) as RspamdReply;
    } catch {
      throw new Error('rspamd answered something that is not JSON');
    }
  }

  private request(url: string, method: string, headers: Record<string, string | string[]>, parts: Buffer[]) {
    return new Promise<Buffer>((resolve, reject) => {
      const length = parts.reduce((n, p) => n + p.length, 0);
      const req = http.request(url, {
        method,
        agent: this.agent,
        headers: method === 'POST' ? { ...headers, 'Content-Length': String(length) } : headers,
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`rspamd did not answer within ${this.settings.timeoutMs} ms`)),
        this.settings.timeoutMs,
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(err.code === 'ECONNREFUSED' ? `nothing listens at ${url}` : err.message));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY) req.destroy(new Error('rspamd answered more than 1 MB'));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (res.statusCode !== 200) reject(new Error(`rspamd answered HTTP ${res.statusCode}`));
          else resolve(Buffer.concat(chunks));
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      for (const p of parts) req.write(p);
      req.end();
    });
  }
}

/** A value for an HTTP header: no line breaks or controls; UTF-8 sent as its bytes. */
function field(value: string): string {
  return Buffer.from(value.replace(/[\p{Cc}]/gu, '').slice(0, 1000), 'utf8').toString('latin1');
}

function oneLine(text: string | undefined): string {
  return (text ?? '')
    .replace(/[\p{Cc}]+/gu, ' ')
    .trim()
    .slice(0, 300);
}

/** The three symbols that weighed most (for the trail). */
function topSymbols(reply: RspamdReply): string[] {
  return Object.entries(reply.symbols ?? {})
    .filter(([name]) => /^[\w.-]{1,64}$/.test(name))
    .sort((a, b) => Math.abs(b[1]?.score ?? 0) - Math.abs(a[1]?.score ?? 0))
    .slice(0, 3)
    .map(([name]) => name);
}

/**
 * The message with the headers rspamd asked for (X-Spamd-Result, Authentication-Results, ...)
 * and vmail's X-Spam-Status after our Received: line. `data` has already lost the sender's
 * copies of them; rspamd's remove_headers are applied too. An X-Spam-Status rspamd asks for is
 * left out: vmail's own is the one. `rewrite subject` gives the new Subject:; `add header` and
 * `rewrite subject` mark X-Spam: Yes.
 */
function withRspamdHeaders(received: Buffer, data: Buffer, reply: RspamdReply): Buffer[] {
  const add: string[] = [];
  for (const [name, v] of Object.entries(reply.milter?.add_headers ?? {})) {
    if (!/^[\x21-\x39\x3b-\x7e]{1,100}$/.test(name) || name.toLowerCase() === 'x-spam-status') continue;
    for (const one of Array.isArray(v) ? v : [v]) add.push(headerLine(name, typeof one === 'string' ? one : one.value));
  }
  const remove = new Map(Object.entries(reply.milter?.remove_headers ?? {}).map(([k, n]) => [k.toLowerCase(), n]));
  const spam = reply.action === 'add header' || reply.action === 'rewrite subject';
  if (spam && !add.some((l) => /^x-spam:/i.test(l))) add.push('X-Spam: Yes\r\n');
  if (reply.action === 'rewrite subject' && reply.subject) {
    add.push(headerLine('Subject', encodeWord(reply.subject)));
    remove.set('subject', 0);
  }
  const num = (n: number | undefined) => (Number.isFinite(n) ? (n as number) : 0).toFixed(2);
  add.push(
    `X-Spam-Status: ${spam ? 'Yes' : 'No'}, score=${num(reply.score)} required=${num(reply.required_score)} action=${reply.action!.replace(/ /g, '-')}\r\n`,
  );
  return [received, Buffer.from(add.join('')), remove.size ? removeHeaders(data, remove) : data];
}

/** A line that starts a field withoutVerdicts may remove (a test first: most messages have none). */
const VERDICT_FIELD = /(?:^|\n)(?:x-spam|x-rspamd-|authentication-results)/i;

/**
 * `data` without the header fields vmail or rspamd may write (RFC 8601 section 5 asks this of
 * a border MTA for Authentication-Results): every X-Spam* (X-Spamd-* among them) and X-Rspamd-*,
 * and each Authentication-Results: whose authserv-id `ours` claims, or that has none to be read
 * (an unbalanced comment, nothing before the `;`): a reader could take it for ours. Someone
 * else's Authentication-Results (a trusted upstream's, say) stays.
 */
export function withoutVerdicts(data: Buffer, ours: (authservId: string) => boolean): Buffer {
  // Most messages have none of these fields: a field's name starts its line.
  const end = headerEnd(data, 1024 * 1024);
  if (!VERDICT_FIELD.test(data.subarray(0, end > 0 ? end : data.length).toString('latin1'))) return data;
  return removeHeaders(data, new Map(), (name, field) => {
    if (name.startsWith('x-spam') || name.startsWith('x-rspamd-')) return true;
    if (name !== 'authentication-results') return false;
    const id = authservId(field.slice(field.indexOf(':') + 1));
    return id === null || ours(id);
  });
}

/** The authserv-id of an Authentication-Results: value: its first token after any comments; null when there is none to read. */
function authservId(value: string): string | null {
  let v = value.replace(/\r?\n/g, ' ');
  // Comments nest (RFC 5322 CFWS); strip the innermost ones until none is left.
  for (let i = 0; i < 20 && /\([^()]*\)/.test(v); i++) v = v.replace(/\((?:[^()\\]|\\.)*\)/g, ' ');
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;()"]+))/.exec(v);
  const id = m ? (m[1] ?? m[2]).replace(/\\(.)/g, '$1').trim().toLowerCase() : '';
  return id || null;
}

/** One header field, folded lines kept; anything that could end the field early is neutralised. */
function headerLine(name: string, value: string): string {
  const lines = value.split(/\r?\n/).map((l, i) => (i === 0 || /^[ \t]/.test(l) ? l : `\t${l}`));
  return `${name}: ${lines.join('\r\n').replace(/[\0\r](?!\n)/g, ' ')}\r\n`;
}

/** RFC 2047 for a Subject: with other than ASCII in it. */
function encodeWord(text: string): string {
  const clean = text.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

/**
 * `data` without the header fields named in `remove` (rspamd's milter semantics: 0 removes
 * every copy, n the n-th, -n the n-th from the end) or for which `also(name, field)` holds
 * (name in lower case, field as written, folded lines and all). The body is not copied unless
 * a field goes.
 */
export function removeHeaders(
  data: Buffer,
  remove: Map<string, number>,
  also?: (name: string, field: string) => boolean,
): Buffer {
  const end = headerEnd(data, 1024 * 1024);
  const head = data.subarray(0, end > 0 ? end : data.length).toString('latin1');
  // Fields: a line, and the lines that continue it (they start with a space or a tab).
  const fields = head.match(/[^\n]*\n(?:[ \t][^\n]*\n)*|[^\n]+$/g) ?? [];
  const names = fields.map((f) => /^([^:\s]+)[ \t]*:/.exec(f)?.[1].toLowerCase() ?? null);
  const drop = new Set<number>();
  for (const [name, which] of remove) {
    const at = names.flatMap((n, i) => (n === name ? [i] : []));
    if (which === 0) for (const i of at) drop.add(i);
    else {
      const i = which > 0 ? at[which - 1] : at[at.length + which];
      if (i !== undefined) drop.add(i);
    }
  }
  if (also) for (const [i, n] of names.entries()) if (n !== null && also(n, fields[i])) drop.add(i);
  if (drop.size === 0) return data;
  const kept = fields.filter((_, i) => !drop.has(i)).join('');
  return Buffer.concat([Buffer.from(kept, 'latin1'), data.subarray(end > 0 ? end : data.length)]);
}
