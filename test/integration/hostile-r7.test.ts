// Hostile tests of round 7's changes (issue 30, speed): the trail's batched writes, the store's
// load, the bulk apply's syncfs. Each one judged by effect: what the trail says, files on disk.
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/daemon.js';

/** Resolves with `p`'s value, or rejects after `ms` (a bound on a wait, never a speed target). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

describe('the trail under mail that never pauses', () => {
  it('a query (vmail trace) answers while events keep coming, with the events noted before it', async () => {
    const { Store } = await import('../../src/store/store.js');
    const store = await Store.open(tempDir('vmail-h7-trail-'));
    let going = true;
    try {
      const trail = store.trail;
      (trail as unknown as { hosted: (a: string) => boolean }).hosted = () => true;
      trail.note({ event: 'delivered', address: 'busy@example.test', messageId: '<before@x>' });
      // Steady mail: an event on every turn of the event loop, so there is always one buffered
      // when a write ends.
      let n = 0;
      const pump = () => {
        if (!going) return;
        trail.note({ event: 'delivered', address: 'busy@example.test', messageId: `<m${n++}@x>` });
        setImmediate(pump);
      };
      pump();
      const events = await bounded(trail.query('busy@example.test'), 30_000, 'trail.query under steady mail');
      expect(events.some((e) => e.messageId === '<before@x>')).toBe(true);
    } finally {
      going = false;
      await store.close();
    }
  }, 60_000);
});
