// Import accounts (from POP3 Accounts, key i): the path field, the dry run's preview of every
// row, and the progress of hashing and queueing. Keys are in import-reducer.ts; the work is
// runImport below, the same steps as `vmail accounts import`.

import { resolve } from 'node:path';
import { Box, Text } from 'ink';
import { RpcError, UnreachableError } from '../../src/control/client.js';
import { parseImportCsv } from '../../src/import-export/csv.js';
import { readImportFile } from '../../src/import-export/import-file.js';
import { importLines } from '../../src/import-export/import-report.js';
import { hashPasswords, type ImportCall, sendImport } from '../../src/import-export/send-import.js';
import { callError, type DaemonSession } from '../shared/daemon-session.js';
import { Field, Footer, type Frame, NoticeLine } from '../shared/frame.js';
import type { ImportAction, ImportState } from './import-reducer.js';

/** Rows around the preview: the path line, the notice, a blank line, the progress line, the footer, a margin. */
export const IMPORT_CHROME_ROWS = 6;

/**
 * Checks (run null) or imports the file: the daemon checks every row first, plain passwords
 * are hashed on every core (progress reported as it goes), and the rows are queued in one
 * step. A stop (signal) before the end queues nothing.
 */
export async function runImport(
  session: DaemonSession,
  job: { path: string; domain: string; run: { skipBad: boolean } | null },
  emit: (a: ImportAction) => void,
  signal: AbortSignal,
): Promise<void> {
  try {
    const file = resolve(job.path.replace(/^~(?=\/)/, process.env.HOME ?? '~'));
    // A plain file only: /dev/zero, a FIFO, a folder or a link is refused at once.
    const parsed = parseImportCsv(await readImportFile(file));
    const call: ImportCall = (params) => session.send({ method: 'accounts.import', params });
    const opts = { domain: job.domain, skipBad: job.run?.skipBad ?? false };
    const check = await sendImport(call, parsed.rows, { ...opts, dryRun: true });
    const refused = check.refused.length + parsed.refused.length;
    if (!job.run) {
      const ignored = parsed.ignored.length ? [`Columns not imported: ${parsed.ignored.join(', ')}`] : [];
      emit({
        type: 'checked',
        lines: [...importLines(parsed.rows, check, parsed.refused), ...ignored],
        ok: check.queued.length,
        refused,
      });
      return;
    }
    const bad = new Set(check.refused.map((r) => r.row));
    let shown = 0;
    const hashed = await hashPasswords(
      parsed.rows.filter((r) => !bad.has(r.row)),
      (progress) => {
        // A few frames a second is enough for a progress bar.
        if (Date.now() - shown < 100 && progress.done < progress.total) return;
        shown = Date.now();
        emit({ type: 'progress', progress });
      },
      signal,
    );
    if (signal.aborted) throw new Error('stopped: nothing was queued');
    const done = await sendImport(call, hashed, { ...opts, dryRun: false });
    const summary = importLines(hashed, { ...done, refused: [...check.refused, ...done.refused] }, parsed.refused).at(
      -1,
    );
    emit({ type: 'done', notice: { kind: done.done ? 'ok' : 'error', text: summary ?? '' } });
  } catch (err) {
    const fromDaemon = err instanceof RpcError || err instanceof UnreachableError;
    emit({ type: 'failed', text: fromDaemon ? callError(err).text : (err as Error).message });
  }
}

export function ImportScreen({ state, domain, frame }: { state: ImportState; domain: string; frame: Frame }) {
  const { width, height, theme } = frame;
  const listHeight = Math.max(1, height - IMPORT_CHROME_ROWS);
  const p = state.progress;
  const bar = (done: number, total: number) => {
    const w = 30;
    const filled = Math.round((w * done) / Math.max(1, total));
    return `[${'#'.repeat(filled)}${'.'.repeat(w - filled)}]`;
  };
  const status =
    state.phase === 'checking'
      ? 'Checking every row with the daemon…'
      : state.phase === 'running'
        ? p
          ? `Hashing passwords ${bar(p.done, p.total)} ${p.done}/${p.total}  ${Math.round(p.rate)}/s  ${Math.floor(Math.ceil(p.left) / 60)}:${String(Math.ceil(p.left) % 60).padStart(2, '0')} left`
          : 'Queueing…'
        : state.phase === 'preview'
          ? state.ok === 0
            ? 'No row can be queued: fix the file and try again.'
            : state.refused
              ? `${state.refused} row(s) refused: s queues the other ${state.ok} and skips them, n goes back.`
              : `Every row is good: y queues ${state.ok} change(s), one per row, for the next apply.`
          : ' ';
  const keys =
    state.phase === 'path'
      ? [
          { key: 'Enter', label: 'check the file' },
          { key: 'Ctrl-U', label: 'clear' },
          { key: 'Esc', label: 'back' },
        ]
      : state.phase === 'preview'
        ? [
            ...(state.refused === 0 && state.ok ? [{ key: 'y', label: 'queue them' }] : []),
            ...(state.refused && state.ok ? [{ key: 's', label: 'skip the refused, queue the rest' }] : []),
            { key: '↑↓', label: 'scroll' },
            { key: 'n/Esc', label: 'back' },
          ]
        : state.phase === 'running'
          ? [{ key: 'Esc', label: 'stop (nothing is queued)' }]
          : [{ key: 'Esc', label: 'back to the accounts' }];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>{`Import accounts into ${domain} from CSV: `}</Text>
        <Field
          value={state.path}
          cursor={state.cursor}
          focused={state.phase === 'path'}
          width={width - `Import accounts into ${domain} from CSV: `.length - 2}
          placeholder="/path/to/accounts.csv"
          theme={theme}
        />
      </Text>
      <NoticeLine notice={state.notice} theme={theme} />
      <Text> </Text>
      <Box flexDirection="column" height={listHeight}>
        {state.phase === 'path' ? (
          <Text dimColor={theme.dim} wrap="wrap">
            {
              'A header row, then one account or forward per row: name (or address), password or password_hash ({SHA512-CRYPT}, {BLF-CRYPT}, ...), quota, forward. Comma or semicolon, as spreadsheets save it.'
            }
          </Text>
        ) : (
          // Each line names its row (or is the one summary): unique.
          state.lines.slice(state.top, state.top + listHeight).map((line) => (
            <Text key={line} wrap="truncate" color={/^row \d+: refused/.test(line) ? theme.error : undefined}>
              {line}
            </Text>
          ))
        )}
      </Box>
      <Text wrap="truncate" color={state.phase === 'preview' && state.refused ? theme.warn : undefined}>
        {status}
      </Text>
      <Footer keys={keys} width={width} theme={theme} />
    </Box>
  );
}
