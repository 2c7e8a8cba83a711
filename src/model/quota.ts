// Mailbox quotas as people write them (25M, 2G, 1048576, none), and how full a mailbox is
// against its quota. Pure: shared by the daemon, the CLI and the console.
import type { Quota } from './changes.js';
import { InputError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** Nothing larger is a sensible mailbox limit, and it keeps sums exact in a double. */
const MAX_BYTES = 1024 ** 5;

/** `25M`, `2G`, `1048576` as a quota, or null for `none`; `messages` optionally limits the count too. */
export function parseQuota(size: string, messages?: string): Quota | null {
  const s = size.trim().toLowerCase();
  if (s === 'none' || s === 'off') {
    if (messages !== undefined) throw new InputError('a message limit needs a size: give SIZE --messages N', 'quota');
    return null;
  }
  const m = /^(\d{1,16})\s*([kmgt]?)b?$/.exec(s);
  const bytes = m ? Number(m[1]) * UNITS[m[2]] : Number.NaN;
  if (!m || bytes < 1024 || bytes > MAX_BYTES)
    throw new InputError(
      `quota ${JSON.stringify(size.slice(0, 40))}: write a size from 1K to 1P like 25M or 2G, or none`,
      'quota',
    );
  let count: number | null = null;
  if (messages !== undefined) {
    if (!/^[1-9]\d{0,8}$/.test(messages.trim()))
      throw new InputError(`--messages ${JSON.stringify(messages.slice(0, 20))}: write a whole number from 1`, 'quota');
    count = Number(messages.trim());
  }
  return { bytes, messages: count };
}

/** How full a mailbox is, 0 to 1 and beyond, by the tighter of its limits; null without a quota. */
export function quotaUse(q: Quota | null | undefined, used: { bytes: number; messages: number }): number | null {
  if (!q) return null;
  const byBytes = used.bytes / q.bytes;
  return q.messages === null ? byBytes : Math.max(byBytes, used.messages / q.messages);
}
