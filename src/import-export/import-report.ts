// What an import did (or would do), row by row in the file's order, for the CLI and the
// console alike: what each row queues, or why it is refused; then one summary line.
import type { ImportResult, ImportRow } from '../control/protocol.js';
import { actionWord, changeDetail, whenApplies } from '../model/format.js';

/**
 * An import, row by row in the file's order: what each row queues (or would), or why it is
 * refused; then one summary line.
 */
export function importLines(
  rows: ImportRow[],
  r: ImportResult,
  refusedEarlier: ImportResult['refused'] = [],
): string[] {
  const refused = new Map([...refusedEarlier, ...r.refused].map((x) => [x.row, x]));
  const queued = [...r.queued];
  const lines: { row: number; text: string }[] = [];
  for (const row of rows) {
    const bad = refused.get(row.row);
    if (bad) continue;
    const q = queued.shift();
    if (q) {
      const detail = changeDetail(q);
      lines.push({
        row: row.row,
        text: `${actionWord(q.action)} ${q.kind} ${q.address}${detail ? `, ${detail}` : ''}`,
      });
    }
  }
  for (const x of refused.values())
    lines.push({ row: x.row, text: `refused ${JSON.stringify(x.name.slice(0, 60))}: ${x.error}` });
  lines.sort((a, b) => a.row - b.row);
  const n = r.queued.length;
  const bad = refused.size;
  const summary = r.dryRun
    ? `Dry run: ${n} change(s) would be queued, ${bad} row(s) refused; nothing was queued.`
    : r.done
      ? `Queued ${n} change(s)${bad ? `, skipped ${bad} refused row(s)` : ''}${n ? `; they apply ${whenApplies(r.queued[0].appliesAt).replace(/^applies /, '')}` : ''}.`
      : `Nothing was queued: ${bad} row(s) refused (fix them, or pass --skip-bad to queue the other ${n}).`;
  return [...lines.map((l) => `row ${l.row}: ${l.text}`), summary];
}
