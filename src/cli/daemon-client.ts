// How a command talks to the daemon: the options every such command takes (where the socket
// is, --json, --domain), and one connection to the daemon's control socket per command.
import type { Command } from 'commander';
import type { ControlClient } from '../control/client.js';
import { socketPathFrom } from '../service/control-socket.js';

export interface ClientFlags {
  socket?: string;
  dataDir?: string;
  config?: string;
  json?: boolean;
  domain?: string;
  passwordStdin?: boolean;
}

/** Runs `fn` with a connection to the daemon, closed after. */
export async function withDaemon<T>(flags: ClientFlags, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const { ControlClient } = await import('../control/client.js');
  const c = await ControlClient.connect(socketPathFrom(flags));
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The options every command that talks to the daemon takes. */
export function daemonOptions(cmd: Command, opts: { json?: boolean; domain?: boolean } = {}): Command {
  cmd
    .option(
      '--socket <PATH>',
      "the daemon's control socket (default: $VMAIL_SOCKET, the config file's, /run/vmail/control.sock, DATA_DIR/control.sock)",
    )
    .option('--data-dir <DIR>', 'find the socket in DIR (default: $VMAIL_DATA_DIR or /var/lib/vmail)')
    .option(
      '--config <FILE>',
      'read the socket from this config file (default: $VMAIL_CONFIG or /etc/vmail/vmail.conf)',
    );
  if (opts.json) cmd.option('--json', 'print JSON with stable field names');
  if (opts.domain) cmd.option('--domain <D>', 'the hosted domain (may be left out when there is one)');
  return cmd;
}

/** The domain option only when given (the daemon picks the only one otherwise). */
export const inDomain = (f: ClientFlags) => (f.domain ? { domain: f.domain } : {});
