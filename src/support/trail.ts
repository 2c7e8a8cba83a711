// The trail's intake: where SMTP, delivery, the forward queue, submission and POP3 say what
// happened to a message or a login, each with a one-line call. The daemon names the recorder
// (store/trail.ts, which batches the events into the store) when it starts; until then, or with
// --trail-days 0, a note goes nowhere. A leaf, so that every room (POP3 too) may say something.

/** The events of `vmail trace`, as DESIGN names them. */
export type TrailEventName =
  | 'accepted'
  | 'refused'
  | 'delivered'
  | 'forwarded'
  | 'relayed'
  | 'deferred'
  | 'bounced'
  | 'submitted'
  | 'login'
  | 'login-failed'
  | 'retrieved'
  | 'deleted'
  | 'quota-warning';

/** One event as the hooks give it; the recorder adds the time and the node. */
export interface TrailNote {
  event: TrailEventName;
  /** When it happened, if not now (milliseconds). */
  at?: number;
  /** The hosted address it is about (the one a refused message was meant for, known or not). */
  address: string;
  messageId?: string | null;
  /** The intake's id (`queued as ...`) or the forward queue's entry. */
  queueId?: string | null;
  /** The client's IP address. */
  client?: string | null;
  /** What else the event says: HELO, sender, size, spam verdict, code and reason, UIDL ... */
  detail?: Record<string, string | number | boolean | undefined>;
}

let sink: ((n: TrailNote) => void) | null = null;

/** Names the recorder (null: none); returns a call that takes it away again if it is still the one. */
export function setTrailSink(fn: ((n: TrailNote) => void) | null): () => void {
  sink = fn;
  return () => {
    if (sink === fn) sink = null;
  };
}

/** Those that follow the events as they come, trail or not (the POP3 clients of each mailbox). */
const watchers = new Set<(n: TrailNote) => void>();

/** Calls `fn` with every event from now on (also with --trail-days 0); returns what stops it. */
export function watchTrail(fn: (n: TrailNote) => void): () => void {
  watchers.add(fn);
  return () => void watchers.delete(fn);
}

/** Records `n` in the trail (never throws, never waits). */
export function noteTrail(n: TrailNote): void {
  if (!n.address) return;
  if (sink) sink(n);
  for (const w of watchers) w(n);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The Message-ID of a message from its header (the first 64 KiB are enough), or null. Read as
 * bytes, then as UTF-8 (RFC 6532 headers) when it is valid UTF-8: otherwise "€" would read as
 * three Latin-1 characters, one of them a C1 control. Spaces are ASCII's only: a UTF-8 "à" holds
 * the byte A0, which Latin-1 reads as a no-break space.
 */
export function messageIdOf(head: Buffer | undefined): string | null {
  if (!head) return null;
  const text = head.subarray(0, 65536).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const m = /^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^ \t\r\n<>]{1,250}>)/im.exec(end < 0 ? text : text.slice(0, end));
  if (!m) return null;
  try {
    return utf8.decode(Buffer.from(m[1], 'latin1'));
  } catch {
    // Not UTF-8 (a Latin-1 header, or stray bytes): kept byte for byte, as it came.
    return m[1];
  }
}
