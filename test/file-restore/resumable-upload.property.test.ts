/**
 * The part scheme of resumable restores (resumable-upload.ts): parts of `base` bytes doubling every
 * PARTS_PER_SIZE_STEP parts. For every object up to maxResumableBytes the parts stay within S3's
 * 10,000 and every part but the last is at least S3's 5 MiB minimum and at most its 5 GiB maximum
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html); one byte more is refused
 * with a clear error before part 10,001 is sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as resumable from '../../lambdas/core/file-restore/resumable-upload.ts';
import type { ResumableUploads } from '../../lambdas/core/file-restore/restore-ports.ts';
import { RESTORE_PART_BYTES } from '../../lambdas/aws/s3-restore.ts';
import { MemoryRestoreObjects } from './memory-restore.ts';

const { MAX_UPLOAD_PARTS, maxResumableBytes, partBytesOf, RestoreTooLargeError, uploadResumable } = resumable;
const MIB = 1024 * 1024;
const S3_MIN_PART = 5 * MIB;
const S3_MAX_PART = 5 * 1024 * MIB;

/** The sizes of the parts an object of `size` bytes is cut into. */
function partsOf(base: number, size: number): number[] {
  const parts: number[] = [];
  for (let left = size; left > 0;) {
    const part = Math.min(left, partBytesOf(base, parts.length + 1));
    parts.push(part);
    left -= part;
  }
  return parts;
}

describe('resumable restore part sizes', () => {
  it('8 MiB parts hold 300,000 MiB (293 GiB) in 10,000 parts', () => {
    expect(maxResumableBytes(RESTORE_PART_BYTES)).toBe(300_000 * MIB);
  });

  it('every object up to the limit fits in 10,000 parts, each but the last between 5 MiB and 5 GiB', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: S3_MIN_PART, max: 16 * MIB }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (base, fraction) => {
          const size = Math.floor(maxResumableBytes(base) * fraction);
          const parts = partsOf(base, size);
          expect(parts.length).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
          expect(parts.reduce((a, b) => a + b, 0)).toBe(size);
          for (const part of parts.slice(0, -1)) {
            expect(part).toBeGreaterThanOrEqual(S3_MIN_PART);
            expect(part).toBeLessThanOrEqual(S3_MAX_PART);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['at the limit: completed in 10,000 parts', 0],
    ['one byte more: refused before part 10,001', 1],
  ] as const)('an object %s', async (_, extra) => {
    // One-byte base parts, so 10,000 parts are quick to write in memory.
    const base = 1;
    const limit = maxResumableBytes(base);
    const written: number[] = [];
    let completed = 0;
    const parts: ResumableUploads = {
      partBytes: base,
      start: () => Promise.resolve('upload'),
      putPart: (_key, _id, partNumber) => Promise.resolve(void written.push(partNumber)),
      complete: () => Promise.resolve(void (completed += 1)),
      objectBytes: () => Promise.resolve(undefined),
    };
    const objects = Object.assign(new MemoryRestoreObjects(), { parts });
    async function* body() {
      yield await Promise.resolve(new Uint8Array(limit + extra));
    }
    const upload = uploadResumable(objects, 'restores/big', body(), {
      contentType: 'application/x-tar',
      save: () => Promise.resolve(),
      stop: () => false,
    });
    if (extra === 0) {
      await expect(upload).resolves.toEqual({ done: true, bytes: limit });
      expect(completed).toBe(1);
    } else {
      const refused = upload.catch((error: unknown) => error);
      const error = await refused;
      expect(error).toBeInstanceOf(RestoreTooLargeError);
      expect((error as Error).message).toBe(
        `the restore is larger than ${limit} bytes, the most one upload of 10000 parts holds; restore a smaller file or directory`,
      );
      expect(completed).toBe(0);
    }
    expect(written.length).toBe(MAX_UPLOAD_PARTS);
    expect(written.at(-1)).toBe(MAX_UPLOAD_PARTS);
  });
});
