// The in-memory indexes the store's mirror keeps beside its rows: how many rows each domain has,
// and the pending changes found by the name they change, by the name a rename gives and by
// domain, so a list, a status or an import of 10,000 rows needs no scan per row.
import type { PendingChange } from '../model/changes.js';

/** The addresses a pending change is about: its name, and the new name of a rename. */
export function addressesOf(c: PendingChange): string[] {
  if (c.kind === 'domain') return [];
  return c.newName === undefined ? [`${c.name}@${c.domain}`] : [`${c.name}@${c.domain}`, `${c.newName}@${c.domain}`];
}

/** How many rows each domain has, kept as rows come and go (status and the domain list ask often). */
class DomainCounts {
  private readonly counts = new Map<string, number>();

  add(domain: string, by: number): void {
    const n = (this.counts.get(domain) ?? 0) + by;
    if (n) this.counts.set(domain, n);
    else this.counts.delete(domain);
  }

  of(domain: string): number {
    return this.counts.get(domain) ?? 0;
  }

  domains(): IterableIterator<string> {
    return this.counts.keys();
  }
}

/** Rows by address that also keep how many each domain has. */
export class RowsByDomain<T extends { domain: string }> extends Map<string, T> {
  private readonly counts = new DomainCounts();

  override set(key: string, row: T): this {
    const old = super.get(key);
    if (old) this.counts.add(old.domain, -1);
    this.counts.add(row.domain, 1);
    return super.set(key, row);
  }

  override delete(key: string): boolean {
    const old = super.get(key);
    if (old) this.counts.add(old.domain, -1);
    return super.delete(key);
  }

  /** How many rows `domain` has. */
  countIn(domain: string): number {
    return this.counts.of(domain);
  }
}

/**
 * The pending changes by id, also found by the name they change (one per name), by the name a
 * rename gives, and by domain: an import of 10,000 rows checks each against all the others
 * without a scan per row.
 */
export class PendingChanges extends Map<string, PendingChange> {
  private readonly byName = new Map<string, PendingChange>();
  private readonly byNewName = new Map<string, PendingChange>();
  private readonly perDomain = new DomainCounts();
  private top = 0;
  private topStale = false;

  private static nameOf(c: PendingChange): string {
    return c.kind === 'domain' ? `@${c.domain}` : `${c.name}@${c.domain}`;
  }

  override set(id: string, c: PendingChange): this {
    const old = super.get(id);
    if (old) this.unindex(old);
    super.set(id, c);
    this.perDomain.add(c.domain, 1);
    this.byName.set(PendingChanges.nameOf(c), c);
    if (c.newName !== undefined) this.byNewName.set(`${c.newName}@${c.domain}`, c);
    if (c.seq > this.top) this.top = c.seq;
    return this;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (!old) return false;
    this.unindex(old);
    return super.delete(id);
  }

  private unindex(c: PendingChange): void {
    this.perDomain.add(c.domain, -1);
    const name = PendingChanges.nameOf(c);
    if (this.byName.get(name) === c) this.byName.delete(name);
    if (c.newName !== undefined && this.byNewName.get(`${c.newName}@${c.domain}`) === c)
      this.byNewName.delete(`${c.newName}@${c.domain}`);
    if (c.seq >= this.top) this.topStale = true;
  }

  /** The pending change to the account or forward `address`. */
  forAddress(address: string): PendingChange | undefined {
    return address.startsWith('@') ? undefined : this.byName.get(address);
  }

  /** How many changes are pending for `domain` (of every kind). */
  countIn(domain: string): number {
    return this.perDomain.of(domain);
  }

  /** The domains with pending changes. */
  domains(): IterableIterator<string> {
    return this.perDomain.domains();
  }

  /** The pending change to the domain itself. */
  forDomain(domain: string): PendingChange | undefined {
    return this.byName.get(`@${domain}`);
  }

  /** The pending rename that will give an account the name `address`. */
  renamingTo(address: string): PendingChange | undefined {
    return this.byNewName.get(address);
  }

  /** The highest change number pending. */
  get maxSeq(): number {
    if (this.topStale) {
      this.top = 0;
      for (const c of this.values()) this.top = Math.max(this.top, c.seq);
      this.topStale = false;
    }
    return this.top;
  }
}
