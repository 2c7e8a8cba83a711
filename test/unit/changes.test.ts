import { describe, expect, it } from 'vitest';
import { findForwardLoop, type NameState, type PendingChange, planChange } from '../../src/model/changes.js';

const pending = (kind: 'account' | 'forward', action: PendingChange['action']): PendingChange => ({
  id: '7',
  seq: 7,
  domain: 'example.test',
  kind,
  action,
  name: 'bob',
  requestedAt: 0,
  appliesAt: 3_600_000,
});
const plan = (state: NameState, req: Parameters<typeof planChange>[3]) =>
  planChange('bob@example.test', 'bob', state, req);
const none: NameState = { account: false, forward: false };

describe('queueing account changes', () => {
  it('queues an add for a new name', () => {
    expect(plan(none, { kind: 'account', action: 'add' })).toEqual({
      op: 'queue',
      kind: 'account',
      action: 'add',
      replaces: undefined,
    });
  });
  it('refuses to add an existing account: use passwd', () => {
    expect(() => plan({ ...none, account: true }, { kind: 'account', action: 'add' })).toThrow(/exists: use passwd/);
    expect(() => plan({ ...none, pending: pending('account', 'add') }, { kind: 'account', action: 'add' })).toThrow(
      /exists \(its add is pending\)/,
    );
  });
  it('a password change on a pending add updates the add', () => {
    const p = pending('account', 'add');
    expect(plan({ ...none, pending: p }, { kind: 'account', action: 'password' })).toEqual({
      op: 'queue',
      kind: 'account',
      action: 'add',
      replaces: p,
    });
  });
  it('removing a pending add cancels it', () => {
    const p = pending('account', 'add');
    expect(plan({ ...none, pending: p }, { kind: 'account', action: 'remove' })).toEqual({ op: 'cancel', change: p });
  });
  it('a removal replaces a pending password change', () => {
    const p = pending('account', 'password');
    expect(plan({ ...none, account: true, pending: p }, { kind: 'account', action: 'remove' })).toEqual({
      op: 'queue',
      kind: 'account',
      action: 'remove',
      replaces: p,
    });
  });
  it('adding back an account whose removal is pending keeps it with the new password', () => {
    const p = pending('account', 'remove');
    expect(plan({ ...none, account: true, pending: p }, { kind: 'account', action: 'add' })).toEqual({
      op: 'queue',
      kind: 'account',
      action: 'password',
      replaces: p,
    });
  });
  it('refuses passwd and remove for a name that is not an account', () => {
    expect(() => plan(none, { kind: 'account', action: 'password' })).toThrow(/not an account/);
    expect(() => plan(none, { kind: 'account', action: 'remove' })).toThrow(/not an account/);
    expect(() =>
      plan({ ...none, account: true, pending: pending('account', 'remove') }, { kind: 'account', action: 'remove' }),
    ).toThrow(/already pending/);
  });
  it('postmaster may not be removed', () => {
    expect(() =>
      planChange(
        'postmaster@example.test',
        'postmaster',
        { ...none, account: true },
        { kind: 'account', action: 'remove' },
      ),
    ).toThrow(/postmaster/);
  });
});

describe('a name is an account or a forward, never both', () => {
  it('refuses an account where a forward is, and the other way round', () => {
    expect(() => plan({ ...none, forward: true }, { kind: 'account', action: 'add' })).toThrow(/forwarding address/);
    expect(() => plan({ ...none, account: true }, { kind: 'forward', action: 'set' })).toThrow(/POP3 account/);
    expect(() => plan({ ...none, pending: pending('forward', 'add') }, { kind: 'account', action: 'add' })).toThrow(
      /is pending/,
    );
    expect(() => plan({ ...none, pending: pending('account', 'add') }, { kind: 'forward', action: 'set' })).toThrow(
      /is pending/,
    );
  });
});

describe('queueing forward changes', () => {
  it('adds, updates, and merges with a pending add', () => {
    expect(plan(none, { kind: 'forward', action: 'set' })).toMatchObject({
      op: 'queue',
      kind: 'forward',
      action: 'add',
    });
    expect(plan({ ...none, forward: true }, { kind: 'forward', action: 'set' })).toMatchObject({
      op: 'queue',
      kind: 'forward',
      action: 'update',
    });
    const p = pending('forward', 'add');
    expect(plan({ ...none, pending: p }, { kind: 'forward', action: 'set' })).toEqual({
      op: 'queue',
      kind: 'forward',
      action: 'add',
      replaces: p,
    });
    expect(plan({ ...none, pending: p }, { kind: 'forward', action: 'remove' })).toEqual({ op: 'cancel', change: p });
  });
  it('a forward removal is a removal of a forward, whatever the change carries', () => {
    expect(plan({ ...none, forward: true }, { kind: 'forward', action: 'remove' })).toEqual({
      op: 'queue',
      kind: 'forward',
      action: 'remove',
      replaces: undefined,
    });
    const p = pending('forward', 'update');
    expect(plan({ ...none, forward: true, pending: p }, { kind: 'forward', action: 'remove' })).toEqual({
      op: 'queue',
      kind: 'forward',
      action: 'remove',
      replaces: p,
    });
  });
  it('refuses to remove what is not a forward', () => {
    expect(() => plan(none, { kind: 'forward', action: 'remove' })).toThrow(/not a forwarding address/);
  });
});

describe('forward loops', () => {
  const forwards: Record<string, string[]> = { 'b@d.test': ['c@d.test'], 'c@d.test': ['a@d.test', 'x@elsewhere.org'] };
  const of = (a: string) => forwards[a];
  it('finds a -> b -> c -> a', () => {
    expect(findForwardLoop('a@d.test', ['b@d.test'], of)).toEqual(['a@d.test', 'b@d.test', 'c@d.test', 'a@d.test']);
  });
  it('finds a direct a -> b -> a', () => {
    expect(findForwardLoop('a@d.test', ['z@d.test'], (x) => (x === 'z@d.test' ? ['a@d.test'] : undefined))).toEqual([
      'a@d.test',
      'z@d.test',
      'a@d.test',
    ]);
  });
  it('allows chains that end', () => {
    expect(
      findForwardLoop('a@d.test', ['c@d.test'], (x) => (x === 'c@d.test' ? ['x@elsewhere.org'] : undefined)),
    ).toBeNull();
  });
  it('terminates on a loop that does not involve the new forward', () => {
    const cyc: Record<string, string[]> = { 'p@d.test': ['q@d.test'], 'q@d.test': ['p@d.test'] };
    expect(findForwardLoop('a@d.test', ['p@d.test'], (x) => cyc[x])).toBeNull();
  });
});
