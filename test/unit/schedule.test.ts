import { describe, expect, it } from 'vitest';
import { formatCountdown, nextApplyAt, parseDuration } from '../../src/model/schedule.js';

describe('apply schedule', () => {
  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    for (const bad of ['', '1', 'h', '1.5h', '-1h', '0s', '10y', '8d']) expect(() => parseDuration(bad), bad).toThrow();
  });
  it('ticks at whole multiples of the interval since the epoch', () => {
    const h = 3_600_000;
    const t = Date.UTC(2026, 10, 26, 13, 22, 48);
    expect(new Date(nextApplyAt(t, h)).toISOString()).toBe('2026-11-26T14:00:00.000Z');
    expect(nextApplyAt(Date.UTC(2026, 10, 26, 14), h)).toBe(Date.UTC(2026, 10, 26, 15));
    expect(nextApplyAt(1_001, 2_000)).toBe(2_000);
  });
  it('formats countdowns', () => {
    expect(formatCountdown(37 * 60_000 + 12_000)).toBe('37:12');
    expect(formatCountdown(5_000)).toBe('0:05');
    expect(formatCountdown(3_723_000)).toBe('1:02:03');
    expect(formatCountdown(-10)).toBe('0:00');
  });
});
