// Importing accounts from a CSV file in the console: type the file's path, see a preview of
// what every row would queue and every row refused (the daemon's dry run), then queue them
// (y, or s to skip the refused rows) while a progress bar shows the passwords being hashed.
// Esc while it runs stops it, and nothing is queued. Pure: the app runs its effects.
import type { Key } from 'ink';
import type { Progress } from '../../src/import-export/send-import.js';
import type { Effect, Notice, Step } from '../shared/step.js';
import { edges, editKey } from '../shared/text-buffer.js';

export interface ImportState {
  phase: 'path' | 'checking' | 'preview' | 'running' | 'done';
  path: string;
  cursor: number;
  /** The preview: one line per row, in the file's order, then the summary. */
  lines: string[];
  ok: number;
  refused: number;
  top: number;
  progress: Progress | null;
  notice: Notice | null;
}

export const initialImportState: ImportState = {
  phase: 'path',
  path: '',
  cursor: 0,
  lines: [],
  ok: 0,
  refused: 0,
  top: 0,
  progress: null,
  notice: null,
};

export type ImportAction =
  | { type: 'typed'; value: string }
  | { type: 'checked'; lines: string[]; ok: number; refused: number }
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; notice: Notice }
  | { type: 'failed'; text: string };

export function importReducer(state: ImportState, action: ImportAction): ImportState {
  switch (action.type) {
    case 'typed':
      return { ...state, path: action.value, notice: null };
    case 'checked':
      return { ...state, phase: 'preview', lines: action.lines, ok: action.ok, refused: action.refused, top: 0 };
    case 'progress':
      return state.phase === 'running' ? { ...state, progress: action.progress } : state;
    case 'done':
      return { ...state, phase: 'done', notice: action.notice, progress: null };
    case 'failed':
      // Back to the path, with why: nothing was queued.
      return { ...state, phase: 'path', progress: null, notice: { kind: 'error', text: action.text } };
  }
}

/** Whether the path field has the keys. */
export const isTypingPath = (state: ImportState): boolean => state.phase === 'path';

export function importFieldEdges(state: ImportState): { atStart: boolean; atEnd: boolean } {
  return state.phase === 'path' ? edges({ value: state.path, cursor: state.cursor }) : { atStart: false, atEnd: false };
}

/** What one key does on the import screen; `height` is how many preview lines show. */
export function importKey(
  state: ImportState,
  input: string,
  key: Key,
  ctx: { domain: string; height: number },
): Step<ImportState> & { back?: true } {
  const still = (s: ImportState) => ({ state: s, effects: [] as Effect[] });
  switch (state.phase) {
    case 'path': {
      if (key.escape) return { ...still(initialImportState), back: true };
      if (key.return) {
        if (!state.path.trim())
          return still({ ...state, notice: { kind: 'error', text: 'type the path of a CSV file first' } });
        return {
          state: { ...state, phase: 'checking', notice: null },
          effects: [{ type: 'import', path: state.path.trim(), domain: ctx.domain, run: null }],
        };
      }
      const next = editKey({ value: state.path, cursor: state.cursor }, input, key);
      if (!next) return still(state);
      if (next.value === state.path) return still({ ...state, cursor: next.cursor });
      return still({ ...importReducer(state, { type: 'typed', value: next.value }), cursor: next.cursor });
    }
    case 'checking':
      return still(state);
    case 'preview': {
      const max = Math.max(0, state.lines.length - ctx.height);
      const to = (n: number) => still({ ...state, top: Math.max(0, Math.min(max, n)) });
      if (key.downArrow || input === 'j') return to(state.top + 1);
      if (key.upArrow || input === 'k') return to(state.top - 1);
      if (key.pageDown || input === ' ') return to(state.top + ctx.height);
      if (key.pageUp) return to(state.top - ctx.height);
      if (key.escape || input === 'n') return still({ ...state, phase: 'path', lines: [], notice: null });
      const go = (skipBad: boolean) => ({
        state: { ...state, phase: 'running' as const, progress: null },
        effects: [{ type: 'import' as const, path: state.path.trim(), domain: ctx.domain, run: { skipBad } }],
      });
      if (input === 'y' && state.refused === 0 && state.ok > 0) return go(false);
      if (input === 's' && state.refused > 0 && state.ok > 0) return go(true);
      return still(state);
    }
    case 'running':
      if (key.escape) return { state, effects: [{ type: 'import-stop' }] };
      return still(state);
    case 'done':
      if (key.escape || key.return) return { ...still(initialImportState), back: true };
      return still(state);
  }
}
