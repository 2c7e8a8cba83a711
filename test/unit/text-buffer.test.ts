// The console's text buffer (value + cursor, by grapheme) and the key gate's bracketed paste:
// pure, without a terminal.
import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { KeyGate } from '../../screens/shared/key-gate.js';
import { editKey, fieldView, MAX_FIELD, type TextBuffer } from '../../screens/shared/text-buffer.js';
import { waitFor } from '../helpers/daemon.js';

const none: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};
const named = (k: string): [string, Key] => {
  if (k.startsWith('C-')) return [k.slice(2), { ...none, ctrl: true }];
  const name = (
    { Home: 'home', End: 'end', Left: 'leftArrow', Right: 'rightArrow', BSpace: 'backspace', Delete: 'delete' } as const
  )[k as 'Home'];
  return name ? ['', { ...none, [name]: true }] : [k, none];
};
const run = (keys: string[], start: TextBuffer = { value: '', cursor: 0 }): TextBuffer =>
  keys.reduce((b, k) => editKey(b, ...named(k)) ?? b, start);

describe('the text buffer', () => {
  it('abcd Home z End y Left Left BSpace Delete gives zaby', () => {
    expect(run(['abcd', 'Home', 'z', 'End', 'y', 'Left', 'Left', 'BSpace', 'Delete'])).toEqual({
      value: 'zaby',
      cursor: 3,
    });
  });
  it('Ctrl-A, Ctrl-E, Ctrl-U (to the start), Ctrl-K (to the end), Ctrl-W (the word before)', () => {
    expect(run(['mid', 'C-a', 'pre', 'C-e', 'post'])).toEqual({ value: 'premidpost', cursor: 10 });
    expect(run(['premidpost', 'Left', 'Left', 'Left', 'Left', 'C-k'])).toEqual({ value: 'premid', cursor: 6 });
    expect(run(['premid', 'Left', 'Left', 'Left', 'C-u'])).toEqual({ value: 'mid', cursor: 0 });
    expect(run(['a@x.test b@y.test  ', 'C-w'])).toEqual({ value: 'a@x.test ', cursor: 9 });
  });
  it('moves and deletes by grapheme: no half emoji, no accent left alone', () => {
    expect(run(['ab😀', 'Left', 'BSpace'])).toEqual({ value: 'a😀', cursor: 1 });
    expect(run(['ab😀', 'BSpace']).value).toBe('ab');
    expect(run(['x👩‍👩‍👧y', 'Left', 'Left', 'BSpace']).value).toBe('👩‍👩‍👧y');
    expect(run(['e\u0301t', 'Home', 'Delete']).value).toBe('t');
  });
  it('takes no control characters or escape sequences as text, and cuts a huge paste on a grapheme', () => {
    expect(run(['a\u001b[2Jb\u0007c\nd']).value).toBe('abcd');
    const big = run(['😀'.repeat(MAX_FIELD)]);
    expect(big.value.length).toBeLessThanOrEqual(MAX_FIELD);
    expect(big.value.length % 2).toBe(0);
  });
  it('masks one star per grapheme and scrolls to keep the cursor in view', () => {
    const pw = { value: 'secret-😀-pw', cursor: 12 };
    const v = fieldView(pw, 40, true);
    expect(v.before).toBe('*'.repeat(11));
    const long = { value: 'abcdefghijklmnopqrstuvwxyz', cursor: 26 };
    const end = fieldView(long, 10);
    expect(end).toMatchObject({ cutStart: true, cutEnd: false, at: ' ' });
    expect(end.before.endsWith('xyz')).toBe(true);
    expect(1 + end.before.length + 1).toBeLessThanOrEqual(10);
    const home = fieldView({ ...long, cursor: 0 }, 10);
    expect(home).toMatchObject({ cutStart: false, cutEnd: true, at: 'a' });
  });
});

describe('the key gate: bracketed paste', () => {
  const gated = (textMode: boolean) => {
    const out: string[] = [];
    const gate = new KeyGate((k) => out.push(k));
    gate.onRelease = (seq) => gate.committed(seq, { textMode, atStart: false, atEnd: false });
    return { gate, out };
  };
  const drained = () => new Promise((r) => setTimeout(r, 50));
  it('gives a field a paste as one input, cleaned, even when it comes in pieces', async () => {
    const { gate, out } = gated(true);
    gate.push('\u001b[200~pas\nte\u001b[2');
    gate.push('Jd\u0003 x\u001b[20');
    gate.push('1~');
    await drained();
    expect(out).toEqual(['pasted x']);
  });
  it('drops a paste outside a field (not a row of commands) and keeps the keys around it', async () => {
    const { gate, out } = gated(false);
    gate.push('j\u001b[200~dq\u001b[201~k');
    // A key after the end mark in the same read waits AFTER_PASTE_MS (100 ms) for the paste's own end.
    await waitFor(() => out.length === 2, 'the key after the paste');
    expect(out).toEqual(['j', 'k']);
  });
  it('sends Backspace as BS and leaves Delete (ESC[3~) to delete forward', async () => {
    const { gate, out } = gated(false);
    gate.push('\u007f\u001b[3~');
    await drained();
    expect(out).toEqual(['\b', '\u001b[3~']);
  });
});
