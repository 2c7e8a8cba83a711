// The one path keys take into the console. Terminals deliver keys in bursts (typed fast over
// SSH, or pasted), and Ink hands a burst to the screens as one input; React commits each key's
// state change, and Ink's key handlers re-subscribe in effects that run after that commit. So
// the gate sits between the terminal and Ink and never lets a key through on its own: it asks
// the app for a re-render inside a transition (which React renders only after all other work,
// and only once the effects of earlier commits have run), and lets one key through when that
// commit lands, from the app's last effect. Every key, the first of a burst included, is then
// handled by the state and the handlers the previous change left, as if typed slowly.
import { PassThrough } from 'node:stream';
import { cleanText } from './text-buffer.js';

/**
 * Splits terminal input into keys: one character, one control key or one escape sequence
 * each, since a letter can be a command (a, d, /) that changes where the next letters go.
 */
export function splitKeys(input: string): string[] {
  const out: string[] = [];
  const re = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001bO.|\u001b[\s\S]?|[\s\S]/gu;
  for (const m of input.matchAll(re)) out.push(m[0]);
  return out;
}

/** Escape sequences of keys the console uses; others (a pasted "clear screen", bracketed-paste marks) are dropped. */
const KNOWN_SEQUENCE = /^\u001b(\[[ABCDHFZ]|O[ABCDHF]|\[[1-8]~|\[1;[2-8][ABCDHF]|[^[O]?)$/;

export function isKnownKey(key: string): boolean {
  return !key.startsWith('\u001b') || KNOWN_SEQUENCE.test(key);
}

/** Text a field takes as typed: no control characters, no escape sequences. */
export function isText(key: string): boolean {
  return key.length > 0 && !/[\u0000-\u001f\u007f]/.test(key);
}

/** Where the keys go, as of the last commit. */
export interface KeyTarget {
  /** A text field has the keys: runs of plain text go through as one input. */
  textMode: boolean;
  /** Its cursor is at the start / end: an arrow past that end is dropped (see FormState.cursor). */
  atStart: boolean;
  atEnd: boolean;
  /**
   * A request the keys sent is in flight: no key goes until its answer (and what it changed) is
   * on the screen, so a key typed after Enter acts on what the admin saw then, not on a form
   * still sending or a row about to move. Absent: not busy.
   */
  busy?: boolean;
}

/** Bracketed paste (the console turns it on): the terminal wraps what is pasted in these marks. */
const PASTE_START = '\u001b[200~';
const PASTE_END = '\u001b[201~';
/** A paste is held until its end mark up to this much; the rest is dropped (no field takes it). */
const MAX_PASTE = 65_536;

/** A paste, whole and cleaned: one event for a field. */
interface Paste {
  paste: string;
}

/**
 * Where the paste under way ends in `rest` (-1: not in it). A terminal writes a paste's end mark
 * last, so an end mark followed in the same read by another one, with no start mark between,
 * was pasted text (copied from a page or a mail that carried one): the paste ends at the last.
 * Were the first taken as the end, what follows it would run as keys (a "dy" that removes).
 */
function pasteEnd(rest: string): number {
  let end = rest.indexOf(PASTE_END);
  while (end >= 0) {
    const next = rest.indexOf(PASTE_END, end + PASTE_END.length);
    const start = rest.indexOf(PASTE_START, end + PASTE_END.length);
    if (next < 0 || (start >= 0 && start < next)) return end;
    end = next;
  }
  return end;
}

/**
 * Backspace as Ink reads it: terminals send DEL (0x7f) for Backspace, which Ink calls `delete`,
 * the name it also gives the Delete key (ESC[3~); sent on as BS (0x08) it is `backspace`, and
 * `delete` is left to the Delete key alone, which deletes forward.
 */
const asInkKey = (key: string): string => (key === '\u007f' ? '\b' : key);

const LEFT = /^\u001b(\[|O)D$/;
const RIGHT = /^\u001b(\[|O)C$/;

/** The end of a read that may be the start of an escape sequence whose rest is still coming. */
const PARTIAL_ESCAPE = /\u001b(\[[0-9;?]*[ -/]*|O)?$/;
/** How long a lone Escape waits to see whether it starts a sequence. */
const ESCAPE_WAIT_MS = 25;
/** A paste whose end mark has not come after this long without input is over (see watchPaste). */
const PASTE_IDLE_MS = 1500;
/**
 * How long what follows a paste's end mark in the same read waits for a later read that would
 * show it was pasted text (another end mark, with no start mark before it): see take().
 */
const AFTER_PASTE_MS = 100;
/** If the app never says it committed (it is not mounted), the next key goes after this long. */
const STUCK_MS = 1000;

export class KeyGate {
  private queue: (string | Paste)[] = [];
  private partial = '';
  /** What is pasted so far, between the start and end marks; null when no paste is under way. */
  private pasting: string | null = null;
  private partialTimer: NodeJS.Timeout | null = null;
  private stuckTimer: NodeJS.Timeout | null = null;
  private pasteTimer: NodeJS.Timeout | null = null;
  /** What followed the end mark of the paste under way in its read, until AFTER_PASTE_MS says it is keys. */
  private afterPaste: string | null = null;
  private afterPasteTimer: NodeJS.Timeout | null = null;
  /** The commit asked for, before which no key goes; 0 when none is awaited. */
  private waitingFor = 0;
  private seq = 0;
  private target: KeyTarget = { textMode: false, atStart: false, atEnd: false, busy: false };
  /** The last commit found the app busy: keys wait until a commit says it is not. */
  private held = false;
  /** The key last let through, as the terminal sent it. */
  lastKey = '';
  /** Set by the app: asks for a re-render, in a transition, that will report `seq` committed. */
  onRelease: (seq: number) => void = () => {};
  /** Ctrl-C: acts at once, ahead of anything queued. Without a handler it goes to Ink. */
  onInterrupt: (() => void) | null = null;

  constructor(private readonly emit: (key: string) => void) {}

  /** Keys as the terminal sent them. */
  push(chunk: string): void {
    // A paste's end mark with what followed it, read again with what came after them.
    let data = (this.afterPaste !== null ? PASTE_END + this.afterPaste : '') + this.partial + chunk;
    this.afterPaste = null;
    if (this.afterPasteTimer) clearTimeout(this.afterPasteTimer);
    this.afterPasteTimer = null;
    this.partial = '';
    if (this.partialTimer) clearTimeout(this.partialTimer);
    this.partialTimer = null;
    const partial = PARTIAL_ESCAPE.exec(data);
    if (partial) {
      this.partial = partial[0];
      data = data.slice(0, partial.index);
    }
    this.take(data);
    // Inside a paste, a sequence cut short is the start of its end mark (or pasted text): it
    // waits for its rest however slow the link, or for the paste's idle end (PASTE_IDLE_MS).
    if (this.partial && this.pasting === null)
      this.partialTimer = setTimeout(() => {
        // Nothing followed: it was the Escape key (or a sequence cut short).
        const held = this.partial;
        this.partial = '';
        this.partialTimer = null;
        this.take(held);
      }, ESCAPE_WAIT_MS);
    if (this.afterPaste !== null) this.afterPasteTimer = setTimeout(() => this.endPaste(), AFTER_PASTE_MS);
    this.watchPaste();
  }

  /** The paste under way is over (its end mark came, and nothing showed that was pasted text): what followed is keys. */
  private endPaste(): void {
    const rest = (this.afterPaste ?? '') + this.partial;
    this.afterPaste = null;
    this.afterPasteTimer = null;
    this.partial = '';
    if (this.pasting !== null) this.queue.push({ paste: cleanText(this.pasting) });
    this.pasting = null;
    this.take(rest);
    this.watchPaste();
  }

  /**
   * A paste under way whose end mark does not come (a terminal cut off, a stray start mark) is
   * over once nothing has come for PASTE_IDLE_MS: what came is the paste, and the keys, Ctrl-C
   * too, are the admin's again.
   */
  private watchPaste(): void {
    if (this.pasteTimer) clearTimeout(this.pasteTimer);
    this.pasteTimer = null;
    if (this.pasting === null) return;
    this.pasteTimer = setTimeout(() => {
      this.pasteTimer = null;
      if (this.pasting === null) return;
      this.queue.push({ paste: cleanText(this.pasting + this.partial) });
      this.pasting = null;
      this.partial = '';
      this.pump();
    }, PASTE_IDLE_MS);
  }

  /** Queues keys and pastes from `data` (no partial escape sequence at its end). */
  private take(data: string): void {
    let rest = data;
    while (rest) {
      if (this.pasting !== null) {
        const end = pasteEnd(rest);
        const part = end < 0 ? rest : rest.slice(0, end);
        // Beyond MAX_PASTE the paste is cut: no field holds more (text-buffer's MAX_FIELD).
        if (this.pasting.length < MAX_PASTE) this.pasting += part.slice(0, MAX_PASTE - this.pasting.length);
        if (end < 0) break;
        // Keys after the end mark in the same read wait a moment: a long paste's text that
        // carried an end mark goes on in the next read, up to the terminal's own end mark.
        const tail = rest.slice(end + PASTE_END.length);
        if (tail && !tail.startsWith(PASTE_START)) {
          this.afterPaste = tail;
          break;
        }
        this.queue.push({ paste: cleanText(this.pasting) });
        this.pasting = null;
        rest = rest.slice(end + PASTE_END.length);
        continue;
      }
      const start = rest.indexOf(PASTE_START);
      const keys = start < 0 ? rest : rest.slice(0, start);
      // Ctrl-C acts at once, ahead of anything queued (one inside a paste is pasted text, cleaned out).
      if (keys.includes('\u0003')) {
        this.queue = [];
        this.pasting = null;
        if (this.onInterrupt) this.onInterrupt();
        else this.emit('\u0003');
        return;
      }
      this.queue.push(...splitKeys(keys).filter(isKnownKey).map(asInkKey));
      if (start < 0) break;
      this.pasting = '';
      rest = rest.slice(start + PASTE_START.length);
    }
    this.pump();
  }

  /**
   * The app committed the render asked for as `seq`: the next key may go, to where `target`
   * (as of that commit) says.
   */
  committed(seq: number, target: KeyTarget): void {
    if (this.held) {
      // Held while busy: once a commit shows the answer, the next key goes after one more commit.
      if (target.busy) return;
      this.held = false;
      this.target = target;
      this.pump();
      return;
    }
    if (seq !== this.waitingFor) return;
    this.waitingFor = 0;
    if (this.stuckTimer) clearTimeout(this.stuckTimer);
    this.stuckTimer = null;
    this.target = target;
    if (target.busy) {
      this.held = true;
      return;
    }
    const key = this.next();
    if (key === null) return;
    this.lastKey = key;
    this.emit(key);
    // Even after the last key: once this commit lands, what the key did is on the screen.
    this.askForCommit();
  }

  /** The next input for the target: a key, a run of text for a field, or null. */
  private next(): string | null {
    const { textMode, atStart, atEnd } = this.target;
    while (this.queue.length) {
      const item = this.queue.shift()!;
      // A paste is text for a field, taken as one input; outside a field it is not a row of
      // commands (a pasted "dq" must not remove and quit): dropped.
      if (typeof item !== 'string') {
        if (textMode && item.paste) return item.paste;
        continue;
      }
      let key = item;
      if (textMode && ((atStart && LEFT.test(key)) || (atEnd && RIGHT.test(key)))) continue;
      // A paste into a field goes through as one input: the field takes it whole.
      if (textMode && isText(key))
        while (this.queue.length && typeof this.queue[0] === 'string' && isText(this.queue[0]))
          key += this.queue.shift();
      return key;
    }
    return null;
  }

  /** Keys are waiting: once the app has committed, the first may go. */
  private pump(): void {
    if (this.waitingFor || this.held || this.queue.length === 0) return;
    this.askForCommit();
  }

  /** Asks the app for a commit, after which the next key may go. */
  private askForCommit(): void {
    const seq = ++this.seq;
    this.waitingFor = seq;
    // After Ink has handed the last key to the screens (it reads its stdin on a later tick).
    setImmediate(() => this.onRelease(seq));
    this.stuckTimer = setTimeout(() => this.committed(seq, this.target), STUCK_MS);
    this.stuckTimer.unref();
  }

  /** True when no key waits and what the last one did has been committed. */
  get idle(): boolean {
    return this.queue.length === 0 && this.waitingFor === 0 && this.partial === '' && this.pasting === null;
  }

  close(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    if (this.stuckTimer) clearTimeout(this.stuckTimer);
    if (this.pasteTimer) clearTimeout(this.pasteTimer);
    if (this.afterPasteTimer) clearTimeout(this.afterPasteTimer);
    this.queue = [];
  }
}

/** The terminal's stdin behind a gate: what Ink reads from instead of the terminal. */
export function gatedStdin(real: NodeJS.ReadStream): { stdin: NodeJS.ReadStream; gate: KeyGate } {
  const out = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const gate = new KeyGate((key) => out.write(key));
  real.on('data', (chunk: Buffer | string) => gate.push(chunk.toString()));
  Object.assign(out, {
    // Ink reads raw-mode support from its stdin: this one stands for the terminal.
    isTTY: true,
    setRawMode: (mode: boolean) => {
      real.setRawMode(mode);
      if (mode) real.resume();
      return out;
    },
    ref: () => {
      real.ref();
      return out;
    },
    unref: () => {
      real.unref();
      return out;
    },
  });
  return { stdin: out, gate };
}
