/** The stored and escaped forms of file names (lambdas/core/fs/name-encoding.ts): bijections, fast-check. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeName,
  encodeName,
  escapeName,
  isEscapedName,
  needsEscape,
  unescapeBytes,
  unescapeName,
} from '../../lambdas/core/fs/name-encoding.ts';

/** Byte strings that favour what names are made of: ASCII, UTF-8 lead/continuation bytes, stray high bytes, "\". */
const nameBytes = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.constantFrom(
        0x5c,
        0x00,
        0x0a,
        0x7f,
        0xe9,
        0xc3,
        0xa9,
        0xe2,
        0x82,
        0xac,
        0xf0,
        0x9f,
        0xed,
        0xa0,
        0xc0,
      ),
      fc.integer({ min: 0x80, max: 0xff }),
    ),
    { maxLength: 24 },
  )
  .map((bytes) => Uint8Array.from(bytes));
/** Any valid Unicode text (graphemes reach beyond U+FFFF). */
const text = fc.string({ unit: 'grapheme', maxLength: 16 });

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('name encoding', () => {
  it('the stored form is a bijection: decode(encode(b)) = b, and distinct bytes never share a form', () => {
    fc.assert(
      fc.property(nameBytes, nameBytes, (a, b) => {
        expect(hex(decodeName(encodeName(a)))).toBe(hex(a));
        expect(encodeName(a) === encodeName(b)).toBe(hex(a) === hex(b));
      }),
      { numRuns: 5000 },
    );
  });

  it('a valid UTF-8 name without NUL is stored as its own text (existing catalogs stay valid)', () => {
    fc.assert(
      fc.property(text, (name) => {
        fc.pre(!name.includes('\u0000'));
        expect(encodeName(Buffer.from(name, 'utf8'))).toBe(name);
        expect(isEscapedName(name)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('the escaped form is a bijection too, and its parse gives back the stored form', () => {
    fc.assert(
      fc.property(nameBytes, nameBytes, (a, b) => {
        const shown = escapeName(encodeName(a));
        expect(hex(unescapeBytes(shown))).toBe(hex(a));
        expect(unescapeName(shown)).toBe(encodeName(a));
        expect(shown === escapeName(encodeName(b))).toBe(hex(a) === hex(b));
        // Shown forms are printable: no control characters, no NUL.
        expect(needsEscape(shown.replaceAll('\\', ''))).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it('valid names without "\\" or control characters are shown as they are', () => {
    fc.assert(
      fc.property(text, (name) => {
        fc.pre(!needsEscape(name));
        expect(escapeName(name)).toBe(name);
        expect(unescapeName(name)).toBe(name);
      }),
      { numRuns: 3000 },
    );
  });

  it('examples: Latin-1 café, a backslash, a typed lone backslash, a control character', () => {
    const latin1 = Uint8Array.from([0x63, 0x61, 0x66, 0xe9]);
    expect(encodeName(latin1)).toBe('caf\u0000e9');
    expect(escapeName('caf\u0000e9')).toBe('caf\\xe9');
    expect(unescapeName('caf\\xe9')).toBe('caf\u0000e9');
    expect(unescapeName('caf\\xE9')).toBe('caf\u0000e9');
    // Two names that a lossy decoding makes equal stay apart.
    expect(encodeName(Uint8Array.from([0x63, 0x61, 0x66, 0xe8]))).toBe('caf\u0000e8');
    expect(escapeName('a\\b')).toBe('a\\\\b');
    expect(unescapeName('a\\\\b')).toBe('a\\b');
    expect(unescapeName('a\\b')).toBe('a\\b');
    expect(escapeName('line\nbreak')).toBe('line\\x0abreak');
    expect(unescapeName('line\\x0abreak')).toBe('line\nbreak');
    // Valid UTF-8 written as \x escapes is the same name as its text.
    expect(unescapeName('caf\\xc3\\xa9')).toBe('café');
    expect(() => decodeName('bad\u0000z')).toThrow(
      'malformed stored name: U+0000 must be followed by two hex digits',
    );
  });
});
