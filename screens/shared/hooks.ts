// Small hooks shared by the screens: the daemon session, a ticking clock for countdowns, the
// terminal's size, and the color theme.

import { useStdout } from 'ink';
import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';
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

function terminalSize(stdout: NodeJS.WriteStream): { columns: number; rows: number } {
  return { columns: stdout.columns || 100, rows: stdout.rows || 30 };
}

export function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const [size, setSize] = useState(() => terminalSize(stdout));
  useEffect(() => {
    const onResize = () => setSize(terminalSize(stdout));
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
