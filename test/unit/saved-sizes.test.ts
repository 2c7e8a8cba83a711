// The saved mailbox index (DATA_DIR/mailbox-index) as a start reads it back: sizes restored by
// address whatever the order, a file of the previous version still read, and whatever a bad
// file holds (torn, garbage, a huge line, odd counts, rows for accounts that are gone or
// `..` in an address) never crashes a start and never keeps a wrong size past the first sweep.
// Real Maildirs in a temp dir; the index's own save() writes the files it reads.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MailboxIndex } from '../../src/maildir/mailbox-index.js';
import { createMaildir } from '../../src/maildir/paths.js';
import { tempDir, waitFor } from '../helpers/daemon.js';

const BODY = 'Subject: x\r\n\r\nbody\r\n';

/** Maildirs for `names` in a temp dir, the i-th holding i+1 messages. */
async function maildirs(names: string[]) {
  const root = tempDir('vmail-saved-');
  const boxes = names.map((n) => ({ address: `${n}@example.test`, dir: join(root, n) }));
  for (const [i, b] of boxes.entries()) {
    await createMaildir(b.dir);
    for (let k = 0; k <= i; k++) writeFileSync(join(b.dir, 'cur', `170000000${k}.M${k}P1.old:2,S`), BODY);
  }
  return { root, boxes, file: join(root, 'mailbox-index') };
}

const sizes = (index: MailboxIndex, boxes: { address: string }[]) =>
  boxes.map((b) => ({ messages: index.get(b.address).messages, bytes: index.get(b.address).bytes }));

describe('saved mailbox index', () => {
  it('restores every size by address, in any order, without listing', async () => {
    const { boxes, file } = await maildirs(['ann', 'bob', 'cy', 'dee']);
    const first = new MailboxIndex(undefined, file);
    expect(await first.trackAll(boxes)).toEqual({ restored: 0, listed: 4 });
    const listed = sizes(first, boxes);
    await first.stop();
    for (const order of [boxes, [...boxes].reverse(), [boxes[2], boxes[0], boxes[3], boxes[1]]]) {
      const again = new MailboxIndex(undefined, file);
      expect(await again.restore()).toBe(4);
      expect(await again.trackAll(order)).toEqual({ restored: 4, listed: 0 });
      expect(sizes(again, boxes)).toEqual(listed);
      expect(again.totalIn('example.test')).toEqual({ messages: 10, bytes: 10 * BODY.length });
    }
  });

  it("reads the previous version's file, and leaves out accounts that are gone", async () => {
    const { boxes, file } = await maildirs(['ann', 'bob']);
    // As the previous version wrote it: a gone account first, a row with no stamp, a `..` name.
    writeFileSync(
      file,
      'vmail-mailbox-index 1\n' +
        'gone@example.test 7 700 1700000000000 1:2/3:4 listed\n' +
        `ann@example.test 1 ${BODY.length} 1700000000000 - counted\n` +
        `../../etc@example.test 9 900 - 1:2/3:4 listed\n` +
        `bob@example.test 2 ${2 * BODY.length} - 5:6/7:8 listed\n`,
    );
    const index = new MailboxIndex(undefined, file);
    expect(await index.restore()).toBe(4);
    expect(await index.trackAll(boxes)).toEqual({ restored: 2, listed: 0 });
    expect(sizes(index, boxes)).toEqual([
      { messages: 1, bytes: BODY.length },
      { messages: 2, bytes: 2 * BODY.length },
    ]);
    expect(index.oldest('ann@example.test')).toBe(1_700_000_000_000);
    expect(index.has('gone@example.test') || index.has('../../etc@example.test')).toBe(false);
    // Only tracked accounts count in their domain.
    expect(index.totalIn('example.test')).toEqual({ messages: 3, bytes: 3 * BODY.length });
  });

  it('lists instead of trusting a count that is not plain digits (negative, hex, exponent, empty, too long)', async () => {
    const names = ['neg', 'hex', 'exp', 'empty', 'long', 'ok'];
    const { boxes, file } = await maildirs(names);
    writeFileSync(
      file,
      'vmail-mailbox-index 1\n' +
        'neg@example.test -5 100 - 1:2/3:4 listed\n' +
        'hex@example.test 0x10 100 - 1:2/3:4 listed\n' +
        'exp@example.test 1e3 100 - 1:2/3:4 listed\n' +
        'empty@example.test  100 - 1:2/3:4 listed\n' +
        'long@example.test 1 1234567890123456 - 1:2/3:4 listed\n' +
        'ok@example.test 1 1 -5 1:2/3:4 listed\n',
    );
    const index = new MailboxIndex(undefined, file);
    expect(await index.restore()).toBe(0);
    // Each is listed from its Maildir: the sizes are the files' own.
    expect(await index.trackAll(boxes)).toEqual({ restored: 0, listed: 6 });
    expect(sizes(index, boxes)).toEqual(names.map((_, i) => ({ messages: i + 1, bytes: (i + 1) * BODY.length })));
  });

  it('a file torn at any byte never crashes and restores only whole rows', async () => {
    const { boxes, file } = await maildirs(['ann', 'bob', 'cy']);
    const first = new MailboxIndex(undefined, file);
    await first.trackAll(boxes);
    const listed = sizes(first, boxes);
    await first.stop();
    const whole = (await import('node:fs')).readFileSync(file, 'utf8');
    for (let cut = 0; cut <= whole.length; cut++) {
      writeFileSync(file, whole.slice(0, cut));
      const index = new MailboxIndex(undefined, file);
      await index.restore();
      const { restored, listed: relisted } = await index.trackAll(boxes);
      expect(restored + relisted).toBe(3);
      // Restored or listed, every size is the right one.
      expect(sizes(index, boxes)).toEqual(listed);
    }
  });

  it('garbage, a file of another kind and a 20 MB line restore nothing and crash nothing', async () => {
    const { boxes, file } = await maildirs(['ann']);
    const huge = `vmail-mailbox-index 1\nann@example.test 1 1 - ${'x'.repeat(20_000_000)} listed`;
    for (const text of ['\0\xff garbage \n\n\n', 'vmail-sizes 1\nann 1 1\n', huge, 'vmail-mailbox-index 1']) {
      writeFileSync(file, text);
      const index = new MailboxIndex(undefined, file);
      // The huge line is a whole row (its stamp is just never a folder's): kept until the sweep.
      await index.restore();
      await index.trackAll(boxes);
      index.startSweeping(60_000);
      await waitFor(() => index.get(boxes[0].address).bytes === BODY.length || null, 'the size listed', 5000);
      await index.stop();
    }
  });

  it("a wrong size saved for an existing account lasts only until the first sweep (its folders' times differ)", async () => {
    const { boxes, file } = await maildirs(['ann']);
    writeFileSync(file, 'vmail-mailbox-index 1\nann@example.test 999 999999 - 1:2/3:4 listed\n');
    const index = new MailboxIndex(undefined, file);
    await index.restore();
    expect(await index.trackAll(boxes)).toEqual({ restored: 1, listed: 0 });
    expect(index.get(boxes[0].address)).toMatchObject({ messages: 999 });
    index.startSweeping(60_000);
    try {
      await waitFor(() => index.get(boxes[0].address).messages === 1 || null, 'the sweep to list it', 5000);
      expect(index.totalIn('example.test')).toEqual({ messages: 1, bytes: BODY.length });
    } finally {
      await index.stop();
    }
  });
});
