// The key gate holding keys while a request is in flight, the selection staying where it was
// when its row goes, and notices after an apply: pure, without a terminal (the tmux tests in
// test/e2e/console-keys.test.ts drive the same through the real console).
import { describe, expect, it } from 'vitest';
import {
  type AppState,
  appReducer,
  initialAppState,
  keyTarget,
  noticeAfterApply,
} from '../../screens/app/app-reducer.js';
import { formReducer, initialFormState } from '../../screens/shared/form-reducer.js';
import { KeyGate, type KeyTarget } from '../../screens/shared/key-gate.js';
import { moveSelection, selectedIndex, settle } from '../../screens/shared/list-reducer.js';
import type { Effect, Notice } from '../../screens/shared/step.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('the key gate while a request is in flight', () => {
  it('lets nothing through while busy, then the held keys in order once a commit says it is not', async () => {
    const out: string[] = [];
    const g = new KeyGate((k) => out.push(k));
    const asked: number[] = [];
    g.onRelease = (seq) => asked.push(seq);
    const free: KeyTarget = { textMode: false, atStart: false, atEnd: false, busy: false };
    const busy: KeyTarget = { ...free, busy: true };
    g.push('\rjjj');
    await tick();
    g.committed(asked.shift()!, free);
    expect(out).toEqual(['\r']);
    await tick();
    // The commit after Enter: the request is in flight.
    g.committed(asked.shift()!, busy);
    await tick();
    expect(asked).toEqual([]);
    expect(out).toEqual(['\r']);
    // A re-render still busy releases nothing.
    g.committed(0, busy);
    await tick();
    expect(asked).toEqual([]);
    // The answer is on the screen: one more commit, then one key per commit.
    g.committed(0, free);
    for (let i = 0; i < 3; i++) {
      await tick();
      g.committed(asked.shift()!, free);
    }
    expect(out).toEqual(['\r', 'j', 'j', 'j']);
    // Ctrl-C does not wait.
    g.push('\r');
    await tick();
    g.committed(asked.shift()!, busy);
    g.push('x\u0003');
    expect(out.at(-1)).toBe('\u0003');
  });

  it('counts a request busy from the outbox until its answer, an import never', () => {
    const submit: Effect = {
      type: 'submit',
      screen: 'accounts',
      call: { method: 'accounts.add', params: { name: 'a', password: 'password-1', domain: 'example.test' } },
      address: 'a@example.test',
      action: 'add',
    };
    let s: AppState = { ...initialAppState, outbox: [submit] };
    expect(keyTarget(s).busy).toBe(true);
    s = appReducer(s, { type: 'sent', count: 1 });
    expect(s.inFlight).toBe(1);
    expect(keyTarget(s).busy).toBe(true);
    s = appReducer(s, {
      type: 'outcome',
      outcome: { screen: 'accounts', action: { type: 'notice', notice: { kind: 'ok', text: 'done' } } },
    });
    expect(keyTarget(s).busy).toBe(false);
    s = { ...s, outbox: [{ type: 'import', path: '/x.csv', domain: 'example.test', run: null }] };
    expect(keyTarget(s).busy).toBe(false);
    s = appReducer(s, { type: 'sent', count: 1 });
    expect(s.inFlight).toBe(0);
  });
});

describe('the selection when its row goes', () => {
  const keys = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`);
  it('stays at the same index, clamped, not at the top of the window', () => {
    const s = moveSelection({ selected: null, top: 0 }, keys, 7, 10);
    expect(s).toMatchObject({ selected: 'u07', index: 7 });
    const gone = keys.filter((k) => k !== 'u07');
    expect(selectedIndex(s, gone)).toBe(7);
    expect(settle(s, gone, 10).selected).toBe('u08');
    const last = moveSelection(s, keys, Infinity, 10);
    expect(settle(last, keys.slice(0, 19), 10).selected).toBe('u18');
  });
  it('moves to the row an add queued', () => {
    const s = formReducer(
      { ...initialFormState, list: { selected: 'u03', top: 0, index: 3 } },
      { type: 'queued', notice: { kind: 'ok', text: 'Queued' }, select: 'new@example.test' },
    );
    expect(s.list.selected).toBe('new@example.test');
  });
});

describe('notices after an apply', () => {
  const queued: Notice = {
    kind: 'ok',
    text: 'Queued: add a, applies at 12:00',
    at: 10,
    pendingId: '7',
    applied: 'Applied: add a',
  };
  it('says the change applied; good news of something else goes; warnings stay', () => {
    expect(noticeAfterApply(queued, new Set(['7']), 20)).toMatchObject({ kind: 'ok', text: 'Applied: add a' });
    expect(noticeAfterApply(queued, new Set(['8']), 20)).toBe(queued);
    expect(noticeAfterApply({ kind: 'ok', text: 'Undone: x', at: 10 }, new Set(), 20)).toBeNull();
    // Shown after the apply was told (the answer to A): it stays.
    const after: Notice = { kind: 'ok', text: 'Applied 3 change(s)', at: 30 };
    expect(noticeAfterApply(after, new Set(), 20)).toBe(after);
    const warn: Notice = { kind: 'warn', text: 'was NOT queued', at: 10 };
    expect(noticeAfterApply(warn, new Set(), 20)).toBe(warn);
  });
});
