// The store writes each row as keyv's text. serialize (database.ts) makes it with JSON.stringify
// where that is the same text, and with keyv's own serializer where it is not: a Buffer, a
// string that starts with a colon, a function in an array, a toJSON, an array with holes or
// extra properties, a symbol. Judged byte for byte against keyv's serializer, on the rows the
// store writes and on every such case, nested.
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';
import { describe, expect, it } from 'vitest';
import { serialize } from '../../src/store/database.js';

const account = {
  name: 'alice',
  domain: 'example.test',
  passwordHash: '{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
  createdAt: 1764979200000,
  updatedAt: 1764979200000,
  quota: 26214400,
};
const sparse: unknown[] = [1, 2, 3];
delete sparse[1];
const inherited = Object.assign(Object.create({ up: ':colon' }), { own: 'plain' });
const cases: [string, unknown][] = [
  ['an account row as keyv wraps it', { value: account, expires: undefined }],
  ['a pending change with a list', { value: { id: '17', destinations: ['a@x.test', 'b@y.test'], seq: 17 } }],
  ['text with quotes, backslashes, control characters and non-ASCII', { value: 'a"b\\c\u0001\u2028é😀' }],
  ['a string that starts with a colon', { value: ':8080' }],
  ['one nested in an array in an object', { value: { hosts: ['::1', '127.0.0.1'] } }],
  ['a colon key stays as it is', { value: { ':key': 'plain' } }],
  ['a Buffer', { value: Buffer.from('bytes') }],
  ['a Buffer nested', { value: { list: [{ b: Buffer.from([0, 1, 2]) }] } }],
  ['a Date (toJSON)', { value: new Date(0) }],
  ['a function in an array', { value: [1, () => 2, 3] }],
  ['a function in an object', { value: { a: 1, f: () => 2 } }],
  ['undefined in an array, null, NaN, Infinity', { value: [undefined, null, Number.NaN, Number.POSITIVE_INFINITY] }],
  ['an empty string and an empty array', { value: ['', [], {}] }],
  ['null at the top', null],
  // The hostile round's cases: where a plain JSON.stringify would differ from keyv's.
  ['undefined at the top', undefined],
  ['a sparse array', { value: sparse }],
  ['an array with an extra property', { value: Object.assign([1, 2], { extra: 'x' }) }],
  ['an inherited enumerable property', { value: inherited }],
  ['a symbol value in an object', { value: { s: Symbol('x'), a: 1 } }],
  ['a lone surrogate, NUL and U+2028', { value: '\ud800x a\u0000b\u2028' }],
  ['a key "::k" and a value "::v"', { value: { '::k': '::v' } }],
  ['a Map and a Set', { value: { m: new Map([[1, 2]]), s: new Set([1]) } }],
  ['a typed array', { value: new Uint8Array([1, 2]) }],
  ['-0 and extreme numbers', { value: [-0, 1e308, 5e-324] }],
  ['a toJSON that is not a function', { value: { toJSON: 'x' } }],
  ['a string that starts with ":base64:"', { value: ':base64:AAAA' }],
  ['a boxed string', { value: new String(':x') }],
];

describe("the store's rows as keyv's text", () => {
  for (const [what, data] of cases)
    it(`${what}: the same text as keyv's serializer (or the same failure), and it reads back alike`, () => {
      const ours = attempt(() => serialize(data));
      const keyvs = attempt(() => defaultSerialize(data));
      expect(ours).toEqual(keyvs);
      // keyv's own text for a symbol is no JSON: the same text is all that can be asked then.
      const back = attempt(() => defaultDeserialize(keyvs.text!));
      if (!back.threw) expect(defaultDeserialize(ours.text!)).toEqual(back.text);
    });
});

function attempt<T>(fn: () => T): { text?: T; threw: boolean } {
  try {
    return { text: fn(), threw: false };
  } catch {
    return { threw: true };
  }
}
