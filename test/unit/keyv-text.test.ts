// The store writes each row as keyv's text. serialize (database.ts) makes it with JSON.stringify
// where that is the same text, and with keyv's own serializer where it is not: a Buffer, a
// string that starts with a colon, a function in an array, a toJSON. Judged byte for byte
// against keyv's serializer, on the rows the store writes and on every such case, nested.
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
];

describe("the store's rows as keyv's text", () => {
  for (const [what, data] of cases)
    it(`${what}: the same text as keyv's serializer, and it reads back alike`, () => {
      const text = serialize(data);
      expect(text).toBe(defaultSerialize(data));
      expect(defaultDeserialize(text)).toEqual(defaultDeserialize(defaultSerialize(data)));
    });
});
