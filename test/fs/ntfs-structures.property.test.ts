/**
 * Properties of the NTFS structure parsers: LZNT1 round trips (a compressor in lznt1.ts, checked
 * against real ntfs-3g data in ntfs.test.ts), runlists written by an encoder in this file decode
 * to the same runs, update-sequence fixups catch every torn stride, and arbitrary bytes given to
 * any parser end in a typed error, never an exception of another kind or an out-of-range write.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RbpError } from '../../lambdas/core/errors.ts';
import { LeBytes } from '../../lambdas/core/fs/bytes.ts';
import { FilesystemCorruptError } from '../../lambdas/core/fs/errors.ts';
import { LZNT1_CHUNK_BYTES, compressLznt1, decompressLznt1 } from '../../lambdas/core/fs/ntfs/lznt1.ts';
import {
  applyFixups,
  decodeRunlist,
  filetime,
  parseBootSector,
  parseFileRecord,
  parseIndexNode,
  parseReparsePoint,
} from '../../lambdas/core/fs/ntfs/structures.ts';
import type { Run } from '../../lambdas/core/fs/ntfs/structures.ts';

/** Bytes with long repeats, so that the compressor finds back references of every length. */
const compressible = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 700 }))
        .map(([b, n]) => new Uint8Array(n).fill(b)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(Math.min(total, 3 * LZNT1_CHUNK_BYTES + 100));
    let at = 0;
    for (const p of parts) {
      const n = Math.min(p.length, out.length - at);
      out.set(p.subarray(0, n), at);
      at += n;
    }
    return out;
  });

function typedOnly(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof RbpError)) throw error;
  }
}

describe('LZNT1', () => {
  it('decompress(compress(x)) = x, zero-padded to the 4 KiB chunk', () => {
    fc.assert(
      fc.property(compressible, (data) => {
        const unit = new Uint8Array(
          Math.ceil(data.length / LZNT1_CHUNK_BYTES) * LZNT1_CHUNK_BYTES + LZNT1_CHUNK_BYTES,
        );
        decompressLznt1(compressLznt1(data), unit);
        expect(Buffer.from(unit.subarray(0, data.length)).equals(Buffer.from(data))).toBe(true);
        expect(unit.subarray(data.length).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('an uncompressed chunk stands for 4 KiB of raw bytes', () => {
    const raw = new Uint8Array(LZNT1_CHUNK_BYTES).map((_, i) => i % 251);
    const header = 0x3000 | (LZNT1_CHUNK_BYTES - 1);
    const input = new Uint8Array([
      header & 0xff,
      header >>> 8,
      ...raw,
      0x05,
      0xb0,
      0x00,
      0x41,
      0x42,
      0x43,
      0x44,
      0x45,
    ]);
    const out = new Uint8Array(2 * LZNT1_CHUNK_BYTES);
    decompressLznt1(input, out);
    expect(Buffer.from(out.subarray(0, LZNT1_CHUNK_BYTES)).equals(Buffer.from(raw))).toBe(true);
    expect(Buffer.from(out.subarray(LZNT1_CHUNK_BYTES, LZNT1_CHUNK_BYTES + 5)).toString()).toBe('ABCDE');
  });

  it('arbitrary input ends in output or a FilesystemCorruptError, within the output buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.integer({ min: 0, max: 70_000 }), (input, size) => {
        const out = new Uint8Array(size);
        try {
          expect(decompressLznt1(input, out)).toBeLessThanOrEqual(size);
        } catch (error) {
          expect(error).toBeInstanceOf(FilesystemCorruptError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The runlist encoding: header nibbles, little-endian length, signed LCN delta (0 bytes: sparse). */
function encodeRunlist(runs: readonly { length: number; lcn: number }[]): Uint8Array {
  const out: number[] = [];
  let previous = 0;
  const le = (value: number, signed: boolean): number[] => {
    const bytes: number[] = [];
    let v = BigInt(value);
    for (;;) {
      const byte = Number(v & 0xffn);
      bytes.push(byte);
      v >>= 8n;
      if (signed ? (v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0) : v === 0n)
        return bytes;
    }
  };
  for (const run of runs) {
    const length = le(run.length, false);
    const delta = run.lcn < 0 ? [] : le(run.lcn - previous, true);
    if (run.lcn >= 0) previous = run.lcn;
    out.push((delta.length << 4) | length.length, ...length, ...delta);
  }
  out.push(0);
  return new Uint8Array(out);
}

describe('runlists', () => {
  it('decode what the encoder wrote, sparse runs included', () => {
    const run = fc.record({
      length: fc.integer({ min: 1, max: 2 ** 40 }),
      lcn: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 44 })),
    });
    fc.assert(
      fc.property(fc.array(run, { maxLength: 50 }), (runs) => {
        const bytes = encodeRunlist(runs);
        const total = runs.reduce((n, r) => n + r.length, 0);
        const decoded = decodeRunlist(
          new LeBytes(bytes),
          0,
          bytes.length,
          0,
          Math.max(0, total - 1),
          1000,
          'test',
        );
        let vcn = 0;
        const expected: Run[] = runs.map((r) => {
          const out = { vcn, lcn: r.lcn, length: r.length };
          vcn += r.length;
          return out;
        });
        expect(decoded).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('more runs than the limit, or runs past the last VCN, are refused', () => {
    const bytes = encodeRunlist(Array.from({ length: 10 }, (_, i) => ({ length: 1, lcn: 100 + i })));
    expect(() => decodeRunlist(new LeBytes(bytes), 0, bytes.length, 0, 9, 5, 'test')).toThrow(
      'test: more than 5 runs',
    );
    expect(() => decodeRunlist(new LeBytes(bytes), 0, bytes.length, 0, 4, 100, 'test')).toThrow(
      'test: runlist maps clusters 0..9 beyond last VCN 4',
    );
  });

  it('arbitrary bytes end in runs or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        typedOnly(() => decodeRunlist(new LeBytes(bytes), 0, bytes.length, 0, 2 ** 40, 1000, 'test'));
      }),
      { numRuns: 500 },
    );
  });
});

function recordWithFixups(body: Uint8Array, usn: number): Uint8Array {
  const record = new Uint8Array(body);
  record.set([0x46, 0x49, 0x4c, 0x45], 0); // FILE
  const strides = record.length / 512;
  const view = new DataView(record.buffer);
  view.setUint16(4, 0x30, true);
  view.setUint16(6, strides + 1, true);
  view.setUint16(0x30, usn, true);
  for (let i = 0; i < strides; i += 1) {
    view.setUint16(0x32 + i * 2, view.getUint16((i + 1) * 512 - 2, true), true);
    view.setUint16((i + 1) * 512 - 2, usn, true);
  }
  return record;
}

describe('update sequence fixups', () => {
  it('restore the saved bytes, and a torn stride is refused', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1024, maxLength: 1024 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 0, max: 1 }),
        (body, usn, torn) => {
          const record = recordWithFixups(body, usn);
          const fixed = applyFixups(record, 'FILE', 'test');
          expect(Buffer.from(fixed.subarray(510, 512)).equals(Buffer.from(body.subarray(510, 512)))).toBe(
            true,
          );
          expect(Buffer.from(fixed.subarray(1022, 1024)).equals(Buffer.from(body.subarray(1022, 1024)))).toBe(
            true,
          );
          const broken = new Uint8Array(record);
          broken[torn * 512 + 510] = broken[torn * 512 + 510]! ^ 0xff;
          expect(() => applyFixups(broken, 'FILE', 'test')).toThrow(`test: fixup mismatch in stride ${torn}`);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('FILETIME', () => {
  it('equals the BigInt conversion for every 64-bit value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (ticks) => {
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setBigUint64(0, ticks, true);
        const since = ticks - 116_444_736_000_000_000n;
        const seconds = since >= 0n ? since / 10_000_000n : -((-since + 9_999_999n) / 10_000_000n);
        const nanoseconds = (since - seconds * 10_000_000n) * 100n;
        expect(filetime(new LeBytes(bytes), 0)).toEqual({
          seconds: Number(seconds),
          nanoseconds: Number(nanoseconds),
        });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('arbitrary bytes', () => {
  it('FILE records, index nodes, boot sectors and reparse data end in a result or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1024, maxLength: 1024 }), (bytes) => {
        const withMagic = new Uint8Array(bytes);
        withMagic.set([0x46, 0x49, 0x4c, 0x45], 0);
        typedOnly(() => parseFileRecord(7, withMagic, 1000, 100));
        typedOnly(() => parseIndexNode(bytes, 0x18, 'test'));
        const boot = new Uint8Array(bytes.subarray(0, 512));
        boot.set(new TextEncoder().encode('NTFS    '), 3);
        typedOnly(() => parseBootSector(boot, 1024 ** 3));
        typedOnly(() => parseReparsePoint(bytes.subarray(0, 64)));
      }),
      { numRuns: 500 },
    );
  });
});
