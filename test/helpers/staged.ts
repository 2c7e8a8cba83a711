// Adds whose Maildirs the daemon makes ahead (work-folders.ts): queue one and wait until its
// DOMAIN/.add-ID is whole, and list the work folders a domain's mail folder holds.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type DaemonHandle, waitFor } from './process.js';

const DOMAIN = 'example.test';

/** Queues an add of NAME@example.test (password `password-1`); its change id. */
export async function queueAdd(d: DaemonHandle, name: string): Promise<string> {
  const r = await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
  expect(r.code, r.stderr).toBe(0);
  const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { id: string; address: string }[];
  return pending.find((c) => c.address === `${name}@${DOMAIN}`)!.id;
}

/** Queues an add of NAME as queueAdd does; its change id once its Maildir is made ahead (stamp and all). */
export async function queueStaged(d: DaemonHandle, name: string): Promise<string> {
  const id = await queueAdd(d, name);
  const staged = join(d.dataDir, 'mail', DOMAIN, `.add-${id}`, 'vmail-change');
  await waitFor(() => existsSync(staged), `${name}'s Maildir made ahead`);
  return id;
}

/** The adds made ahead in a domain's mail folder (`.add-ID`). */
export function stagedIn(mail: string): string[] {
  return readdirSync(mail).filter((n) => n.startsWith('.add-'));
}

/** Waits until a domain's mail folder holds no work folder (`.add-ID`, `.import-ID`). */
export async function noWorkFolders(mail: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => !readdirSync(mail).some((n) => n.startsWith('.')), 'no work folder left', timeoutMs);
}
