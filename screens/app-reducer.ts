// Navigation: which screen is open, and the main menu's selection. Pure: tested without rendering.

export type Screen = 'domains' | 'menu' | 'accounts' | 'forwards' | 'pending' | 'settings' | 'help';

export const MENU: { screen: Screen | 'quit'; label: string; hint: string }[] = [
  { screen: 'accounts', label: 'POP3 Accounts', hint: 'add, re-password and remove mailboxes; see their sizes' },
  { screen: 'forwards', label: 'Email Forwarding', hint: 'addresses that pass mail on to other addresses' },
  { screen: 'pending', label: 'Pending Changes', hint: 'what the next hourly apply will do; cancel or apply now' },
  { screen: 'settings', label: 'Mail Client Settings', hint: 'what to enter in Thunderbird, Outlook or a phone' },
  { screen: 'help', label: 'Help', hint: 'how it works, and every key' },
  { screen: 'quit', label: 'Quit', hint: 'leave the console (the mail service keeps running)' },
];

export interface AppState {
  screen: Screen;
  /** The hosted domain being managed; null until picked when there are several. */
  domain: string | null;
  menuIndex: number;
  domainIndex: number;
  /** Where Help returns to. */
  previous: Screen;
  quitting: boolean;
}

export type AppAction =
  | { type: 'domains-known'; domains: string[] }
  | { type: 'open'; screen: Screen }
  | { type: 'back' }
  | { type: 'menu-move'; delta: number }
  | { type: 'menu-pick'; index?: number }
  | { type: 'domain-move'; delta: number; count: number }
  | { type: 'domain-pick'; domain: string }
  | { type: 'quit' };

export const initialAppState: AppState = { screen: 'menu', domain: null, menuIndex: 0, domainIndex: 0, previous: 'menu', quitting: false };

const wrap = (i: number, n: number) => ((i % n) + n) % n;

export function appReducer(state: AppState, action: AppAction): AppState {
  switch (action.type) {
    case 'domains-known':
      if (state.domain && action.domains.includes(state.domain)) return state;
      if (action.domains.length === 1) return { ...state, domain: action.domains[0], screen: state.screen === 'domains' ? 'menu' : state.screen };
      if (action.domains.length > 1) return { ...state, domain: null, screen: 'domains' };
      return state;
    case 'open':
      return { ...state, screen: action.screen, previous: state.screen === 'help' ? state.previous : state.screen };
    case 'back':
      if (state.screen === 'help') return { ...state, screen: state.previous };
      if (state.screen === 'menu') return state;
      return { ...state, screen: 'menu' };
    case 'menu-move':
      return { ...state, menuIndex: wrap(state.menuIndex + action.delta, MENU.length) };
    case 'menu-pick': {
      const index = action.index ?? state.menuIndex;
      const item = MENU[index];
      if (!item) return state;
      if (item.screen === 'quit') return { ...state, menuIndex: index, quitting: true };
      return { ...state, menuIndex: index, screen: item.screen, previous: 'menu' };
    }
    case 'domain-move':
      return { ...state, domainIndex: wrap(state.domainIndex + action.delta, Math.max(1, action.count)) };
    case 'domain-pick':
      return { ...state, domain: action.domain, screen: 'menu' };
    case 'quit':
      return { ...state, quitting: true };
  }
}
