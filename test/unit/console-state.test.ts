// The console's pure state: navigation, list scrolling, the add/change form, key splitting.
import { describe, expect, it } from 'vitest';
import { appReducer, initialAppState, MENU } from '../../screens/app-reducer.js';
import { editText, fieldOf, formKey, formReducer, initialFormState } from '../../screens/form-reducer.js';
import { initialListState, moveSelection, selectedIndex, settle } from '../../screens/list-reducer.js';
import { isKnownKey, splitKeys } from '../../screens/paced-stdin.js';

describe('navigation', () => {
  it('picks the only domain, or asks when there are several', () => {
    expect(appReducer(initialAppState, { type: 'domains-known', domains: ['a.test'] })).toMatchObject({ domain: 'a.test', screen: 'menu' });
    expect(appReducer(initialAppState, { type: 'domains-known', domains: ['a.test', 'b.test'] })).toMatchObject({ domain: null, screen: 'domains' });
    const picked = appReducer({ ...initialAppState, screen: 'domains' }, { type: 'domain-pick', domain: 'b.test' });
    expect(picked).toMatchObject({ domain: 'b.test', screen: 'menu' });
  });
  it('moves around the menu with wrap-around, opens items, and quits from the last', () => {
    let s = appReducer(initialAppState, { type: 'menu-move', delta: -1 });
    expect(MENU[s.menuIndex].screen).toBe('quit');
    s = appReducer(s, { type: 'menu-pick' });
    expect(s.quitting).toBe(true);
    s = appReducer(initialAppState, { type: 'menu-pick', index: 2 });
    expect(s.screen).toBe('pending');
    expect(appReducer(s, { type: 'back' }).screen).toBe('menu');
  });
  it('returns from help to where it was opened', () => {
    let s = appReducer(initialAppState, { type: 'menu-pick', index: 0 });
    s = appReducer(s, { type: 'open', screen: 'help' });
    expect(appReducer(s, { type: 'back' }).screen).toBe('accounts');
  });
});

describe('list scrolling', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `u${i}`);
  it('keeps the selection in the window while moving and paging', () => {
    let s = moveSelection(initialListState, keys, 1, 10);
    expect(s).toEqual({ selected: 'u1', top: 0 });
    s = moveSelection(s, keys, 20, 10);
    expect(s).toEqual({ selected: 'u21', top: 12 });
    s = moveSelection(s, keys, Infinity, 10);
    expect(s).toEqual({ selected: 'u9999', top: 9990 });
    s = moveSelection(s, keys, -Infinity, 10);
    expect(s).toEqual({ selected: 'u0', top: 0 });
  });
  it('follows the selected key when the list changes underneath', () => {
    const s = { selected: 'u50', top: 45 };
    const shorter = keys.filter((k) => k !== 'u10');
    expect(selectedIndex(s, shorter)).toBe(49);
    expect(settle(s, shorter, 10)).toBe(s);
    const gone = keys.filter((k) => k !== 'u50');
    expect(settle(s, gone, 10).selected).toBe(gone[45]);
    expect(settle(s, [], 10)).toEqual(initialListState);
  });
});

describe('the form', () => {
  it('adds, changes, is refused beside a field, and cancels', () => {
    let s = formReducer(initialFormState, { type: 'start-add' });
    expect(s.focus).toBe('name');
    s = formReducer(s, { type: 'edit', field: 'name', value: 'bob' });
    s = formReducer(s, { type: 'rejected', field: 'second', text: 'the password is too short' });
    expect(s).toMatchObject({ focus: 'second', error: { field: 'second' }, name: 'bob' });
    s = formReducer(s, { type: 'edit', field: 'second', value: 'longer-one' });
    expect(s.error).toBeNull();
    s = formReducer(s, { type: 'submitted', notice: { kind: 'ok', text: 'Queued' } });
    expect(s).toMatchObject({ focus: 'table', name: '', second: '', notice: { text: 'Queued' } });
    s = formReducer(s, { type: 'start-change', name: 'bob' });
    expect(s).toMatchObject({ mode: 'change', target: 'bob', focus: 'second' });
    expect(formReducer(s, { type: 'cancel' })).toMatchObject({ mode: 'add', focus: 'table' });
  });
  it('confirms removal with No as the default', () => {
    const s = formReducer(initialFormState, { type: 'ask-remove', address: 'bob@x.test' });
    expect(s).toMatchObject({ focus: 'confirm', confirm: 'bob@x.test' });
    expect(formReducer(s, { type: 'cancel' })).toMatchObject({ focus: 'table', confirm: null });
  });
  it('knows which field a refusal is about', () => {
    expect(fieldOf('the password is too short: use at least 8 characters')).toBe('second');
    expect(fieldOf('invalid name "a..b": the name may not contain ".."')).toBe('name');
    expect(fieldOf('forwarding a@x.test there would make a loop: a -> b -> a')).toBe('second');
  });
});

describe('form keys', () => {
  const none = { upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false };
  const keyOf = (k: string) => ({ ...none, tab: k === '\t', return: k === '\r', escape: k === '\u001b', backspace: k === '\u007f' });
  const run = (keys: string, table: string[] = []) => {
    let s = initialFormState;
    const commands: string[] = [];
    for (const k of keys) {
      const c = formKey(s, k, keyOf(k), table, 10);
      if (!c) continue;
      if (c.type === 'submit' || c.type === 'remove') commands.push(c.type);
      else s = formReducer(s, c);
    }
    return { s, commands };
  };
  it('a burst of keys fills the form and submits, as typed slowly', () => {
    const { s, commands } = run('aBob\tsecret-pw\r');
    expect(s).toMatchObject({ name: 'bob', second: 'secret-pw' });
    expect(commands).toEqual(['submit']);
  });
  it('Backspace edits, Esc cancels, and the filter takes letters that are commands elsewhere', () => {
    expect(run('abox\u007f\u007fb').s.name).toBe('bb');
    expect(run('abob\u001b').s).toMatchObject({ focus: 'table', name: '' });
    expect(run('/jake\r').s).toMatchObject({ filter: 'jake', focus: 'table' });
  });
  it('moves through the table with j and k', () => {
    expect(run('jjk', ['a', 'b', 'c', 'd']).s.list.selected).toBe('b');
  });
});

describe('keys', () => {
  it('splits a burst into single keys and whole escape sequences', () => {
    expect(splitKeys('aname\tpass\r')).toEqual(['a', 'n', 'a', 'm', 'e', '\t', 'p', 'a', 's', 's', '\r']);
    expect(splitKeys('\u001b[A\u001b[5~x')).toEqual(['\u001b[A', '\u001b[5~', 'x']);
    expect(splitKeys('日本')).toEqual(['日', '本']);
  });
  it('drops escape sequences that are not keys, such as a pasted clear-screen', () => {
    const keys = splitKeys('a\u001b[2Jb\u001b[200~c\u001b[201~\u001b[B\u001b[6~\u001b').filter(isKnownKey);
    expect(keys).toEqual(['a', 'b', 'c', '\u001b[B', '\u001b[6~', '\u001b']);
  });
  it('edits a field: typing, backspace, Ctrl-U; control bytes from a paste are dropped', () => {
    const k = { backspace: false, delete: false, ctrl: false, meta: false };
    expect(editText('ab', 'c', k)).toBe('abc');
    expect(editText('ab', '', { ...k, backspace: true })).toBe('a');
    expect(editText('ab', 'u', { ...k, ctrl: true })).toBe('');
    expect(editText('ab', 'x\n', k)).toBe('abx');
    expect(editText('ab', '\t', k)).toBeNull();
  });
});
