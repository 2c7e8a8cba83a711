// A worker thread that hashes passwords for a bulk import, on its own thread (not the shared
// libuv pool, which has four threads whatever the machine): an import runs one per core.
// Receives a password, answers { hash } or { error }.
import { parentPort } from 'node:worker_threads';
import { hashPasswordSync } from './passwords.js';

parentPort?.on('message', (password: string) => {
  try {
    parentPort?.postMessage({ hash: hashPasswordSync(password.normalize('NFC')) });
  } catch (err) {
    parentPort?.postMessage({ error: (err as Error).message });
  }
});
