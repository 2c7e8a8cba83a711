// The DNS Check screen's state and keys (Domains, key n): the records a hosted domain needs,
// each looked up by the daemon (`vmail domains check`) and shown as a checklist; r looks them up
// again, the arrows scroll, Esc goes back to Domains. Pure.
import type { Key } from 'ink';
import { type CheckedRecord, checkLines } from '../../src/model/dns-records.js';
import type { Effect } from '../shared/step.js';

export interface DnsState {
  domain: string;
  /** What the lookups found; null while they run. */
  records: readonly CheckedRecord[] | null;
  error: string | null;
  scroll: number;
}

export const initialDnsState: DnsState = { domain: '', records: null, error: null, scroll: 0 };

/** The screen for `domain`, its lookups under way. */
export function openDns(domain: string): DnsState {
  return { domain, records: null, error: null, scroll: 0 };
}

/** The page: what it is, then the checklist (or that it is being looked up, or why it could not be). */
export function dnsLines(s: DnsState): string[] {
  const head = [`DNS records of ${s.domain}, looked up now`, ''];
  if (s.error) return [...head, `Could not check: ${s.error}`];
  if (!s.records) return [...head, 'Looking the records up…'];
  // The verdict first (checkLines ends with it), where a 24-line terminal shows it.
  const lines = checkLines(s.records);
  const verdict = lines.pop() ?? '';
  return [
    `DNS records of ${s.domain}, looked up now: ${verdict}`,
    '',
    ...lines,
    `vmail domains dns ${s.domain} prints every record, ready to paste into the zone.`,
  ];
}

/** A key on the DNS Check screen; `back` and `quit` leave it. */
export function dnsKey(
  s: DnsState,
  input: string,
  key: Key,
  text: { lines: number; height: number },
): { state: DnsState; effects: Effect[]; back?: boolean; quit?: boolean } {
  const still = (state: DnsState) => ({ state, effects: [] });
  if (key.ctrl || (key.meta && !key.escape)) return still(s);
  if (key.escape) return { ...still(s), back: true };
  if (input === 'q') return { ...still(s), quit: true };
  if (input === 'r') return { state: openDns(s.domain), effects: [{ type: 'dns', domain: s.domain }] };
  const max = Math.max(0, text.lines - text.height);
  const to = (n: number) => still({ ...s, scroll: Math.max(0, Math.min(max, n)) });
  if (key.downArrow || input === 'j') return to(s.scroll + 1);
  if (key.upArrow || input === 'k') return to(s.scroll - 1);
  if (key.pageDown || input === ' ') return to(s.scroll + text.height);
  if (key.pageUp) return to(s.scroll - text.height);
  if (key.home || input === 'g') return to(0);
  if (key.end || input === 'G') return to(max);
  return still(s);
}
