// Mail clients that fight over one POP3 mailbox: two client addresses fetching it, one leaving
// mail on the server and the other deleting it, or one deleting what the other has not fetched
// yet (a household's phone and laptop on one box). Followed from the trail's retrieved and
// deleted events (by UIDL, per client address); pure and bounded: a few clients per mailbox,
// a few thousand UIDLs per client, a cap on the mailboxes followed (the least recent go).

const MAX_MAILBOXES = 50_000;
const MAX_CLIENTS = 8;
const MAX_UIDLS = 5000;
/** A client not seen for this long no longer counts. */
export const CLIENT_WINDOW_MS = 30 * 86_400_000;

interface Client {
  lastSeen: number;
  retrieved: number;
  deleted: number;
  /** Messages another client deleted before this one had fetched them. */
  unseenDeleted: number;
  seen: Set<string>;
}

/** What an account's health says of its POP3 clients. */
export interface ClientsHealth {
  /** Client addresses that fetched mail within 30 days. */
  count: number;
  /** Those that fetched and never deleted, and those that deleted. */
  keeping: string[];
  deleting: string[];
  /** Per client address: messages deleted by another before it saw them. */
  unseenDeleted: Record<string, number>;
  /** The fight in words, or null when there is none. */
  note: string | null;
}

export class Pop3Clients {
  private readonly boxes = new Map<string, Map<string, Client>>();

  /** Takes one trail event (only retrieved and deleted with a client and UIDL count). */
  note(event: string, address: string, client: string | null | undefined, uidl: unknown, at = Date.now()): void {
    if ((event !== 'retrieved' && event !== 'deleted') || !client || typeof uidl !== 'string') return;
    let box = this.boxes.get(address);
    if (box) this.boxes.delete(address);
    else box = new Map();
    this.boxes.set(address, box);
    if (this.boxes.size > MAX_MAILBOXES) this.boxes.delete(this.boxes.keys().next().value!);
    let c = box.get(client);
    if (!c) {
      c = { lastSeen: at, retrieved: 0, deleted: 0, unseenDeleted: 0, seen: new Set() };
      box.set(client, c);
      if (box.size > MAX_CLIENTS) {
        const stalest = [...box].sort((x, y) => x[1].lastSeen - y[1].lastSeen)[0][0];
        box.delete(stalest);
      }
    }
    c.lastSeen = at;
    if (event === 'retrieved') {
      c.retrieved++;
      c.seen.add(uidl);
      if (c.seen.size > MAX_UIDLS) c.seen.delete(c.seen.values().next().value!);
      return;
    }
    c.deleted++;
    for (const [ip, o] of box)
      if (ip !== client && o.retrieved > 0 && at - o.lastSeen < CLIENT_WINDOW_MS && !o.seen.delete(uidl))
        o.unseenDeleted++;
  }

  health(address: string, now = Date.now()): ClientsHealth | null {
    const box = this.boxes.get(address);
    if (!box) return null;
    const active = [...box].filter(([, c]) => now - c.lastSeen < CLIENT_WINDOW_MS && c.retrieved + c.deleted > 0);
    const keeping = active.filter(([, c]) => c.deleted === 0).map(([ip]) => ip);
    const deleting = active.filter(([, c]) => c.deleted > 0).map(([ip]) => ip);
    const unseenDeleted: Record<string, number> = {};
    for (const [ip, c] of active) if (c.unseenDeleted) unseenDeleted[ip] = c.unseenDeleted;
    const worst = Object.entries(unseenDeleted).sort((a, b) => b[1] - a[1])[0];
    let note: string | null = null;
    if (active.length >= 2 && worst)
      note = `fetched by ${active.length} clients; ${worst[1]} message${worst[1] === 1 ? '' : 's'} deleted before ${worst[0]} saw them`;
    else if (active.length >= 2 && keeping.length && deleting.length)
      note = `fetched by ${active.length} clients; ${keeping.join(', ')} leaves mail on the server, ${deleting.join(', ')} deletes it`;
    return { count: active.length, keeping, deleting, unseenDeleted, note };
  }
}
