// Where a client (the commands, the console) finds the daemon's control socket, from its flags,
// the environment and the daemon's config file when it may read it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ConfigFileValues, configFileFrom, readConfigFile } from './config-file.js';
import { SERVICE_SOCKET } from './settings.js';

/**
 * The control socket a client uses: --socket, $VMAIL_SOCKET, the config file's, the installed
 * service's (/run/vmail) if it is there, else DATA_DIR/control.sock.
 */
export function socketPathFrom(
  flags: { socket?: string; dataDir?: string; config?: string },
  env = process.env,
): string {
  if (flags.socket) return resolve(flags.socket);
  if (env.VMAIL_SOCKET) return resolve(env.VMAIL_SOCKET);
  const file = configFileFrom(flags.config, env);
  let fromFile: ConfigFileValues | null = null;
  try {
    fromFile = file ? readConfigFile(file) : null;
  } catch {
    // A client that cannot read the daemon's config (not in group vmail) looks in the usual places.
  }
  const socket = fromFile?.get('socket')?.value;
  if (typeof socket === 'string') return resolve(socket);
  if (!flags.dataDir && !env.VMAIL_DATA_DIR && existsSync(SERVICE_SOCKET)) return SERVICE_SOCKET;
  const dataDir =
    flags.dataDir ?? env.VMAIL_DATA_DIR ?? (fromFile?.get('data-dir')?.value as string | undefined) ?? '/var/lib/vmail';
  return join(resolve(dataDir), 'control.sock');
}
