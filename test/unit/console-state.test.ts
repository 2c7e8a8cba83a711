// The console's pure state: navigation, list scrolling, the form and pending screens' keys,
// the app reducer's outbox, and the key gate.
import { describe, expect, it } from 'vitest';
import {
  type AppState,
  type AppView,
  appReducer,
  initialAppState,
  isTypingIn,
  keyTarget,
} from '../../screens/app/app-reducer.js';
import { domainsKey } from '../../screens/domains/domains-keys.js';
import { domainsReducer, initialDomainsState } from '../../screens/domains/domains-reducer.js';
import { initialPendingState, pendingKey } from '../../screens/pending/pending-reducer.js';
import { formKey } from '../../screens/shared/form-keys.js';
import {
  checkUnconfirmed,
  type FormContext,
  type FormRow,
  type FormState,
  formReducer,
  initialFormState,
} from '../../screens/shared/form-reducer.js';
import { nextApplyLabel } from '../../screens/shared/frame.js';
import { isKnownKey, KeyGate, splitKeys } from '../../screens/shared/key-gate.js';
import { initialListState, moveSelection, selectedIndex, settle } from '../../screens/shared/list-reducer.js';
import type { FormScreen } from '../../screens/shared/screen-names.js';
import type { Effect } from '../../screens/shared/step.js';
import type { DomainView } from '../../src/control/protocol.js';

describe('navigation', () => {
  it('picks the only domain, or asks when there are several', () => {
    expect(appReducer(initialAppState, { type: 'domains-known', domains: ['a.test'] })).toMatchObject({
      domain: 'a.test',
      screen: 'menu',
    });
    expect(appReducer(initialAppState, { type: 'domains-known', domains: ['a.test', 'b.test'] })).toMatchObject({
      domain: null,
      screen: 'domains',
    });
  });
  it('returns from help to where it was opened', () => {
    let s = appReducer({ ...initialAppState, domain: 'a.test' }, { type: 'open', screen: 'accounts' });
    s = appReducer(s, { type: 'open', screen: 'help' });
    expect(appReducer(s, { type: 'back' }).screen).toBe('accounts');
  });
});

describe('list scrolling', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `u${i}`);
  it('keeps the selection in the window while moving and paging', () => {
    let s = moveSelection(initialListState, keys, 1, 10);
    expect(s).toEqual({ selected: 'u1', top: 0, index: 1 });
    s = moveSelection(s, keys, 20, 10);
    expect(s).toEqual({ selected: 'u21', top: 12, index: 21 });
    s = moveSelection(s, keys, Infinity, 10);
    expect(s).toEqual({ selected: 'u9999', top: 9990, index: 9999 });
    s = moveSelection(s, keys, -Infinity, 10);
    expect(s).toEqual({ selected: 'u0', top: 0, index: 0 });
  });
  it('follows the selected key when the list changes underneath', () => {
    const s = { selected: 'u50', top: 45 };
    const shorter = keys.filter((k) => k !== 'u10');
    expect(selectedIndex(s, shorter)).toBe(49);
    expect(settle(s, shorter, 10)).toEqual({ ...s, index: 49 });
    const gone = keys.filter((k) => k !== 'u50');
    expect(settle(s, gone, 10).selected).toBe(gone[45]);
    expect(settle(s, [], 10)).toEqual(initialListState);
  });
});

const none = {
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
/** What Ink makes of one key the terminal sends. */
const press = (k: string): [string, typeof none] => {
  const special = {
    '\t': 'tab',
    '\r': 'return',
    '\u001b': 'escape',
    '\u007f': 'backspace',
    '\u001b[A': 'upArrow',
    '\u001b[B': 'downArrow',
  } as const;
  const name = special[k as keyof typeof special];
  if (name) return ['', { ...none, [name]: true }];
  if (k === '\u0015') return ['u', { ...none, ctrl: true }];
  return [k, none];
};

const rows: FormRow[] = ['alice', 'bob', 'carol'].map((n) => ({
  address: `${n}@x.test`,
  name: n,
  pending: n === 'bob' ? { id: '7', action: 'password' } : null,
}));
const ctx = (screen: FormScreen = 'accounts'): FormContext => ({ screen, domain: 'x.test', rows, tableHeight: 10 });

/** Keys into a form: a text field's text and cursor are the form's (text-buffer.ts). */
function keys(state: FormState, sequence: string[], c = ctx()): { state: FormState; effects: Effect[] } {
  let s = state;
  const effects: Effect[] = [];
  for (const k of sequence) {
    const step = formKey(s, ...press(k), c);
    s = step.state;
    effects.push(...step.effects);
  }
  return { state: s, effects };
}

describe('the form screens', () => {
  it('a, a name, Tab, a password, Enter: one request, typed by the protocol', () => {
    const { state, effects } = keys(initialFormState, ['a', 'Bob', '\t', 'secret-pw', '\r']);
    // Capitals kept as typed (the form says the name is saved in lower case); sent in lower case.
    expect(state).toMatchObject({ name: 'Bob', second: 'secret-pw', busy: true });
    expect(effects).toEqual([
      {
        type: 'submit',
        screen: 'accounts',
        call: { method: 'accounts.add', params: { name: 'bob', password: 'secret-pw', domain: 'x.test' } },
        address: 'bob@x.test',
        action: 'add',
      },
    ]);
    const done = formReducer(state, { type: 'queued', notice: { kind: 'ok', text: 'Queued' } });
    expect(done).toMatchObject({ focus: 'table', name: '', second: '', busy: false, notice: { text: 'Queued' } });
  });
  it('shows a refusal beside the field the daemon names', () => {
    const sent = keys(initialFormState, ['a', 'bob', '\t', 'short', '\r']).state;
    expect(formReducer(sent, { type: 'refused', field: 'password', text: 'too short' })).toMatchObject({
      focus: 'second',
      error: { field: 'second', text: 'too short' },
    });
    expect(formReducer(sent, { type: 'refused', field: 'name', text: 'bob exists' })).toMatchObject({
      focus: 'name',
      error: { field: 'name' },
    });
    // A refusal about something that is not a field here is a notice.
    expect(formReducer(sent, { type: 'refused', field: undefined, text: 'internal error' })).toMatchObject({
      error: null,
      notice: { kind: 'error', text: 'internal error' },
    });
  });
  it('checks what it can before sending', () => {
    expect(keys(initialFormState, ['a', '\t', '\r']).state.error?.field).toBe('name');
    expect(keys(initialFormState, ['a', 'bob', '\t', '\r']).state.error?.field).toBe('second');
  });
  it('p changes the selected password; d asks, with No as the default; u undoes', () => {
    const moved = keys(initialFormState, ['j']).state;
    expect(keys(moved, ['p']).state).toMatchObject({ mode: 'change', target: 'bob', focus: 'second' });
    const asked = keys(moved, ['d']).state;
    expect(asked).toMatchObject({ focus: 'confirm', confirm: 'bob@x.test' });
    expect(keys(asked, ['\r'])).toMatchObject({ state: { focus: 'table', confirm: null }, effects: [] });
    expect(keys(asked, ['y']).effects).toEqual([
      {
        type: 'call',
        screen: 'accounts',
        what: 'remove',
        call: { method: 'accounts.remove', params: { name: 'bob@x.test', domain: 'x.test' } },
        address: 'bob@x.test',
      },
    ]);
    // u asks first, as d does (issue 26 item 4): nothing is sent until y; n drops the question.
    expect(keys(moved, ['u']).effects).toEqual([]);
    expect(keys(moved, ['u']).state).toMatchObject({ focus: 'confirm', confirm: 'bob@x.test' });
    expect(keys(moved, ['u', 'n'])).toMatchObject({ effects: [], state: { focus: 'table', confirm: null } });
    expect(keys(moved, ['u', 'y']).effects).toEqual([
      {
        type: 'call',
        screen: 'accounts',
        what: 'undo',
        call: { method: 'pending.cancel', params: { id: '7' } },
        address: 'bob@x.test',
      },
    ]);
    expect(keys(initialFormState, ['u']).state.notice?.text).toMatch(/no pending change to undo/);
    // Ctrl-U clears a field; on the table it is not u, undo.
    expect(keys(moved, ['\u0015'])).toEqual({ state: moved, effects: [] });
  });
  it('l sets the selected quota; z suspends, or resumes a suspended account; r renames; s cycles name, size, quota', () => {
    const moved = keys(initialFormState, ['j']).state;
    const typed = keys(moved, ['l', '25M', '\r']);
    expect(typed.effects).toEqual([
      {
        type: 'submit',
        screen: 'accounts',
        call: { method: 'accounts.quota', params: { name: 'bob', quota: '25M', domain: 'x.test' } },
        address: 'bob@x.test',
        action: 'quota',
      },
    ]);
    // A refused size goes back to the quota field.
    expect(formReducer(typed.state, { type: 'refused', field: 'quota', text: 'bad size' })).toMatchObject({
      focus: 'second',
      mode: 'quota',
      error: { field: 'second', text: 'bad size' },
    });
    // z asks first, as d does.
    expect(keys(moved, ['z']).effects).toEqual([]);
    expect(keys(moved, ['z', 'n']).effects).toEqual([]);
    expect(keys(moved, ['z', 'y']).effects).toEqual([
      {
        type: 'call',
        screen: 'accounts',
        what: 'suspend',
        call: { method: 'accounts.suspend', params: { name: 'bob', domain: 'x.test' } },
        address: 'bob@x.test',
      },
    ]);
    const suspended = { ...ctx(), rows: rows.map((r) => ({ ...r, suspended: r.name === 'alice' })) };
    expect(keys(initialFormState, ['z', 'y'], suspended).effects[0]).toMatchObject({
      what: 'resume',
      call: { method: 'accounts.resume', params: { name: 'alice', domain: 'x.test' } },
    });
    expect(keys(moved, ['r', 'Robert', '\r']).effects).toEqual([
      {
        type: 'submit',
        screen: 'accounts',
        call: { method: 'accounts.rename', params: { name: 'bob', newName: 'robert', domain: 'x.test' } },
        address: 'bob@x.test',
        action: 'rename',
      },
    ]);
    expect(['s', 's', 's'].map((_, i, all) => keys(initialFormState, all.slice(0, i + 1)).state.sort)).toEqual([
      'size',
      'quota',
      'name',
    ]);
  });
  it('on a forward, Enter edits the destinations it will have', () => {
    const fwd = {
      ...ctx('forwards'),
      rows: [{ address: 'info@x.test', name: 'info', pending: null, destinations: ['a@y.test', 'b@y.test'] }],
    };
    expect(keys(initialFormState, ['\r'], fwd).state).toMatchObject({
      mode: 'change',
      second: 'a@y.test, b@y.test',
      focus: 'second',
    });
    const { effects } = keys(initialFormState, ['\r', '\u0015', 'c@y.test', '\r'], fwd);
    expect(effects).toEqual([
      {
        type: 'submit',
        screen: 'forwards',
        call: { method: 'forwards.add', params: { name: 'info', destinations: ['c@y.test'], domain: 'x.test' } },
        address: 'info@x.test',
        action: 'update',
      },
    ]);
  });
  it('Esc cancels typing; the filter takes letters that are commands elsewhere', () => {
    expect(keys(initialFormState, ['a', 'bob', '\u001b']).state).toMatchObject({ focus: 'table', name: '' });
    expect(keys(initialFormState, ['f', 'jake', '\r']).state).toMatchObject({ filter: 'jake', focus: 'table' });
    expect(keys(initialFormState, ['\u001b']).effects).toEqual([{ type: 'nav', to: 'back' }]);
  });
  it('once the daemon is back, says whether a change sent as it went was queued', () => {
    const lost = formReducer(initialFormState, { type: 'unconfirmed', address: 'bob@x.test', action: 'add' });
    expect(lost.notice?.text).toMatch(/^Not confirmed/);
    const pending = [
      {
        id: '9',
        domain: 'x.test',
        kind: 'account' as const,
        action: 'add' as const,
        name: 'bob',
        address: 'bob@x.test',
        requestedAt: '',
        requestedBy: null,
        appliesAt: new Date(3_600_000).toISOString(),
      },
    ];
    expect(checkUnconfirmed(lost, pending, 0)).toMatchObject({
      type: 'confirmed',
      notice: { kind: 'ok', text: expect.stringMatching(/the add of bob@x.test is queued/) },
    });
    expect(checkUnconfirmed(lost, [], 0)).toMatchObject({
      notice: { kind: 'warn', text: expect.stringMatching(/was NOT queued/) },
    });
  });
});

describe('the pending screen', () => {
  const p = (id: string, name: string) => ({
    id,
    domain: 'x.test',
    kind: 'account' as const,
    action: 'add' as const,
    name,
    address: `${name}@x.test`,
    requestedAt: '',
    requestedBy: null,
    appliesAt: '',
  });
  const pc = { domain: 'x.test', rows: [p('1', 'a'), p('2', 'b')], tableHeight: 5 };
  it('A asks, y applies this domain only; c asks, y cancels the selected change', () => {
    const asked = pendingKey(initialPendingState, 'A', none, pc).state;
    expect(asked.confirm).toBe('apply');
    expect(pendingKey(asked, 'y', none, pc).effects).toEqual([
      {
        type: 'call',
        screen: 'pending',
        what: 'apply',
        call: { method: 'pending.apply', params: { domain: 'x.test' } },
        address: 'x.test',
      },
    ]);
    expect(pendingKey(asked, 'n', none, pc)).toMatchObject({ state: { confirm: null }, effects: [] });
    const second = pendingKey(initialPendingState, 'j', none, pc).state;
    const cancel = pendingKey(second, 'c', none, pc).state;
    expect(pendingKey(cancel, 'y', none, pc).effects).toEqual([
      {
        type: 'call',
        screen: 'pending',
        what: 'cancel',
        call: { method: 'pending.cancel', params: { id: '2' } },
        address: 'b@x.test',
      },
    ]);
  });
});

function domainRow(domain: string, patch: Partial<DomainView> = {}): DomainView {
  return {
    domain,
    hosted: true,
    accounts: 0,
    forwards: 0,
    messages: 0,
    bytes: 0,
    pending: 0,
    change: null,
    catchall: null,
    quota: null,
    ...patch,
  };
}

describe('the Domains screen', () => {
  const at = new Date(Date.now() + 600_000).toISOString();
  const rows = [
    domainRow('a.test', { accounts: 2, forwards: 1 }),
    domainRow('b.test'),
    domainRow('new.test', { hosted: false, pending: 1, change: { id: '9', action: 'add', appliesAt: at } }),
  ];
  const ctx = { rows, current: 'a.test', tableHeight: 10 };
  const keys = (sequence: string[], state = initialDomainsState) => {
    const effects: Effect[] = [];
    let s = state;
    for (const k of sequence) {
      const [input, key] = press(k);
      const step = domainsKey(s, input, key, ctx);
      s = step.state;
      effects.push(...step.effects);
    }
    return { state: s, effects };
  };
  it('c sets the selected catch-all, l its default quota, in the field, prefilled; Esc leaves both', () => {
    const typing = keys(['c']).state;
    expect(typing).toMatchObject({ focus: 'name', field: { what: 'catchall', domain: 'a.test' }, name: '' });
    const typed = domainsReducer(typing, { type: 'edit', value: 'sales' });
    expect(keys(['\r'], typed).effects).toEqual([
      {
        type: 'call',
        screen: 'domains',
        what: 'set-domain',
        call: { method: 'domains.catchall', params: { domain: 'a.test', target: 'sales' } },
        address: 'a.test',
      },
    ]);
    const quota = keys(['l'], keys(['\u001b[B']).state).state;
    expect(quota).toMatchObject({ field: { what: 'quota', domain: 'b.test' } });
    expect(keys(['\r'], domainsReducer(quota, { type: 'edit', value: '25M' })).effects[0]).toMatchObject({
      call: { method: 'domains.quota', params: { domain: 'b.test', quota: '25m' } },
    });
    expect(keys(['\u001b'], typing).state).toMatchObject({ focus: 'list', field: { what: 'add' } });
    // A domain being added has no settings to change yet.
    expect(keys(['G', 'c']).state.focus).toBe('list');
  });
  it('asks for a domain when none is hosted, and when the managed one is gone', () => {
    expect(appReducer(initialAppState, { type: 'domains-known', domains: [] })).toMatchObject({
      domain: null,
      screen: 'domains',
    });
    const managing = { ...initialAppState, domain: 'gone.test', screen: 'accounts' as const };
    expect(appReducer(managing, { type: 'domains-known', domains: ['a.test', 'b.test'] })).toMatchObject({
      domain: null,
      screen: 'domains',
    });
  });
  it('adds a domain typed into its field; a refusal goes back to the field with the text kept', () => {
    let { state, effects } = keys(['a']);
    expect(state.focus).toBe('name');
    expect(keyTarget({ ...initialAppState, screen: 'domains', domains: state })).toEqual({
      textMode: true,
      atStart: true,
      atEnd: true,
      busy: false,
    });
    state = domainsReducer(state, { type: 'edit', value: 'New.Org' });
    ({ state, effects } = keys(['\r'], { ...state, cursor: 7 }));
    expect(effects).toEqual([
      {
        type: 'call',
        screen: 'domains',
        what: 'add-domain',
        call: { method: 'domains.add', params: { domain: 'new.org' } },
        address: 'new.org',
      },
    ]);
    expect(state.busy).toBe(true);
    state = domainsReducer(state, { type: 'refused', text: 'new.org is hosted here already' });
    expect(state).toMatchObject({
      focus: 'name',
      name: 'new.org',
      error: 'new.org is hosted here already',
      busy: false,
    });
    state = domainsReducer(state, { type: 'added', notice: { kind: 'ok', text: 'Queued' } });
    expect(state).toMatchObject({ focus: 'list', name: '', error: null });
  });
  it('removes a domain with its accounts only after a yes that names them; n keeps it', () => {
    const asked = keys(['d']);
    expect(asked.state.confirm).toEqual({ what: 'remove', domain: 'a.test', withAccounts: true });
    expect(keys(['n'], asked.state).effects).toEqual([]);
    expect(keys(['y'], asked.state).effects).toEqual([
      {
        type: 'call',
        screen: 'domains',
        what: 'remove-domain',
        call: { method: 'domains.remove', params: { domain: 'a.test', withAccounts: true } },
        address: 'a.test',
      },
    ]);
    expect(keys(['j', 'd']).state.confirm).toEqual({ what: 'remove', domain: 'b.test', withAccounts: false });
  });
  it('chooses a hosted domain with Enter; a domain being added can be undone or applied now', () => {
    expect(keys(['j', '\r']).effects).toEqual([{ type: 'choose', domain: 'b.test' }]);
    const pendingAdd = keys(['G', '\r']);
    expect(pendingAdd.effects).toEqual([]);
    expect(pendingAdd.state.notice?.text).toMatch(/new\.test is hosted once its add applies at .*: press A/);
    expect(keys(['G', 'u']).effects).toMatchObject([{ call: { method: 'pending.cancel', params: { id: '9' } } }]);
    expect(keys(['G', 'A', 'y']).effects).toMatchObject([
      { call: { method: 'pending.apply', params: { domain: 'new.test' } } },
    ]);
    // Through the app: choosing makes it the managed domain and opens the menu.
    const app = appReducer(
      { ...initialAppState, screen: 'domains', domain: 'a.test' },
      {
        type: 'key',
        ...{ input: press('j')[0], key: press('j')[1] },
        view: { tooSmall: false, connected: true, domains: ctx },
      },
    );
    const chosen = appReducer(app, {
      type: 'key',
      ...{ input: press('\r')[0], key: press('\r')[1] },
      view: { tooSmall: false, connected: true, domains: ctx },
    });
    expect(chosen).toMatchObject({ domain: 'b.test', screen: 'menu' });
  });
});

describe('the app', () => {
  const view: AppView = { tooSmall: false, connected: true, form: ctx() };
  const run = (state: AppState, sequence: string[], v: AppView = view) =>
    sequence.reduce(
      (s, k) => appReducer(s, { type: 'key', ...{ input: press(k)[0], key: press(k)[1] }, view: v }),
      state,
    );
  const start = appReducer(initialAppState, { type: 'domains-known', domains: ['x.test'] });
  it('opens screens from the menu, goes back with Esc, and keeps what a screen was left with', () => {
    let s = run(start, ['1']);
    expect(s.screen).toBe('accounts');
    s = run(s, ['a', 'half']);
    expect(s.accounts.focus).toBe('name');
    s = appReducer(s, { type: 'form', screen: 'accounts', action: { type: 'edit', field: 'name', value: 'half' } });
    expect(isTypingIn(s)).toBe(true);
    s = run(s, ['\u001b', '\u001b']);
    expect(s.screen).toBe('menu');
    expect(run(s, ['1']).accounts.name).toBe('');
  });
  it('S on a list searches every domain from its filter; Enter jumps to the match on its own domain; Esc comes back', () => {
    let s = run(start, ['1', 'f', 'bo', '\r']);
    s = appReducer(s, { type: 'form', screen: 'accounts', action: { type: 'edit', field: 'filter', value: 'bo' } });
    // / filters the list on screen (issue 26 item 4); S is the search over every domain.
    expect(run(s, ['/']).accounts.focus).toBe('filter');
    s = run(s, ['S']);
    expect(s.screen).toBe('search');
    expect(s.reports.search.query).toBe('bo');
    const report = {
      keys: ['bob@other.test', 'bobby@x.test'],
      jumps: [
        { domain: 'other.test', screen: 'accounts' as const, name: 'bob' },
        { domain: 'x.test', screen: 'accounts' as const, name: 'bobby' },
      ],
      height: 10,
    };
    // Letters are the search's, even those that are commands elsewhere (j, k, q).
    expect(run(s, ['q'], { ...view, report }).reports.search.query).toBe('boq');
    expect(run(s, ['\u001b'], { ...view, report }).screen).toBe('accounts');
    const jumped = run(s, ['\r'], { ...view, report });
    expect(jumped).toMatchObject({ domain: 'other.test', screen: 'accounts' });
    expect(jumped.accounts).toMatchObject({ filter: 'bob', list: { selected: 'bob@other.test' } });
  });
  it('puts the requests keys ask for in the outbox, and takes them out once sent', () => {
    let s = run(start, ['1', 'j', 'd', 'y']);
    expect(s.outbox).toHaveLength(1);
    s = appReducer(s, { type: 'sent', count: 1 });
    expect(s.outbox).toEqual([]);
  });
  it("quits with q, and from the menu's last item", () => {
    expect(run(start, ['q']).quitting).toBe(true);
    expect(run(start, ['k', '\r']).quitting).toBe(true);
    const rows = ['a.test', 'b.test'].map((domain) => domainRow(domain));
    expect(
      run({ ...start, screen: 'domains', domain: null }, ['j', '\r'], {
        ...view,
        domains: { rows, current: null, tableHeight: 10 },
      }),
    ).toMatchObject({ domain: 'b.test', screen: 'menu' });
  });
});

describe('the key gate', () => {
  const plain = { textMode: false, atStart: false, atEnd: false };
  const gate = () => {
    const out: string[] = [];
    const g = new KeyGate((k) => out.push(k));
    const asked: number[] = [];
    g.onRelease = (seq) => asked.push(seq);
    const tick = () => new Promise((r) => setImmediate(r));
    /** The app committing each render the gate asks for, as long as there are keys. */
    const app = async (textMode: boolean) => {
      for (let i = 0; i < 20; i++) {
        await tick();
        const seq = asked.shift();
        if (seq === undefined) return;
        g.committed(seq, { textMode, atStart: false, atEnd: false });
      }
    };
    return { g, out, asked, tick, app };
  };
  it('lets no key through before a commit, then one per commit, escape sequences whole', async () => {
    const { g, out, asked, tick } = gate();
    g.push('ab\u001b[Ac');
    expect(out).toEqual([]);
    await tick();
    expect(asked).toEqual([1]);
    g.committed(1, plain);
    expect(out).toEqual(['a']);
    g.committed(1, plain);
    expect(out).toEqual(['a']);
    await tick();
    g.committed(2, plain);
    await tick();
    g.committed(3, plain);
    expect(out).toEqual(['a', 'b', '\u001b[A']);
  });
  it('lets a run of text through whole while a field has the keys, as of the last commit', async () => {
    const { g, out, app } = gate();
    g.push('password-22\rx');
    await app(true);
    expect(out).toEqual(['password-22', '\r', 'x']);
    const second = gate();
    second.g.push('aname');
    await second.app(false);
    expect(second.out).toEqual(['a', 'n', 'a', 'm', 'e']);
  });
  it('holds an escape sequence split across two reads until it is whole, and Ctrl-C goes first', async () => {
    const { g, out, app } = gate();
    g.push('\u001b[');
    g.push('B');
    await app(false);
    expect(out).toEqual(['\u001b[B']);
    const { g: g2, out: out2 } = gate();
    let interrupted = false;
    g2.onInterrupt = () => (interrupted = true);
    g2.push('abc\u0003');
    expect(interrupted).toBe(true);
    expect(out2).toEqual([]);
  });
  it('a lone Escape goes through after a moment', async () => {
    const { g, out, app } = gate();
    g.push('\u001b');
    await app(false);
    expect(out).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    await app(false);
    expect(out).toEqual(['\u001b']);
  });
  it("drops an arrow that would move a field's cursor past either end", async () => {
    const { g, out, asked, tick } = gate();
    g.push('\u001b[D\u001b[Cx');
    await tick();
    g.committed(asked.shift()!, { textMode: true, atStart: true, atEnd: true });
    expect(out).toEqual(['x']);
  });
  it('splits a burst into keys and drops escape sequences that are not keys', () => {
    expect(splitKeys('aname\tpass\r')).toEqual(['a', 'n', 'a', 'm', 'e', '\t', 'p', 'a', 's', 's', '\r']);
    expect(splitKeys('a\u001b[2Jb\u001b[200~c\u001b[201~\u001b[B\u001b[6~').filter(isKnownKey)).toEqual([
      'a',
      'b',
      'c',
      '\u001b[B',
      '\u001b[6~',
    ]);
  });
});

describe('the header', () => {
  it('says when the next apply is in few enough characters that the title fits at 80 columns', () => {
    const now = new Date(2026, 10, 29, 23, 40, 0).getTime();
    expect(nextApplyLabel(new Date(2026, 10, 30, 0, 0, 0).getTime(), now)).toBe('next apply 00:00 in 20:00');
    expect(nextApplyLabel(now + 3 * 86_400_000 + 19 * 3_600_000 + 120_000, now)).toBe('next apply in 3d 19h');
  });
});
