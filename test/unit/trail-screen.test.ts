// The Trail screen's reducer (screens/trail): keys over a trail of thousands of messages (the
// attacker's side: a mailbox flooded with mail) stay within it; Enter opens one message into its
// events and closes it again; Esc closes it first, then goes back.
import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { openTrail, trailKey, trailLines } from '../../screens/trail/trail-reducer.js';
import type { TraceItemView } from '../../src/control/protocol.js';

const key = (k: Partial<Key> = {}) => k as Key;
const at = (i: number) => new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString();

function flood(n: number) {
  const events: TraceItemView[] = [];
  for (let i = n - 1; i >= 0; i--)
    events.push(
      {
        at: at(i * 3 + 2),
        node: 'n',
        event: 'deleted',
        address: 'a@x',
        messageId: `<m${i}@x>`,
        queueId: null,
        client: '10.0.0.1',
        detail: { uidl: `u${i}` },
      },
      {
        at: at(i * 3 + 1),
        node: 'n',
        event: 'delivered',
        address: 'a@x',
        messageId: `<m${i}@x>`,
        queueId: 'q',
        client: null,
        detail: {},
      },
    );
  return { ...openTrail('a@x'), events };
}

describe('the Trail screen', () => {
  it('5,000 messages: one line each, newest first; End, PgUp, Home stay within them', () => {
    const s = flood(5000);
    const lines = trailLines(s);
    expect(lines).toHaveLength(5000);
    expect(lines[0].text).toMatch(/^<m4999@x>: .*delivered -> deleted by 10\.0\.0\.1$/);
    let t = trailKey(s, '', key({ end: true }), 20).state;
    expect(t.selected).toBe(4999);
    t = trailKey(t, '', key({ downArrow: true }), 20).state;
    expect(t.selected).toBe(4999);
    t = trailKey(t, '', key({ pageUp: true }), 20).state;
    expect(t.selected).toBe(4979);
    t = trailKey(t, 'g', key(), 20).state;
    expect(t.selected).toBe(0);
    t = trailKey(t, '', key({ upArrow: true }), 20).state;
    expect(t.selected).toBe(0);
  });

  it('Enter opens the selected message into its events, oldest first; Esc closes it, then goes back', () => {
    let t = trailKey(flood(3), 'j', key(), 20).state;
    t = trailKey(t, '', key({ return: true }), 20).state;
    const lines = trailLines(t);
    expect(lines.map((l) => l.text)).toEqual([
      expect.stringMatching(/^<m2@x>/),
      expect.stringMatching(/^<m1@x>/),
      expect.stringMatching(/^ {2}2026-11-01 00:00:04 {2}delivered$/),
      expect.stringMatching(/^ {2}2026-11-01 00:00:05 {2}deleted by 10\.0\.0\.1$/),
      expect.stringMatching(/^<m0@x>/),
    ]);
    const closed = trailKey(t, '', key({ escape: true }), 20);
    expect(closed.back).toBe(false);
    expect(closed.state.expanded).toBeNull();
    expect(trailKey(closed.state, '', key({ escape: true }), 20).back).toBe(true);
  });

  it('an empty trail: the keys do nothing wrong', () => {
    const s = { ...openTrail('a@x'), events: [] };
    expect(trailKey(s, 'G', key(), 20).state.selected).toBe(0);
    expect(trailLines(trailKey(s, '', key({ return: true }), 20).state)).toEqual([]);
  });
});
