/**
 * `restore file --out` writes a sparse local file (issue 14, defect 6): the download sink skips
 * whole 4 KiB blocks of zeros and truncates to the full length. Whatever the chunking of the
 * download, the file reads back byte for byte; a 32 MiB file with 8 KiB of data allocates a few
 * blocks only (it allocated 32 MiB before, written by createWriteStream).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPARSE_BLOCK_BYTES, sparseFileSink } from '../../cli/api/sparse-file.ts';

const MIB = 1024 * 1024;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rbp-sparse-download-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) pieces.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return pieces;
}

describe('sparse download sink', () => {
  it('keeps every byte whatever the chunking and the zero runs', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            zeros: fc.boolean(),
            length: fc.integer({ min: 1, max: 3 * SPARSE_BLOCK_BYTES + 17 }),
            fill: fc.integer({ min: 1, max: 255 }),
          }),
          { maxLength: 12 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (segments, cuts) => {
          const bytes = Buffer.concat(segments.map((s) => Buffer.alloc(s.length, s.zeros ? 0 : s.fill)));
          const file = path.join(work, `p${(round += 1)}`);
          await pipeline(Readable.from(chunked(bytes, cuts)), sparseFileSink(file));
          expect((await readFile(file)).equals(bytes)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('leaves holes: 32 MiB with 8 KiB of data allocates a few blocks', async () => {
    const bytes = Buffer.alloc(32 * MIB);
    bytes.fill(7, 5 * MIB, 5 * MIB + 4096);
    bytes.fill(9, 32 * MIB - 4096);
    const file = path.join(work, 'big');
    await pipeline(Readable.from(chunked(bytes, [12_345, MIB + 1, 20 * MIB - 3])), sparseFileSink(file));
    const info = await stat(file);
    expect(info.size).toBe(32 * MIB);
    expect(info.blocks * 512).toBeLessThanOrEqual(64 * 1024);
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });
});
