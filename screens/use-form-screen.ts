// What the POP3 Accounts and Email Forwarding screens share around their form and table: the
// form state (read as the last key left it), the selection kept in view as the list changes,
// and the check, once a lost daemon is back, of whether a change sent as it went was queued.
import { useEffect, useMemo } from 'react';
import { actionWord, whenApplies } from '../src/model/format.js';
import { formReducer, initialFormState } from './form-reducer.js';
import type { Method, Params, Results } from '../src/control/protocol.js';
import { callError, type DaemonSnapshot } from './daemon-session.js';
import { useDaemon, useLatestReducer } from './hooks.js';
import { selectedIndex, settle } from './list-reducer.js';

export interface FormScreenSource<Row> {
  /** The daemon's list this screen shows (module-level functions, so they stay the same). */
  pick: (data: DaemonSnapshot) => Row[];
  /** The rows of `domain` that the filter lets through, in the chosen order. */
  select: (all: Row[], domain: string, filter: string, sort: 'name' | 'size') => Row[];
}

export function useFormScreen<Row extends { address: string }>({ pick, select }: FormScreenSource<Row>, domain: string, tableHeight: number, now: number) {
  const { session, data } = useDaemon();
  const [state, dispatch, latest] = useLatestReducer(formReducer, initialFormState);
  const all = pick(data);
  const rows = useMemo(() => select(all, domain, state.filter, state.sort), [all, domain, state.filter, state.sort]);
  const keys = useMemo(() => rows.map((r) => r.address), [rows]);
  const index = selectedIndex(state.list, keys);

  useEffect(() => {
    const u = state.unconfirmed;
    if (!u || data.connection !== 'connected') return;
    const queued = data.pending.find((p) => p.address === u.address && (p.action === u.action || p.action === 'add'));
    dispatch({
      type: 'confirmed',
      notice: queued
        ? { kind: 'ok', text: `The daemon is back: the ${actionWord(queued.action)} of ${u.address} is queued, ${whenApplies(queued.appliesAt, now)}` }
        : { kind: 'warn', text: `The daemon is back: the ${actionWord(u.action)} of ${u.address} was NOT queued; send it again` },
    });
  }, [state.unconfirmed, data.connection, data.pending]);

  // Keeps the selection on a row that exists and in view. It runs after the render, so it reads
  // the state as the last key left it: a key pressed before it ran must not be undone.
  useEffect(() => {
    const current = latest().list;
    const next = settle(current, keys, tableHeight);
    if (next !== current) dispatch({ type: 'list', list: next });
  }, [keys, tableHeight, state.list]);

  /** Sends a request for a table row (remove, undo) and says how it went on the notice line. */
  const act = async <M extends Method>(method: M, params: Params<M>, done: (result: Results[M]) => string): Promise<void> => {
    dispatch({ type: 'cancel' });
    try {
      dispatch({ type: 'notice', notice: { kind: 'ok', text: done(await session.call(method, params)) } });
    } catch (err) {
      dispatch({ type: 'notice', notice: { kind: 'error', text: callError(err).text } });
    }
  };

  return {
    act,
    session,
    data,
    state,
    dispatch,
    latest,
    rows,
    keys,
    index,
    selected: index >= 0 ? rows[index] : undefined,
    typing: state.focus === 'name' || state.focus === 'second' || state.focus === 'filter',
  };
}
