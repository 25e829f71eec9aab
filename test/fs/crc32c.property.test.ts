/**
 * CRC-32C as the ext4 and XFS readers compute it (bytes.ts: slicing-by-8, with a word path for
 * aligned ranges) against the bit-at-a-time definition, over random bytes at every alignment and
 * length, and the standard check value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32cRaw, crc32cRawRange } from '../../lambdas/core/fs/bytes.ts';

/** The Castagnoli polynomial, reflected. */
const POLY = 0x82f63b78;

function bitwise(seed: number, bytes: Uint8Array, from: number, to: number): number {
  let crc = seed >>> 0;
  for (let i = from; i < to; i += 1) {
    crc ^= bytes[i]!;
    for (let k = 0; k < 8; k += 1) crc = crc & 1 ? (POLY ^ (crc >>> 1)) >>> 0 : crc >>> 1;
  }
  return crc >>> 0;
}

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect((crc32cRaw(0xffffffff, bytes) ^ 0xffffffff) >>> 0).toBe(0xe3069283);
  });

  it('equals the bitwise definition for any range of any view, aligned or not', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.nat({ max: 7 }),
        fc.nat(),
        fc.nat(),
        (content, shift, a, b) => {
          // The same bytes at `shift` into a larger buffer: views at every alignment.
          const backing = new Uint8Array(content.length + shift);
          backing.set(content, shift);
          const view = backing.subarray(shift);
          const from = content.length === 0 ? 0 : a % (content.length + 1);
          const to = from + (content.length === 0 ? 0 : b % (content.length - from + 1));
          const seed = (a ^ b) >>> 0;
          expect(crc32cRawRange(seed, view, from, to)).toBe(bitwise(seed, content, from, to));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('clamps the range to the view as before (from below 0, to past the end)', () => {
    const bytes = new Uint8Array(300).map((_, i) => (i * 37) & 0xff);
    expect(crc32cRawRange(7, bytes, -5, 10_000)).toBe(bitwise(7, bytes, 0, bytes.length));
  });
});
