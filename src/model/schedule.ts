// The apply schedule: changes take effect at whole multiples of the interval since the Unix epoch.
import { InputError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `30s`, `5m`, `1h` (also `1500ms`, `1d`) into milliseconds. */
export function parseDuration(input: string, what = '--apply-interval'): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(input.trim());
  if (!m) throw new InputError(`${what} ${JSON.stringify(input)} is not a duration: write it like 30s, 5m or 1h`);
  const ms = Number(m[1]) * UNITS[m[2]];
  if (ms < 1000 || ms > 7 * UNITS.d) throw new InputError(`${what} ${input} is out of range: use 1s to 7d`);
  return ms;
}

/** The first apply tick strictly after `now`. */
export function nextApplyAt(now: number, intervalMs: number): number {
  return (Math.floor(now / intervalMs) + 1) * intervalMs;
}

/** `37:12` for under an hour, `1:02:03` above, `0:00` when due. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** `2d`, `12h`, `30m` ago, or an ISO date or time: the moment `--since` means. */
export function parseSince(input: string, now: number): number {
  const t = input.trim();
  const m = /^(\d{1,5})(m|h|d)$/.exec(t);
  if (m) return now - Number(m[1]) * UNITS[m[2]];
  const at = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN;
  if (Number.isNaN(at))
    throw new InputError(
      `--since ${JSON.stringify(t.slice(0, 40))}: write a time ago like 2d, 12h or 30m, or a date like 2026-11-01`,
    );
  return at;
}
