/** Signed pagination cursors: round trips, and every single-character change refused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CursorCodec, queryScope, type CursorPosition } from '../../lambdas/core/api/cursor.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';

const codec = new CursorCodec(new Uint8Array(32).fill(1));
const position = fc.oneof(
  fc.record({ offset: fc.nat() }),
  fc.record({ token: fc.string({ minLength: 1, maxLength: 200 }) }),
) as fc.Arbitrary<CursorPosition>;
const scope = fc
  .tuple(fc.string(), fc.dictionary(fc.string(), fc.string()))
  .map(([op, params]) => queryScope(op, params));

function decodeError(scopeText: string, cursor: string): string {
  try {
    codec.decode(scopeText, cursor);
    return 'decoded';
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
}

describe('CursorCodec', () => {
  it('decodes what it encoded, for the same scope', () => {
    fc.assert(
      fc.property(scope, position, (s, p) => {
        expect(codec.decode(s, codec.encode(s, p))).toEqual(p);
      }),
    );
  });

  it('refuses a cursor of another scope', () => {
    fc.assert(
      fc.property(scope, scope, position, (a, b, p) => {
        fc.pre(a !== b);
        expect(decodeError(b, codec.encode(a, p))).toBe('invalid cursor: it belongs to a different query');
      }),
    );
  });

  it('refuses every cursor with one character changed', () => {
    fc.assert(
      fc.property(scope, position, fc.nat(), fc.constantFrom(...'ABCabc019-_.'), (s, p, at, replacement) => {
        const cursor = codec.encode(s, p);
        const index = at % cursor.length;
        fc.pre(cursor[index] !== replacement);
        const changed = cursor.slice(0, index) + replacement + cursor.slice(index + 1);
        expect(decodeError(s, changed)).not.toBe('decoded');
      }),
      { numRuns: 500 },
    );
  });

  it('refuses cursors made with another key', () => {
    const other = new CursorCodec(new Uint8Array(32).fill(2));
    expect(decodeError('s', other.encode('s', { offset: 3 }))).toBe(
      'invalid cursor: it was altered or was not issued by this API',
    );
  });

  it('needs a key of at least 32 bytes', () => {
    expect(() => new CursorCodec(new Uint8Array(31))).toThrow('the cursor key must have at least 32 bytes');
  });

  it('scopes ignore cursor, limit and parameter order', () => {
    expect(queryScope('op', { b: '2', a: '1', limit: 5, cursor: 'x' })).toBe(
      queryScope('op', { a: '1', b: '2' }),
    );
    expect(queryScope('op', { a: '1' })).not.toBe(queryScope('op', { a: '2' }));
  });
});

describe('CursorCodec canonical encoding', () => {
  it('refuses a cursor whose last MAC character differs only in base64 padding bits', () => {
    const cursor = codec.encode('s', { offset: 1 });
    const last = cursor.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 32 MAC bytes = 43 characters; the last one carries 2 data bits and 4 spare bits.
    const sibling = alphabet[(alphabet.indexOf(last) & ~0b1111) | ((alphabet.indexOf(last) + 1) & 0b1111)]!;
    expect(Buffer.from(cursor.slice(0, -1) + sibling, 'base64url').length).toBeGreaterThan(0);
    expect(decodeError('s', cursor.slice(0, -1) + sibling)).toBe(
      'invalid cursor: it was altered or was not issued by this API',
    );
  });
});
