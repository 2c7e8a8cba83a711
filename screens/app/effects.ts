// Sends what the keys asked the daemon for (shared/step.ts's effects, one at a time) and turns
// each answer, or the error, into an action for the screen that asked: the notice it shows, or
// the field a refused input goes back to.
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { LogEntryView, PendingView, TraceItemView } from '../../src/control/protocol.js';
import type { CheckedRecord } from '../../src/model/dns-records.js';
import { changeDetail, changeWord, whenApplies } from '../../src/model/format.js';
import type { DomainsAction } from '../domains/domains-reducer.js';
import type { ImportAction } from '../import/import-reducer.js';
import { callError, type DaemonSession } from '../shared/daemon-session.js';
import { describeQueued, type FormAction } from '../shared/form-reducer.js';
import type { FormScreen } from '../shared/screen-names.js';
import type { Effect, Notice } from '../shared/step.js';

/** An answer, for the screen that asked. */
export type Outcome =
  | { screen: FormScreen; action: FormAction }
  | { screen: 'pending'; notice: Notice }
  | { screen: 'domains'; action: DomainsAction }
  | { screen: 'history'; address: string | null; entries: LogEntryView[] | null; error: string | null }
  | { screen: 'import'; action: ImportAction }
  | { screen: 'trail'; address: string; events: TraceItemView[]; error: string | null }
  | { screen: 'settings'; notice: Notice }
  | { screen: 'dns'; domain: string; records: CheckedRecord[]; error: string | null };

/** Sends a request effect and says what came of it. */
export async function runEffect(
  session: DaemonSession,
  effect: Exclude<Effect, { type: 'nav' | 'choose' | 'import' | 'import-stop' }>,
  now: () => number,
): Promise<Outcome> {
  if (effect.type === 'print') return printPage(effect);
  if (effect.type === 'trail') {
    try {
      const events = await session.send({ method: 'trace', params: { address: effect.address } });
      return { screen: 'trail', address: effect.address, events, error: null };
    } catch (err) {
      return { screen: 'trail', address: effect.address, events: [], error: callError(err).text };
    }
  }
  if (effect.type === 'dns') {
    try {
      const records = await session.send({ method: 'domains.check', params: { domain: effect.domain } });
      return { screen: 'dns', domain: effect.domain, records, error: null };
    } catch (err) {
      return { screen: 'dns', domain: effect.domain, records: [], error: callError(err).text };
    }
  }
  if (effect.type === 'history') {
    try {
      const entries = await session.send({
        method: 'log.list',
        params: effect.address ? { address: effect.address, limit: 2000 } : { limit: 2000 },
      });
      return { screen: 'history', address: effect.address, entries: entries.reverse(), error: null };
    } catch (err) {
      return { screen: 'history', address: effect.address, entries: [], error: callError(err).text };
    }
  }
  try {
    if (effect.type === 'submit') {
      const result = await session.sendShown(effect.call);
      const p = effect.call.params;
      const dests =
        'destinations' in p ? ` -> ${p.destinations.join(', ')}` : 'newName' in p ? ` -> ${p.newName}@${p.domain}` : '';
      const text = describeQueued(result, now(), dests);
      const q = 'queued' in result ? result.queued : null;
      return {
        screen: effect.screen,
        action: {
          type: 'queued',
          notice: q ? queuedNotice(text, q, `${changeWord(q)} ${q.address}${dests}`) : okNotice(text),
          // After an add, the selection is on the new row.
          select: q && effect.action === 'add' ? q.address : undefined,
        },
      };
    }
    const notice = await perform(session, effect, now);
    if (effect.screen === 'domains')
      return {
        screen: 'domains',
        action: { type: effect.what === 'add-domain' || effect.what === 'set-domain' ? 'added' : 'notice', notice },
      };
    return effect.screen === 'pending'
      ? { screen: 'pending', notice }
      : { screen: effect.screen, action: { type: 'notice', notice } };
  } catch (err) {
    const e = callError(err);
    if (effect.type === 'submit') {
      return {
        screen: effect.screen,
        action: e.unreachable
          ? { type: 'unconfirmed', address: effect.address, action: effect.action }
          : { type: 'refused', field: e.field, text: e.text },
      };
    }
    const notice: Notice = { kind: 'error', text: e.text };
    if (effect.screen === 'domains')
      return {
        screen: 'domains',
        action:
          (effect.what === 'add-domain' || effect.what === 'set-domain') && !e.unreachable
            ? { type: 'refused', text: e.text }
            : { type: 'notice', notice },
      };
    return effect.screen === 'pending'
      ? { screen: 'pending', notice }
      : { screen: effect.screen, action: { type: 'notice', notice } };
  }
}

/** Good news, noted with when it was shown: it goes at the next apply. */
const okNotice = (text: string): Notice => ({ kind: 'ok', text, at: Date.now() });

/** A queued change's notice: once `q` is applied it says `Applied: ${what}` instead. */
const queuedNotice = (text: string, q: PendingView, what: string): Notice => ({
  ...okNotice(text),
  pendingId: q.id,
  applied: `Applied: ${what}`,
});

async function perform(
  session: DaemonSession,
  effect: Extract<Effect, { type: 'call' }>,
  now: () => number,
): Promise<Notice> {
  switch (effect.what) {
    case 'remove': {
      const r = await session.sendShown(effect.call);
      if ('cancelled' in r) return okNotice(`Cancelled the pending add of ${effect.address}: nothing was created`);
      return queuedNotice(
        `Queued: removal of ${effect.address}, ${whenApplies(r.queued.appliesAt, now())}${effect.screen === 'accounts' ? '; its mail is archived, not deleted' : ''}`,
        r.queued,
        `removal of ${effect.address}`,
      );
    }
    case 'set-domain': {
      const r = await session.sendShown(effect.call);
      if ('cancelled' in r) return okNotice(`Cancelled the pending ${changeWord(r.cancelled)} of ${effect.address}`);
      const what = `${changeWord(r.queued)} ${effect.address} (${changeDetail(r.queued)})`;
      return queuedNotice(`Queued: ${what}, ${whenApplies(r.queued.appliesAt, now())}`, r.queued, what);
    }
    case 'suspend':
    case 'resume': {
      const r = await session.sendShown(effect.call);
      if ('cancelled' in r) return okNotice(`Cancelled the pending ${changeWord(r.cancelled)} of ${effect.address}`);
      const what = effect.what === 'suspend' ? ': it cannot log in then; its mail is kept' : '';
      return queuedNotice(
        `Queued: ${changeWord(r.queued)} of ${effect.address}, ${whenApplies(r.queued.appliesAt, now())}${what}`,
        r.queued,
        `${changeWord(r.queued)} of ${effect.address}`,
      );
    }
    case 'undo':
      return okNotice(`Undone: the pending ${changeWord(await session.sendShown(effect.call))} of ${effect.address}`);
    case 'cancel':
      return okNotice(`Cancelled: ${changeWord(await session.sendShown(effect.call))} ${effect.address}`);
    case 'apply': {
      const r = await session.sendShown(effect.call);
      const left = r.left ? ` ${r.left} change(s) of other domains stay pending.` : '';
      const failed = r.failed.length ? ` ${r.failed.length} failed: ${r.failed[0].error}.` : '';
      return okNotice(`Applied ${r.applied.length} change(s) of ${effect.address} now.${failed}${left}`);
    }
    case 'add-domain': {
      const r = await session.sendShown(effect.call);
      if ('cancelled' in r) return okNotice(`Cancelled the pending removal of ${r.cancelled.address}: it stays hosted`);
      return queuedNotice(
        `Queued: add ${r.queued.address}, ${whenApplies(r.queued.appliesAt, now())}; give it accounts once it is hosted (A applies it now)`,
        r.queued,
        `add ${r.queued.address}`,
      );
    }
    case 'remove-domain': {
      const r = await session.sendShown(effect.call);
      if ('cancelled' in r) return okNotice(`Cancelled the pending add of ${r.cancelled.address}: nothing was added`);
      const taking = effect.call.params.withAccounts ? ' with its accounts (their mail is archived)' : '';
      return queuedNotice(
        `Queued: removal of ${r.queued.address}${taking}, ${whenApplies(r.queued.appliesAt, now())}; then its mail is refused`,
        r.queued,
        `removal of ${r.queued.address}${taking}`,
      );
    }
  }
}

/** Mail Client Settings as plain text, to a file in the console's directory: where, or why not. */
async function printPage(effect: Extract<Effect, { type: 'print' }>): Promise<Outcome> {
  const path = resolve(effect.file);
  try {
    await writePlainFile(path, `${effect.lines.join('\n')}\n`);
    return { screen: 'settings', notice: { kind: 'ok', text: `Printed to ${path}` } };
  } catch (err) {
    return { screen: 'settings', notice: { kind: 'error', text: `Not printed: ${(err as Error).message}` } };
  }
}

/**
 * Writes `text` to `path`, a plain file of that one name (made if missing). The console may run
 * as root in a folder others can write to (/tmp): a symbolic link of that name is not followed
 * (it could point at /etc/shadow), a file with other names (a hard link) is not written, and a
 * FIFO or a device is not opened to wait on (the open does not block: the keys would wait on it).
 */
async function writePlainFile(path: string, text: string): Promise<void> {
  let file: FileHandle;
  try {
    file = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o666,
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`${path} is a symbolic link: remove it, or print from another folder`);
    if (code === 'ENXIO') throw new Error(`${path} is not a plain file`);
    throw err;
  }
  try {
    const st = await file.stat();
    if (!st.isFile()) throw new Error(`${path} is not a plain file`);
    if (st.nlink > 1) throw new Error(`${path} has other names (a hard link): remove it, or print from another folder`);
    await file.truncate(0);
    await file.writeFile(text);
  } finally {
    await file.close();
  }
}
