// Small hooks shared by the screens: the daemon session, a ticking clock for countdowns, the
// terminal's size, and the color theme.
import { createContext, useCallback, useContext, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Key } from 'ink';
import { useStdout } from 'ink';
import type { DaemonSession, DaemonSnapshot } from './daemon-session.js';

export const DaemonContext = createContext<DaemonSession | null>(null);

export function useDaemon(): { session: DaemonSession; data: DaemonSnapshot } {
  const session = useContext(DaemonContext);
  if (!session) throw new Error('useDaemon outside <DaemonContext.Provider>');
  const data = useSyncExternalStore(session.subscribe, session.getSnapshot);
  return { session, data };
}

/** The daemon's idea of now, ticking every second, for countdowns. */
export function useNow(skewMs: number): number {
  const [now, setNow] = useState(() => Date.now() + skewMs);
  useEffect(() => {
    setNow(Date.now() + skewMs);
    const t = setInterval(() => setNow(Date.now() + skewMs), 1000);
    return () => clearInterval(t);
  }, [skewMs]);
  return now;
}

export function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 100, rows: stdout.rows || 30 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

export interface Theme {
  accent?: string;
  ok?: string;
  warn?: string;
  error?: string;
  dim: boolean;
}

const COLORS: Theme = { accent: 'cyan', ok: 'green', warn: 'yellow', error: 'red', dim: true };
const PLAIN: Theme = { dim: false };

/** Colors, unless NO_COLOR is set (https://no-color.org). */
export function theme(env = process.env): Theme {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '' ? PLAIN : COLORS;
}


/**
 * useReducer whose state can be read as of the last dispatch, not the last render: a key
 * handler made one render ago (Ink re-subscribes handlers in an effect) still acts on the state
 * the previous key produced, so fast typing is handled as if typed slowly.
 */
export function useLatestReducer<S, A>(reducer: (s: S, a: A) => S, initial: S): [S, (a: A) => void, () => S] {
  const ref = useRef(initial);
  const [state, setState] = useState(initial);
  const dispatch = useCallback((action: A) => {
    ref.current = reducer(ref.current, action);
    setState(ref.current);
  }, [reducer]);
  const latest = useCallback(() => ref.current, []);
  return [state, dispatch, latest];
}

export type KeyHandler = (input: string, key: Key) => void;

/** Where the open screen puts its key handler; the shell's one useInput hands keys to it. */
export const KeysContext = createContext<{ current: KeyHandler | null }>({ current: null });

/**
 * Takes the keys while this screen is open. The handler is put in place during React's commit
 * (a layout effect), not after it, so a key typed the moment a screen opens reaches it.
 */
export function useScreenKeys(handler: KeyHandler): void {
  const slot = useContext(KeysContext);
  useLayoutEffect(() => {
    slot.current = handler;
  });
  useLayoutEffect(() => () => {
    if (slot.current) slot.current = null;
  }, [slot]);
}
