// The mailbox index's limit on watches: the mailboxes past it are not watched, and a change
// another program makes in one of them still shows, through the sweep. Real Maildirs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MailboxIndex } from '../../src/maildir/mailbox-index.js';
import { createMaildir } from '../../src/maildir/paths.js';
import { tempDir, waitFor } from '../helpers/daemon.js';

describe('watches past their limit', () => {
  it('watches one mailbox of two, and the sweep finds a change in the other', async () => {
    const root = tempDir('vmail-index-');
    const index = new MailboxIndex(undefined, null, 1);
    const boxes = ['ann', 'bob'].map((name) => ({ address: `${name}@example.test`, dir: join(root, name) }));
    for (const b of boxes) await createMaildir(b.dir);
    expect(await index.trackAll(boxes)).toEqual({ restored: 0, listed: 2 });
    index.startSweeping(200);
    try {
      expect(index.watches).toBe(2);
      for (const b of boxes) writeFileSync(join(b.dir, 'new', '1700000000.M1P1.elsewhere'), 'Subject: x\n\nbody\n');
      await waitFor(() => boxes.every((b) => index.get(b.address).messages === 1), 'both sizes to move', 5000);
      expect(index.totalIn('example.test')).toMatchObject({ messages: 2 });
    } finally {
      await index.stop();
    }
  });
});
