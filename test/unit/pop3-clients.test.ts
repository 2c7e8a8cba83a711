// The POP3 clients of a mailbox (model/pop3-clients.ts) stay bounded whatever comes: the
// attacker's side of item 4 (thousands of UIDLs, dozens of client addresses, many mailboxes).
import { describe, expect, it } from 'vitest';
import { Pop3Clients } from '../../src/model/pop3-clients.js';

describe('Pop3Clients', () => {
  it('100,000 UIDLs retrieved and deleted, 50 client addresses: counts stay right, the record bounded', () => {
    const c = new Pop3Clients();
    c.note('retrieved', 'a@x', '10.0.0.1', 'u0', 1000);
    for (let i = 0; i < 100_000; i++) c.note('retrieved', 'a@x', '10.0.0.2', `v${i}`, 2000);
    for (let i = 0; i < 100_000; i++) c.note('deleted', 'a@x', '10.0.0.2', `v${i}`, 3000);
    const h = c.health('a@x', 4000)!;
    expect(h.unseenDeleted).toEqual({ '10.0.0.1': 100_000 });
    expect(h.note).toBe('fetched by 2 clients; 100000 messages deleted before 10.0.0.1 saw them');
    for (let i = 0; i < 50; i++) c.note('retrieved', 'a@x', `10.1.0.${i}`, 'w', 5000 + i);
    expect(c.health('a@x', 6000)!.count).toBeLessThanOrEqual(8);
    // Events without a client or UIDL, and other events, change nothing.
    c.note('login', 'b@x', '10.0.0.1', 'u', 1);
    c.note('retrieved', 'b@x', null, 'u', 1);
    expect(c.health('b@x')).toBeNull();
  });

  it('a client not seen for 30 days no longer counts', () => {
    const c = new Pop3Clients();
    c.note('retrieved', 'a@x', '10.0.0.1', 'u1', 0);
    c.note('deleted', 'a@x', '10.0.0.2', 'u1', 40 * 86_400_000);
    expect(c.health('a@x', 40 * 86_400_000)!).toMatchObject({ count: 1, note: null });
  });
});
