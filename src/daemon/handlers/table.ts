// The control socket's handler table: every method (checked against the method table in
// src/control/methods.ts by the server before dispatch) to the handler that serves it, joined
// from one file per area. A method without a handler here fails to compile.

import type { Handlers } from '../../control/server.js';
import { accountHandlers } from './accounts.js';
import type { Parts } from './context.js';
import { domainHandlers } from './domains.js';
import { forwardHandlers } from './forwards.js';
import { importExportHandlers } from './import-export.js';
import { pendingHandlers } from './pending.js';
import { queueHandlers } from './queue.js';
import { statusHandlers } from './status.js';

export function controlHandlers(parts: Parts): Handlers {
  return {
    ...statusHandlers(parts),
    ...accountHandlers(parts),
    ...importExportHandlers(parts),
    ...forwardHandlers(parts),
    ...domainHandlers(parts),
    ...pendingHandlers(parts),
    ...queueHandlers(parts),
  };
}
