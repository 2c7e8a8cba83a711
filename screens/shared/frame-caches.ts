// Ink draws each frame into a new Output whose caches (each line's styled characters, each
// text's width) start empty, so every frame tokenized every line of the screen again: the
// largest part of a key's CPU in a profile of filtering and scrolling 100,000 accounts
// (@alcalzone/ansi-tokenize's tokenize and styledCharsFromTokens), though most lines of a frame
// are the last frame's. Here every frame shares one set of caches, bounded: past KEPT entries
// the next frame's own (empty) caches become the shared ones. What is cached is pure (a line's
// styled characters, which Output only reads, and widths), so a frame is drawn as before.
// Ink's Output is reached at build time (bundle.ts puts the call into Ink's output.js).

/** Ink's Output caches (ink/build/output.js, class OutputCaches), as far as they are used here. */
interface OutputCaches {
  styledChars: Map<string, unknown>;
  widths: Map<string, number>;
  blockWidths: Map<string, number>;
}

/** Entries (lines, texts) the shared caches hold before they start again: a few screens' worth. */
const KEPT = 5000;

let shared: OutputCaches | null = null;

const isCaches = (c: unknown): c is OutputCaches =>
  c !== null &&
  typeof c === 'object' &&
  ['styledChars', 'widths', 'blockWidths'].every((k) => (c as Record<string, unknown>)[k] instanceof Map);

/** The caches a frame uses: the shared ones, or its own when those have grown past KEPT. */
export function frameCaches(own: OutputCaches): OutputCaches {
  if (!shared || [shared.styledChars, shared.widths, shared.blockWidths].some((m) => m.size > KEPT)) shared = own;
  return shared;
}

/**
 * Makes every Output of this copy of Ink draw with the shared caches. An Ink whose Output has
 * no such caches (another version) is left as it is: the console works, as slowly as before.
 */
export function shareFrameCaches(Output: { prototype: object }): void {
  const proto = Output.prototype as { get?: () => unknown; caches?: unknown; sharesCaches?: boolean };
  const get = proto.get;
  if (typeof get !== 'function' || proto.sharesCaches) return;
  proto.sharesCaches = true;
  proto.get = function (this: { caches?: unknown }) {
    if (isCaches(this.caches)) this.caches = frameCaches(this.caches);
    return get.call(this);
  };
}
