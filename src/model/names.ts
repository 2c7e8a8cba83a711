// The naming rules for domains, account and forward names, addresses and passwords. Pure: no I/O.
// A domain is kept in its ASCII form: an international one (bücher.test) as its A-label
// (xn--bcher-kva.test), by UTS-46 as url.domainToASCII does it (case, fullwidth forms mapped).
import { domainToASCII, domainToUnicode } from 'node:url';
import { InputError } from './errors.js';

const MAX_NAME = 64;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 128;
const MAX_DESTINATIONS = 20;

const NAME_RE = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Shows a piece of user input inside an error message without letting it break the line. */
function quote(input: string): string {
  const shown = input.length > 40 ? `${input.slice(0, 40)}…` : input;
  return JSON.stringify(shown);
}

/** The domain of an address (what follows its last "@"). */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export function isValidDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > 253) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  return labels.every((label) => LABEL_RE.test(label)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/**
 * A domain as given (a U-label or an A-label, any case) in its ASCII form; what
 * url.domainToASCII refuses comes back trimmed and lower-cased, to be refused by the caller.
 */
export function asciiDomain(input: string): string {
  // The common case, a domain in ASCII already, as domainToASCII would give it back: each
  // intake recipient is looked up several times, and the URL parser costs ~7 us a call.
  if (PLAIN_DOMAIN.test(input) && !input.includes('xn--')) return input;
  const trimmed = input.trim().replace(/\.$/, '');
  return (trimmed && !URL_ONLY.test(trimmed) && domainToASCII(trimmed)) || trimmed.toLowerCase();
}

/**
 * A lower-case ASCII domain domainToASCII returns unchanged: letters, digits, hyphens and dots
 * between labels, the last label starting with a letter (a last label that is a number, or 0x
 * and hex digits, is read as an IPv4 address: 127.1 is 127.0.0.1).
 */
const PLAIN_DOMAIN = /^(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*$/;

/**
 * What domainToASCII, a URL parser, would quietly drop or decode beyond UTS-46: controls, white
 * space (it strips tabs and line breaks) and "%" (it percent-decodes: ex%61mple is example).
 */
const URL_ONLY = /[\x00-\x20\x7f%]/;

/** An address with its domain in ASCII form (smtp-server hands an xn-- domain over as Unicode). */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address.toLowerCase() : `${address.slice(0, at).toLowerCase()}@${asciiDomain(address.slice(at + 1))}`;
}

/** How a domain is shown: an international one as "bücher.test (xn--bcher-kva.test)". */
export function showDomain(domain: string): string {
  const unicode = domainToUnicode(domain);
  return unicode && unicode !== domain ? `${unicode} (${domain})` : domain;
}

/** The domain's Unicode form (its U-labels), or the domain itself when it has none. */
export function unicodeDomain(domain: string): string {
  return domainToUnicode(domain) || domain;
}

export function normalizeDomain(input: string): string {
  const trimmed = input.trim().replace(/\.$/, '');
  const domain = trimmed && !URL_ONLY.test(trimmed) ? domainToASCII(trimmed) : '';
  if (!domain) {
    throw new InputError(
      `${quote(input)} is not a valid domain name: not even as an international name (example: example.com, bücher.de)`,
    );
  }
  if (domain.length > 253) {
    throw new InputError(
      `${quote(input)} is not a valid domain name: its ASCII form is ${domain.length} characters long; at most 253 are allowed`,
    );
  }
  if (!isValidDomain(domain)) {
    throw new InputError(`${quote(input)} is not a valid domain name (example: example.com)`);
  }
  return domain;
}

/** Checks a local name (the part before @) and returns why it is wrong, or null. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (name.length > MAX_NAME) return `the name is ${name.length} characters long; at most ${MAX_NAME} are allowed`;
  if (!/^[\x21-\x7e]+$/.test(name)) return 'use only letters a-z, digits, ".", "-" and "_"';
  if (!/^[a-z0-9._-]+$/.test(name)) return 'use only letters a-z, digits, ".", "-" and "_"';
  if (name.includes('..')) return 'the name may not contain ".."';
  if (!NAME_RE.test(name)) return 'the name must start and end with a letter or digit';
  return null;
}

export interface Address {
  name: string;
  domain: string;
}

export function formatAddress(a: Address): string {
  return `${a.name}@${a.domain}`;
}

/**
 * Reads `name` or `name@domain` typed by an admin into a hosted address.
 * `domain` is the domain the admin is working in (or the only hosted one).
 */
export function parseLocalAddress(input: string, hosted: readonly string[], domain?: string): Address {
  // Checked before lowercasing: Unicode lowercases some letters into ASCII (the Kelvin sign
  // U+212A into "k"), which would let a name that looks different pass as another. The domain
  // after the "@" may be international: it is taken in its ASCII form.
  const cut = input.lastIndexOf('@');
  if (!/^[\x20-\x7e]*$/.test(cut < 0 ? input : input.slice(0, cut))) {
    throw new InputError(`invalid name ${quote(input)}: use only letters a-z, digits, ".", "-" and "_"`, 'name');
  }
  const raw = asciiAddress(input.trim());
  let name = raw;
  let dom = domain === undefined ? undefined : asciiDomain(domain);
  const at = raw.lastIndexOf('@');
  if (at >= 0) {
    name = raw.slice(0, at);
    const given = raw.slice(at + 1);
    if (!hosted.includes(given)) {
      const hint = hosted.length === 1 ? `: enter the account name without the @${given}` : '';
      throw new InputError(
        `${quote(given)} is not a domain hosted here (hosted: ${hosted.join(', ') || 'none'})${hint}`,
        'name',
      );
    }
    if (dom && dom !== given) {
      throw new InputError(`${quote(input)} is not in ${dom}: enter the name without @${given}`, 'name');
    }
    dom = given;
  }
  if (!dom) {
    if (hosted.length === 1) dom = hosted[0];
    else if (hosted.length === 0)
      throw new InputError('no domain is hosted yet: add one with vmail domains add DOMAIN', 'domain');
    else
      throw new InputError(
        `more than one domain is hosted (${hosted.join(', ')}): write NAME@DOMAIN or pass --domain`,
        'domain',
      );
  }
  if (!hosted.includes(dom)) {
    throw new InputError(`${quote(dom)} is not a domain hosted here (hosted: ${hosted.join(', ')})`, 'domain');
  }
  const problem = nameProblem(name);
  if (problem) throw new InputError(`invalid name ${quote(name)}: ${problem}`, 'name');
  return { name, domain: dom };
}

/** Reads a forwarding destination: any valid mail address, local or remote. */
function parseDestination(input: string): string {
  const cut = input.lastIndexOf('@');
  if (!/^[\x20-\x7e]*$/.test(cut < 0 ? input : input.slice(0, cut))) {
    throw new InputError(
      `${quote(input)} is not a valid mail address: the part before @ must be ASCII`,
      'destinations',
    );
  }
  // An international domain is taken in its ASCII form (xn--...).
  const raw = asciiAddress(input.trim());
  const at = raw.lastIndexOf('@');
  if (at <= 0 || at === raw.length - 1 || raw.length > 254) {
    throw new InputError(`${quote(input)} is not a valid mail address (example: someone@example.org)`, 'destinations');
  }
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1);
  if (
    local.length > 64 ||
    !/^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(local) ||
    local.startsWith('.') ||
    local.endsWith('.') ||
    local.includes('..')
  ) {
    throw new InputError(
      `${quote(input)} is not a valid mail address: the part before @ has characters mail cannot carry`,
      'destinations',
    );
  }
  if (!isValidDomain(domain)) {
    throw new InputError(
      `${quote(input)} is not a valid mail address: ${quote(domain)} is not a domain name`,
      'destinations',
    );
  }
  return `${local}@${domain}`;
}

export function parseDestinations(inputs: readonly string[], self: string): string[] {
  if (inputs.length === 0) throw new InputError('give at least one destination address', 'destinations');
  if (inputs.length > MAX_DESTINATIONS) {
    throw new InputError(
      `${inputs.length} destinations given; a forward may have at most ${MAX_DESTINATIONS}`,
      'destinations',
    );
  }
  const out: string[] = [];
  for (const input of inputs) {
    const dest = parseDestination(input);
    if (dest === self) throw new InputError(`${self} cannot forward to itself`, 'destinations');
    if (!out.includes(dest)) out.push(dest);
  }
  return out;
}

/**
 * What no mail client can send in a password: control characters (C0, DEL, C1 such as U+0085),
 * the Unicode line and paragraph separators, and unpaired surrogates (not UTF-8 at all).
 */
const UNSENDABLE = /[\p{Cc}\u2028\u2029]|\p{Cs}/u;

function passwordProblem(password: string, name: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD) return `the password is too short: use at least ${MIN_PASSWORD} characters`;
  if (length > MAX_PASSWORD) return `the password is too long: use at most ${MAX_PASSWORD} characters`;
  if (UNSENDABLE.test(password)) return 'the password may not contain control characters or line breaks';
  if (password.toLowerCase() === name.toLowerCase()) return 'the password may not be the account name';
  return null;
}

/**
 * Checks a new password and returns it as it is stored: in Unicode's composed form (NFC), so
 * "ä" typed on one keyboard as one code point and on another as "a" plus a combining mark is
 * the same password. Logins are compared the same way.
 */
export function checkPassword(password: unknown, name: string): string {
  if (typeof password !== 'string') throw new InputError('a password is required', 'password');
  const problem = passwordProblem(password, name);
  if (problem) throw new InputError(problem, 'password');
  return password.normalize('NFC');
}
