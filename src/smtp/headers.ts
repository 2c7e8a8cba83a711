// Reading and adding the trace headers a mail server cares about: the header block's size and
// its Received: and Delivered-To: lines, for loop detection; and the lines added on delivery.

/** Where the header block ends (the index after its blank line), or -1 if it has no end. */
export function headerEnd(data: Buffer, limit = data.length): number {
  const max = Math.min(limit, data.length);
  if (data[0] === 10) return 1;
  if (data[0] === 13 && data[1] === 10) return 2;
  for (let i = data.indexOf(10); i >= 0 && i < max; i = data.indexOf(10, i + 1)) {
    if (data[i + 1] === 10) return i + 2;
    if (data[i + 1] === 13 && data[i + 2] === 10) return i + 3;
  }
  return -1;
}

export interface TraceInfo {
  received: number;
  deliveredTo: string[];
}

/**
 * Counts Received: headers and collects Delivered-To: addresses in a header block, line by
 * line; only a line that starts with r or d is looked at further (every message passes here).
 */
export function traceInfo(header: string): TraceInfo {
  let received = 0;
  const deliveredTo: string[] = [];
  for (let at = 0; at < header.length; ) {
    const nl = header.indexOf('\n', at);
    const end = nl < 0 ? header.length : nl;
    const first = header.charCodeAt(at) | 0x20;
    if (first === 0x72 || first === 0x64) {
      // A CR before the LF stays on the line: neither pattern can take it.
      const line = header.slice(at, end);
      if (/^received:/i.test(line)) received++;
      const m = /^delivered-to:\s*<?([^>\s]+)>?/i.exec(line);
      if (m) deliveredTo.push(m[1].toLowerCase());
    }
    at = end + 1;
  }
  return { received, deliveredTo };
}

/** RFC 5322 date-time, e.g. `Thu, 26 Nov 2026 14:00:00 +0000`. */
export function rfc5322Date(d = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

const PRINTABLE = /^[\x21-\x7e]*$/;

/**
 * Keeps a value that came from a client safe inside a header: no spaces, controls or line
 * breaks, bounded. UTF-8 letters stay (an SMTPUTF8 address, RFC 6531/6532 allow it there).
 */
export function headerSafe(value: string, max = 200): string {
  // Printable ASCII without spaces (most HELO names, addresses, IP addresses) is kept as it is.
  if (value.length <= max && PRINTABLE.test(value)) return value;
  return [...value.replace(/[\p{Cc}\p{Cf}\p{Z}\p{Cs}\p{Co}\p{Cn}]/gu, '?')].slice(0, max).join('');
}

export interface ReceivedInfo {
  helo: string;
  remoteAddress: string;
  host: string;
  id: string;
  recipient?: string;
  tls: boolean;
}

export function receivedHeader(r: ReceivedInfo, when = new Date()): string {
  const forPart = r.recipient ? `\r\n\tfor <${headerSafe(r.recipient)}>` : '';
  return `Received: from ${headerSafe(r.helo || 'unknown')} ([${headerSafe(r.remoteAddress)}])\r\n\tby ${r.host} (vmail) with ${r.tls ? 'ESMTPS' : 'ESMTP'} id ${r.id}${forPart};\r\n\t${rfc5322Date(when)}\r\n`;
}
