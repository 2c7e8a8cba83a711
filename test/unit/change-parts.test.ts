// The parts of a merged pending change, cancelling one, the whole-queue loop search, and the
// CSV export's formula rule read back by the import.
import { describe, expect, it } from 'vitest';
import type { ForwardView } from '../../src/control/protocol.js';
import { exportCsv, parseImportCsv } from '../../src/import-export/csv.js';
import { findAnyLoop, type PendingChange, partsOf, withoutPart } from '../../src/model/changes.js';

const change = (over: Partial<PendingChange>): PendingChange => ({
  id: '9',
  seq: 9,
  domain: 'example.test',
  kind: 'account',
  action: 'quota',
  name: 'bob',
  requestedAt: 0,
  appliesAt: 3_600_000,
  ...over,
});

describe('parts of a pending change', () => {
  it('a password change then a quota change then a suspension is three parts', () => {
    const c = change({ passwordHash: 'h', quota: { bytes: 1, messages: null }, suspended: true, action: 'suspend' });
    expect(partsOf(c)).toEqual(['password', 'quota', 'suspend']);
    const left = withoutPart(c, 'suspend');
    expect(left).toMatchObject({ id: '9', seq: 9, action: 'quota', passwordHash: 'h' });
    expect(left && 'suspended' in left).toBe(false);
    expect(left && partsOf(left)).toEqual(['password', 'quota']);
    expect(c.suspended).toBe(true);
  });

  it('a change of one part is cancelled whole; a part it does not have is refused with those it has', () => {
    expect(withoutPart(change({ quota: null }), 'quota')).toBeNull();
    expect(() => withoutPart(change({ quota: null, passwordHash: 'h' }), 'suspend')).toThrow(
      /has no "suspend" part: its parts are password, quota/,
    );
    expect(partsOf(change({ action: 'add', quota: null, passwordHash: 'h' }))).toEqual(['add']);
    expect(partsOf(change({ kind: 'domain', name: '', action: 'catchall', quota: null, catchall: 'x' }))).toEqual([
      'quota',
      'catchall',
    ]);
  });
});

describe('findAnyLoop', () => {
  const graph = (edges: Record<string, string[]>) => (a: string) => edges[a];
  it('finds a loop that does not pass through the first start, and none in a long chain', () => {
    expect(findAnyLoop(['a', 'b'], graph({ a: ['x'], b: ['c'], c: ['d'], d: ['b'] }))).toEqual(['b', 'c', 'd', 'b']);
    const chain: Record<string, string[]> = {};
    for (let i = 0; i < 20_000; i++) chain[`n${i}`] = [`n${i + 1}`];
    expect(findAnyLoop(Object.keys(chain), graph(chain))).toBeNull();
    chain.n19999 = ['n0'];
    expect(findAnyLoop(['n5'], graph(chain))?.length).toBe(20_001);
  });
});

describe('the CSV formula rule', () => {
  const fwd = (name: string, destinations: string[]): ForwardView => ({
    name,
    domain: 'example.test',
    address: `${name}@example.test`,
    active: true,
    destinations,
    pending: null,
    expiresAt: null,
  });
  it('every value comes back as it was, whatever it starts with', () => {
    const values = ['=a@x.test', '+a@x.test', '-a@x.test', '@a', "'=a@x.test", "''+a@x.test", "'a@x.test", 'a@x.test'];
    const csv = exportCsv(
      [],
      values.map((v, i) => fwd(`f${i}`, [v])),
    );
    const { rows } = parseImportCsv(csv);
    expect(rows.map((r) => r.forward?.[0])).toEqual(values);
    for (const line of csv.split('\r\n')) for (const cell of line.split(',')) expect(cell).not.toMatch(/^"?[=+\-@]/);
  });
});
