// What the POP3 Accounts and Email Forwarding screens share in how they are drawn: their
// props, the rows around the table, and the keys their footer lists in each state.
import { type FormState, isTyping } from './form-reducer.js';
import type { FooterKey, Frame } from './frame.js';

/** Rows above and below the table: form (2), notice, summary, table header, question, footer, margin. */
export const FORM_CHROME_ROWS = 8;

export function footerKeys(state: FormState, screen: 'accounts' | 'forwards'): FooterKey[] {
  if (state.focus === 'confirm')
    return [
      { key: 'y', label: `yes, ${state.asking?.what ?? 'remove'}` },
      { key: 'n/Esc', label: 'no (default)' },
    ];
  if (state.focus === 'details') return [{ key: 'Esc', label: 'back to the list' }];
  if (isTyping(state)) {
    if (state.focus === 'filter')
      return [
        { key: 'Enter/Esc', label: 'back to the list' },
        { key: '←→', label: 'move' },
        { key: 'Ctrl-U', label: 'clear' },
      ];
    return [
      { key: 'Enter', label: state.focus === 'second' ? 'queue the change' : 'next' },
      { key: 'Tab', label: 'next field' },
      { key: '←→', label: 'move' },
      { key: 'Esc', label: 'cancel' },
    ];
  }
  if (screen === 'forwards') {
    return [
      { key: 'a', label: 'add' },
      { key: 'Enter/e', label: 'edit destinations' },
      { key: 'd', label: 'remove' },
      { key: 'u', label: 'undo' },
      { key: '/', label: 'filter' },
      { key: 'S', label: 'search all' },
      { key: 'Esc', label: 'menu' },
      { key: '?', label: 'help' },
      { key: 'q', label: 'quit' },
    ];
  }
  return [
    { key: 'a', label: 'add' },
    { key: 'p', label: 'passwd' },
    { key: 'l', label: 'quota' },
    { key: 'z', label: 'suspend' },
    { key: 'r', label: 'rename' },
    { key: 'd', label: 'remove' },
    { key: 'u', label: 'undo' },
    { key: '/', label: 'filter' },
    { key: 'S', label: 'search all' },
    { key: 's', label: 'sort' },
    { key: 'i', label: 'import' },
    { key: 'Enter', label: 'info' },
    { key: 'Esc', label: 'menu' },
    { key: '?', label: 'help' },
    { key: 'q', label: 'quit' },
  ];
}

export interface FormScreenProps<Row> {
  state: FormState;
  rows: readonly Row[];
  total: number;
  domain: string;
  frame: Frame;
  /** The list is still on its way from the daemon (the first frame does not wait for it). */
  loading: boolean;
}

/** The question a removal, suspension, resumption or undo waits on, without its [y/N] (null: none). */
export function confirmQuestion(state: FormState, screen: 'accounts' | 'forwards'): string | null {
  if (state.focus !== 'confirm' || !state.confirm) return null;
  const a = state.confirm;
  switch (state.asking?.what) {
    case 'suspend':
      return `Suspend ${a}? Its owner cannot log in (mail is kept) until z resumes it.`;
    case 'resume':
      return `Resume ${a}? Its owner can log in again after the apply.`;
    case 'undo':
      return `Undo the pending change of ${a}? It will not be applied.`;
    default:
      return screen === 'accounts'
        ? `Remove ${a}? Its mail is archived at the next apply.`
        : `Remove ${a}? Mail to it is refused after the next apply.`;
  }
}
