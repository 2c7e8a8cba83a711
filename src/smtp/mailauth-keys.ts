// mailauth's DKIM signer (DKIM signatures, ARC seals) with each private key parsed once. mailauth
// takes the key as PEM text and parses it again for every signature (its tools.getPrivateKey,
// which dkim-signer.js takes when it is first loaded): for a 2048-bit RSA key that costs as much
// CPU as the signature itself. Before the signer is first loaded, getPrivateKey is wrapped with a
// cache from the PEM text to its parsed key: a rotated key is other text, so it is parsed anew at
// once (the old one stays until the cache is full, then all are dropped). Everything that loads
// mailauth's signing goes through here, so the wrap is in place before dkim-signer.js reads it.
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

type MailauthSign = typeof import('mailauth/lib/dkim/sign.js').dkimSign;
type MailauthAuthenticate = typeof import('mailauth').authenticate;
type GetPrivateKey = (key: string | Buffer) => KeyObject;

/** Keys parsed at most (several daemons' domains, each an RSA and an ed25519 key): then emptied. */
const MAX_KEYS = 1000;
const parsed = new Map<string, KeyObject>();
let wrapped = false;

/** Wraps mailauth's getPrivateKey with the cache, once, before its signer is loaded. */
function wrapKeyParsing(): void {
  if (wrapped) return;
  wrapped = true;
  const tools = createRequire(import.meta.url)('mailauth/lib/tools.js') as { getPrivateKey?: GetPrivateKey };
  const parse = tools.getPrivateKey;
  // Another mailauth that has no such function signs as it is, parsing every time.
  if (typeof parse !== 'function') return;
  tools.getPrivateKey = (key) => {
    // Only text is cached: a Buffer could be changed in place by its owner.
    if (typeof key !== 'string') return parse(key);
    let k = parsed.get(key);
    if (!k) {
      k = parse(key);
      if (parsed.size >= MAX_KEYS) parsed.clear();
      parsed.set(key, k);
    }
    return k;
  };
}

/** mailauth's dkimSign, with keys parsed once. */
export async function loadDkimSign(): Promise<MailauthSign> {
  wrapKeyParsing();
  return (await import('mailauth/lib/dkim/sign.js')).dkimSign;
}

/** mailauth's authenticate (checks and ARC seal), with keys parsed once. */
export async function loadAuthenticate(): Promise<MailauthAuthenticate> {
  wrapKeyParsing();
  return (await import('mailauth')).authenticate;
}
