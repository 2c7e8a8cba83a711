// The Trail screen: one address's mail, newest message first, a line per message; the opened
// message's events under it. Scrolled so the selection shows.
import { Box, Text } from 'ink';
import { Footer, type Frame } from '../shared/frame.js';
import { type TrailState, trailLines } from './trail-reducer.js';

/** Rows the screen's own lines take besides the list: the title, a blank, the footer. */
export const TRAIL_CHROME_ROWS = 3;

export function TrailScreen({ state, frame }: { state: TrailState; frame: Frame }) {
  const { width, height, theme } = frame;
  const view = Math.max(1, height - TRAIL_CHROME_ROWS);
  const lines = trailLines(state);
  const at = Math.max(
    0,
    lines.findIndex((l) => l.message === state.selected && !l.event),
  );
  // The opened message's events are kept in view with it where they fit.
  const last = state.expanded === state.selected ? at + lines.filter((l) => l.event).length : at;
  const top = Math.max(0, Math.min(at, last - view + 1));
  const title =
    state.events === null
      ? `Trail of ${state.address ?? ''}: loading…`
      : `Trail of ${state.address ?? ''}: ${lines.filter((l) => !l.event).length} messages and logins, newest first`;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text bold wrap="truncate">
        {title}
      </Text>
      <Text> </Text>
      <Box flexDirection="column" height={view}>
        {state.error ? <Text color={theme.error}>{state.error}</Text> : null}
        {state.events?.length === 0 ? <Text>Nothing recorded for this address yet.</Text> : null}
        {lines.slice(top, top + view).map((l, i) => (
          <Text
            // biome-ignore lint/suspicious/noArrayIndexKey: lines drawn in place
            key={i}
            wrap="truncate"
            inverse={!l.event && l.message === state.selected}
            dimColor={l.event ? false : undefined}
          >
            {l.text}
          </Text>
        ))}
      </Box>
      <Footer
        keys={[
          { key: 'Enter', label: 'its events' },
          { key: 'Esc', label: 'back' },
        ]}
        width={width}
        theme={theme}
      />
    </Box>
  );
}
