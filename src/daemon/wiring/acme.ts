// Certificates by ACME (--acme): the manager (src/acme/) made before the TLS servers, so the
// certificate kept in DATA_DIR/acme serves from the start; started once the ports serve (the
// --http front answers its HTTP-01 tokens); each new certificate installed into every TLS
// server with installTls (reload.ts), as SIGHUP installs a renewed file.
import type { KeyPair } from '../../acme/files.js';
import type { Config } from '../../service/settings.js';
import type { Logger } from '../../support/log.js';
import type { Started } from './stops.js';

export interface Acme extends Started {
  /** The certificate in use (kept or newly issued), or null before the first. */
  current(): KeyPair | null;
  /** HTTP-01's answer for a token of the order in flight. */
  challenge(token: string): string | null;
  /** Orders now when there is no certificate, and renews from then on. */
  start(install: (pair: KeyPair) => void): void;
}

/** The ACME manager with the certificate it kept; with --acme off, a stand-in with none. */
export async function loadAcme(config: Config, log: Logger): Promise<Acme> {
  if (!config.acme || !config.acmeEmail)
    return { current: () => null, challenge: () => null, start: () => {}, stop: () => {} };
  // Loaded only with --acme on: acme-client and its ASN.1 and HTTP libraries are near half of
  // what a start compiles, a cost every daemon without ACME would pay before it is ready.
  const { AcmeManager } = await import('../../acme/manager.js');
  const manager = new AcmeManager({
    directoryUrl: config.acme,
    email: config.acmeEmail,
    caFile: config.acmeCaFile,
    names: [config.hostname.toLowerCase(), ...config.acmeNames.filter((n) => n !== config.hostname.toLowerCase())],
    dataDir: config.dataDir,
    log,
  });
  let current = await manager.load();
  return {
    current: () => current,
    challenge: (token) => manager.challenge(token),
    start: (install) =>
      manager.start((pair) => {
        current = pair;
        install(pair);
      }),
    stop: () => manager.stop(),
  };
}
