// The Trail screen's state (key t on an account's details or a forward): one address's mail,
// newest message first, one line per message (the same lines as `vmail trace`); Enter opens a
// message into its events, Esc goes back. Pure: the app shell loads the events (effects.ts).
import type { Key } from 'ink';
import type { TraceItemView } from '../../src/control/protocol.js';
import { eventText, groupTrace, traceLines } from '../../src/model/trail-format.js';

export interface TrailState {
  address: string | null;
  /** Newest first, as the daemon gives them; null while they load. */
  events: TraceItemView[] | null;
  error: string | null;
  /** The selected message (its line's index). */
  selected: number;
  /** The message opened into its events, or null. */
  expanded: number | null;
}

export const initialTrailState: TrailState = { address: null, events: null, error: null, selected: 0, expanded: null };

export function openTrail(address: string): TrailState {
  return { ...initialTrailState, address };
}

/** A line on screen: a message's (with its index), or one of the opened message's events. */
export interface TrailLine {
  text: string;
  message: number;
  event: boolean;
}

/** The lines the screen shows: every message's, and under the opened one its events. */
export function trailLines(state: TrailState): TrailLine[] {
  const events = state.events ?? [];
  const groups = groupTrace(events);
  const lines = traceLines(events);
  const out: TrailLine[] = [];
  lines.forEach((text, message) => {
    out.push({ text, message, event: false });
    if (state.expanded === message)
      for (const e of groups[message].events)
        out.push({ text: `  ${e.at.slice(0, 19).replace('T', ' ')}  ${eventText(e)}`, message, event: true });
  });
  return out;
}

/** What a key does here; `back` asks the shell to go back to where t was pressed. */
export function trailKey(
  state: TrailState,
  input: string,
  key: Key,
  height: number,
): { state: TrailState; back: boolean } {
  const count = traceLines(state.events ?? []).length;
  const to = (n: number) => ({ state: { ...state, selected: Math.max(0, Math.min(count - 1, n)) }, back: false });
  if (key.escape) {
    if (state.expanded !== null) return { state: { ...state, expanded: null }, back: false };
    return { state, back: true };
  }
  if (key.return)
    return { state: { ...state, expanded: state.expanded === state.selected ? null : state.selected }, back: false };
  if (key.downArrow || input === 'j') return to(state.selected + 1);
  if (key.upArrow || input === 'k') return to(state.selected - 1);
  if (key.pageDown) return to(state.selected + height);
  if (key.pageUp) return to(state.selected - height);
  if (key.home || input === 'g') return to(0);
  if (key.end || input === 'G') return to(count - 1);
  return { state, back: false };
}
