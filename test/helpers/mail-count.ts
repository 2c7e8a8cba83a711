// Counting mail by Message-ID for the lifecycle tests: a smtplib loop (smtp_loop.py) that
// records every answer, and where each message ended across the Maildirs and the archive.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type DaemonHandle, ROOT, tempDir, waitFor } from './process.js';

export const json = (r: { stdout: string }) => JSON.parse(r.stdout);

export interface Sent {
  id: string;
  to: string;
  code: number | null;
}

/** A smtplib loop (test/helpers/smtp_loop.py) against `port`; `stop` ends it and gives every answer. */
export function smtpLoop(port: number, tag: string, rcpts: string[], count: number) {
  const stopFile = join(tempDir('loop-'), 'stop');
  const p = spawn(
    'python3',
    [join(ROOT, 'test/helpers/smtp_loop.py'), String(port), tag, String(count), stopFile, rcpts.join(',')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => p.on('close', () => r()));
  const sent = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Sent);
  return {
    sent,
    stop: async (): Promise<Sent[]> => {
      writeFileSync(stopFile, '');
      await exited;
      return sent();
    },
  };
}

/** Where each Message-ID is: the Maildirs (mail/DOMAIN/NAME, work folders too) and the archive. */
export function messageIds(dataDir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const top of ['mail', 'archive']) {
    const root = join(dataDir, top);
    if (!existsSync(root)) continue;
    for (const domain of readdirSync(root)) {
      for (const box of readdirSync(join(root, domain))) {
        for (const folder of ['new', 'cur']) {
          const dir = join(root, domain, box, folder);
          if (!existsSync(dir)) continue;
          for (const f of readdirSync(dir)) {
            const id = /^Message-ID: (<[^>]+>)/im.exec(readFileSync(join(dir, f), 'latin1'))?.[1];
            if (!id) continue;
            const at = top === 'archive' ? 'archive' : `${box}@${domain}`;
            found.set(id, [...(found.get(id) ?? []), at]);
          }
        }
      }
    }
  }
  return found;
}

/**
 * Every message answered 250 is in exactly one place: the archive, or a live account's Maildir
 * that `belongs` allows for its recipient; one whose answer is unknown (the daemon died) or was
 * refused is in at most one place. Returns how many were answered 250.
 */
export async function checkMail(d: DaemonHandle, sent: Sent[], belongs: (to: string) => string[]): Promise<number> {
  const live = new Set(
    (json(await d.cli(['accounts', 'list', '--json'])) as { address: string }[]).map((a) => a.address),
  );
  const found = messageIds(d.dataDir);
  let accepted = 0;
  for (const s of sent) {
    const at = found.get(s.id) ?? [];
    if (s.code === 250) {
      accepted++;
      expect(at, `${s.id} to ${s.to}, answered 250`).toHaveLength(1);
      const where = `${s.id} to ${s.to} is in ${at[0]}`;
      if (at[0] !== 'archive') {
        expect(belongs(s.to), where).toContain(at[0]);
        expect(live.has(at[0]), `${where}, not a live account`).toBe(true);
      }
    } else expect(at.length, `${s.id} to ${s.to}, answered ${s.code}: in ${at.join(', ')}`).toBeLessThanOrEqual(1);
  }
  return accepted;
}

/** Waits until the loop has had `n` more answers. */
export async function answers(loop: ReturnType<typeof smtpLoop>, n: number): Promise<void> {
  const from = loop.sent().length;
  await waitFor(() => loop.sent().length >= from + n, `${n} more answers`, 30_000);
}
