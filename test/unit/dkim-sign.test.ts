// DKIM signing on its worker thread (src/smtp/dkim.ts, dkim-worker.ts) and the worker pool under
// it (src/support/worker-pool.ts): every signature verified by mailauth's own verifier against
// the published record, with messages signed at once (each must get its own signature), a
// message that is a view into a larger buffer, a big one, a domain without a key, a key made
// while messages are being signed, and a worker that dies on its job.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DkimKeys } from '../../src/smtp/dkim.js';
import { WorkerPool } from '../../src/support/worker-pool.js';
import { tempDir } from '../helpers/daemon.js';
import { dkimVerdicts } from '../helpers/dkim-verdicts.js';

function message(i: number, body = `Body ${i}: ${'x'.repeat(i % 97)}\r\n`): Buffer {
  return Buffer.from(
    `From: user${i}@example.test\r\nTo: someone@example.org\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@example.test>\r\n\r\n${body}`,
  );
}

/** mailauth's verdicts for `signed`, each signature checked against the records `keys` publishes. */
async function verdicts(keys: DkimKeys, domain: string, signed: Buffer): Promise<string[]> {
  return dkimVerdicts(new Map(keys.views(domain).map((v) => [v.name, v.value])), signed, false);
}

describe('DKIM signing on a worker thread', () => {
  it('signs 60 messages at once with RSA and ed25519, each with its own signatures, all verified', async () => {
    const keys = new DkimKeys(join(tempDir('vmail-dkim-'), 'dkim'));
    await keys.create('example.test', 'r1', 'rsa');
    await keys.create('example.test', 'e1', 'ed25519');
    const messages = Array.from({ length: 60 }, (_, i) => message(i));
    const signed = await Promise.all(messages.map((m) => keys.sign('example.test', m)));
    for (const [i, s] of signed.entries()) {
      // The message follows its two signatures unchanged.
      expect(s.subarray(s.length - messages[i].length).equals(messages[i])).toBe(true);
      const text = s.toString('latin1');
      expect(text).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;[\s\S]*? s=r1;/);
      expect(text).toMatch(
        /\nDKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example\.test;[\s\S]*? s=e1;/,
      );
      expect(await verdicts(keys, 'example.test', s)).toEqual(['example.test pass', 'example.test pass']);
    }
    // Swapped bodies fail (mailauth says "neutral" for a body hash that does not match): a
    // signature belongs to its own message.
    const head0 = signed[0].subarray(0, signed[0].length - messages[0].length);
    const swapped = await verdicts(keys, 'example.test', Buffer.concat([head0, messages[1]]));
    expect(swapped).toHaveLength(2);
    for (const v of swapped) expect(v).not.toBe('example.test pass');
  });

  it('signs a message that is a view into a larger buffer as the view, and a 10 MB message', async () => {
    const keys = new DkimKeys(join(tempDir('vmail-dkim-'), 'dkim'));
    await keys.create('example.test', 'r1', 'rsa');
    const m = message(7);
    const big = Buffer.concat([Buffer.from('junk before\r\n'), m, Buffer.from('junk after\r\n')]);
    const view = big.subarray(13, 13 + m.length);
    const signed = await keys.sign('example.test', view);
    // The caller's buffer is the caller's still (a copy went to the worker).
    expect(view.equals(m)).toBe(true);
    expect(big.length).toBe(m.length + 25);
    expect(signed.subarray(signed.length - m.length).equals(m)).toBe(true);
    expect(await verdicts(keys, 'example.test', signed)).toEqual(['example.test pass']);

    const large = message(8, `${'0123456789abcdefghij'.repeat(3)}\r\n`.repeat(330_000));
    expect(large.length).toBeGreaterThan(10_000_000);
    expect(await verdicts(keys, 'example.test', await keys.sign('example.test', large))).toEqual(['example.test pass']);
  });

  it('leaves a message of a domain without a key as it is, and signs with a key made meanwhile', async () => {
    const keys = new DkimKeys(join(tempDir('vmail-dkim-'), 'dkim'));
    const m = message(1);
    expect(await keys.sign('example.test', m)).toBe(m);
    const during = Promise.all(Array.from({ length: 20 }, (_, i) => keys.sign('example.test', message(i))));
    await keys.create('example.test', 'late', 'rsa');
    // Those asked before the key existed went unsigned; none is half signed.
    for (const s of await during) expect(s.toString('latin1').startsWith('From: ')).toBe(true);
    expect(await verdicts(keys, 'example.test', await keys.sign('example.test', m))).toEqual(['example.test pass']);
  });
});

describe('the worker pool', () => {
  it('fails the job a worker dies on, starts another for the rest, and refuses work once closed', async () => {
    const dir = tempDir('vmail-pool-');
    const script = join(dir, 'worker.mjs');
    writeFileSync(
      script,
      `import { parentPort } from 'node:worker_threads';
       parentPort.on('message', (job) => {
         if (job.die) process.exit(3);
         parentPort.postMessage({ id: job.id, twice: job.n * 2 });
       });`,
    );
    const pool = new WorkerPool<{ n: number; die?: boolean }, { id: number; twice: number }>(script, 2, 'test');
    const jobs = [
      pool.run({ n: 1 }),
      pool.run({ n: 2, die: true }),
      ...Array.from({ length: 30 }, (_, i) => pool.run({ n: i + 10 })),
    ];
    const got = await Promise.allSettled(jobs);
    expect(got[1]).toMatchObject({ status: 'rejected', reason: { message: 'the test worker exited (3)' } });
    const answers = got.filter((_, i) => i !== 1).map((g) => (g.status === 'fulfilled' ? g.value.twice : null));
    expect(answers).toEqual([2, ...Array.from({ length: 30 }, (_, i) => (i + 10) * 2)]);
    await pool.close();
    await expect(pool.run({ n: 1 })).rejects.toThrow('the test pool was closed');
  });
});
