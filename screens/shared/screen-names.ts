// The console's screens by name: every screen the shell opens, and the two families that share
// a state shape (the form screens, the report screens). Names only, so that reducers, the menu
// and the shell can all say which screen they mean without importing one another.

/** The POP3 Accounts and Email Forwarding screens: a form above a table. */
export type FormScreen = 'accounts' | 'forwards';

/** The lists over every domain: Needs Attention, Search and History. */
export type ReportScreen = 'attention' | 'search' | 'history';

export type Screen =
  | 'domains'
  | 'menu'
  | 'accounts'
  | 'forwards'
  | 'pending'
  | 'settings'
  | 'help'
  | 'import'
  | 'trail'
  | 'dns'
  | ReportScreen;
