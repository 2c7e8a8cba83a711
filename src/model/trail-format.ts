// `vmail trace` in words: an address's events grouped by message (its Message-ID, else the id
// it was queued under), one line per message's life, newest message first; an event of no
// message (a login) is a line of its own. The console's trail screen shows the same lines.

/** What the lines need of an event (the control socket's TraceItemView). */
export interface TraceEvent {
  at: string;
  event: string;
  messageId: string | null;
  queueId: string | null;
  client: string | null;
  detail: Record<string, string | number | boolean>;
}

export interface TraceGroup {
  /** The Message-ID or id, or null for an event of no message. */
  key: string | null;
  /** Oldest first. */
  events: TraceEvent[];
}

/** The order of a message's events that happen in one millisecond. */
const RANK: Record<string, number> = { accepted: 0, submitted: 0, refused: 1, delivered: 2, forwarded: 2 };

/** Groups events (newest first, as trace gives them) by message, newest message first. */
export function groupTrace(events: readonly TraceEvent[]): TraceGroup[] {
  const groups: TraceGroup[] = [];
  const byKey = new Map<string, TraceGroup>();
  for (const e of events) {
    const key = e.messageId ?? e.queueId;
    if (!key) {
      groups.push({ key: null, events: [e] });
      continue;
    }
    let g = byKey.get(key);
    if (!g) {
      g = { key, events: [] };
      byKey.set(key, g);
      groups.push(g);
    }
    g.events.push(e);
  }
  for (const g of groups)
    g.events.sort((a, b) => a.at.localeCompare(b.at) || (RANK[a.event] ?? 9) - (RANK[b.event] ?? 9));
  return groups;
}

function hhmm(at: string): string {
  return at.slice(5, 16).replace('T', ' ');
}

/** One event in a few words, its control bytes made visible (the console shows it as is). */
export function eventText(e: TraceEvent): string {
  return visible(eventWords(e));
}

function eventWords(e: TraceEvent): string {
  const d = e.detail;
  const by = e.client ? ` ${e.client}` : '';
  switch (e.event) {
    case 'accepted':
      return `accepted from <${d.from ?? ''}> via${by} (${d.helo ?? '?'}) ${d.size ?? '?'}B${d.spam ? ` spam ${d.spam}` : ''}`;
    case 'refused':
      return `refused ${d.code ?? ''} at ${d.step ?? '?'}${by}: ${d.reason ?? ''}`;
    case 'delivered':
      return 'delivered';
    case 'forwarded':
      return `forwarded to <${d.to ?? ''}>`;
    case 'relayed':
    case 'deferred':
    case 'bounced':
      return `${e.event} <${d.to ?? ''}> try ${d.attempt ?? '?'}: ${d.response ?? ''}`;
    case 'submitted':
      return `submitted${by} to ${d.to ?? ''}`;
    case 'login':
    case 'login-failed':
      return `${e.event} ${d.service ?? ''}${by} ${d.mechanism ?? ''}${d.tls ? ' tls' : ''}`;
    case 'retrieved':
    case 'deleted':
      return `${e.event} by${by}`;
    case 'quota-warning':
      return `quota warning at ${d.percent ?? '?'}%`;
    default:
      return e.event;
  }
}

/** Controls, format characters (bidi, zero-width, tags), line and paragraph separators, lone surrogates. */
const UNSHOWN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * `text` with its control bytes (C0, DEL, C1) written as `\\xNN`: a Message-ID, a HELO or a
 * remote server's answer is an outsider's text, and an ESC in it would drive the terminal.
 * Format characters and line breaks past Latin-1 are written as `\\u{NNNN}`: a Message-ID is
 * read as UTF-8 now, and a bidi override (U+202E) in it turns the rest of the line around on a
 * terminal that does bidi, U+2028 breaks it, a zero-width or tag character hides text.
 */
export function visible(text: string): string {
  return text.replace(UNSHOWN, (c) => {
    const n = c.codePointAt(0)!;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}

/** One line per message: its first time, its Message-ID, then each event (time where it changes). */
export function traceLines(events: readonly TraceEvent[]): string[] {
  return groupTrace(events).map((g) => {
    const parts = g.events.map(
      (e, i) => `${i === 0 || hhmm(e.at) !== hhmm(g.events[i - 1].at) ? `${hhmm(e.at)} ` : ''}${eventText(e)}`,
    );
    return visible(`${g.key ? `${g.key}: ` : ''}${parts.join(' -> ')}`);
  });
}
