// The main menu's items, in the order it lists them and its digits pick them: the screen each
// opens and the hint shown beside it.
import type { Screen } from '../shared/screen-names.js';

export const MENU: { screen: Screen | 'quit'; label: string; hint: string }[] = [
  { screen: 'accounts', label: 'POP3 Accounts', hint: 'add, re-password and remove mailboxes; see their sizes' },
  { screen: 'forwards', label: 'Email Forwarding', hint: 'addresses that pass mail on to other addresses' },
  { screen: 'pending', label: 'Pending Changes', hint: 'what the next hourly apply will do; cancel or apply now' },
  { screen: 'settings', label: 'Mail Client Settings', hint: 'what to enter in Thunderbird, Outlook or a phone' },
  { screen: 'domains', label: 'Domains', hint: 'switch to, add or remove a hosted domain' },
  { screen: 'attention', label: 'Needs Attention', hint: 'mailboxes on every domain whose mail nobody collects' },
  { screen: 'search', label: 'Search', hint: 'find a name or destination on every domain, and jump to it' },
  { screen: 'history', label: 'History', hint: 'who changed what, and when (the audit log)' },
  { screen: 'help', label: 'Help', hint: 'how it works, and every key' },
  { screen: 'quit', label: 'Quit', hint: 'leave the console (the mail service keeps running)' },
];

/** The digit that picks the item at `index`: 1-9, then 0 for the tenth (Quit). */
export function menuDigit(index: number): string {
  return String((index + 1) % 10);
}

/** The item a digit picks, or -1. */
export function menuIndexOf(digit: string): number {
  if (!/^[0-9]$/.test(digit)) return -1;
  const i = digit === '0' ? 9 : Number(digit) - 1;
  return i < MENU.length ? i : -1;
}
