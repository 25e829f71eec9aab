/**
 * The manifest read as a stream (lambdas/core/restore/volume-restore-manifest.ts) against the
 * whole-object reader (decodeManifest): for any version 1 manifest, written as the format writes it
 * or with other JSON whitespace, and cut into pieces anywhere, the stream hands out exactly the
 * segment list and the header; any changed byte, or a digest that is not the object's, ends the
 * stream with an IntegrityError before it answers that the list is complete.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../lambdas/core/errors.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { encodeManifestV1 } from '../../lambdas/core/image/format-v1.ts';
import { decodeManifest } from '../../lambdas/core/image/image-format.ts';
import { sha256Hex, ZERO_HASH_HEX } from '../../lambdas/core/image/hashing.ts';
import { EMPTY_IMAGE_STATS, type ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { openManifestStream } from '../../lambdas/core/restore/volume-restore-manifest.ts';

const VOLUME_ID = 'vol-0123456789abcdef0';
const IMAGE_ID = 'img-stream';

const hash = fc.oneof(
  fc.constant(ZERO_HASH_HEX),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
);

const manifests: fc.Arbitrary<ImageManifest> = fc
  .record({
    gib: fc.integer({ min: 1, max: 40 }),
    hashes: fc.array(hash, { minLength: 40, maxLength: 40 }),
    incremental: fc.boolean(),
    reason: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
  })
  .map(({ gib, hashes, incremental, reason }) => ({
    formatVersion: 1,
    volumeId: VOLUME_ID,
    imageId: IMAGE_ID,
    createdAt: '2026-12-04T00:00:00.000Z',
    kind: incremental ? ('incremental' as const) : ('full' as const),
    snapshotId: 'snap-0123456789abcdef0',
    ...(incremental ? { parentImageId: 'img-parent', parentSnapshotId: 'snap-0000000000000000b' } : {}),
    ...(reason === undefined ? {} : { fullReadReason: reason }),
    volumeSizeBytes: gib * GIB_BYTES,
    blockSizeBytes: 524_288,
    chunkSizeBytes: 1_048_576,
    segmentChunks: 1024,
    segments: hashes.slice(0, gib),
    stats: EMPTY_IMAGE_STATS,
  }));

/** The manifest's bytes: as the writer writes them, or the same document with other whitespace. */
function layouts(manifest: ImageManifest): Uint8Array[] {
  const written = encodeManifestV1(manifest);
  const document = JSON.parse(Buffer.from(written).toString('utf8')) as unknown;
  return [written, Buffer.from(JSON.stringify(document)), Buffer.from(JSON.stringify(document, null, '\t'))];
}

/** `bytes` cut at the given offsets. */
async function* cut(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const at of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    yield await Promise.resolve(bytes.subarray(from, at));
    from = at;
  }
  yield bytes.subarray(from);
}

async function readAll(bytes: Uint8Array, cuts: readonly number[], sha256 = sha256Hex(bytes)) {
  const stream = await openManifestStream(
    { key: 'images/m.json', sha256Hex: sha256, pieces: cut(bytes, cuts) },
    { volumeId: VOLUME_ID, imageId: IMAGE_ID },
  );
  const segments: string[] = [];
  for (let next = await stream.next(); next !== undefined; next = await stream.next()) segments.push(next);
  return { header: stream.header, segmentCount: stream.segmentCount, segments };
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('manifest stream', () => {
  it('hands out exactly the segment list and header of any manifest, however it is laid out and cut', async () => {
    await fc.assert(
      fc.asyncProperty(manifests, cuts, async (manifest, at) => {
        for (const bytes of layouts(manifest)) {
          const whole = decodeManifest(bytes, 'm');
          const read = await readAll(bytes, at);
          expect(read.segments).toEqual(whole.segments);
          expect(read.segmentCount).toBe(whole.segments.length);
          expect(read.header).toEqual({
            formatVersion: 1,
            volumeId: VOLUME_ID,
            imageId: IMAGE_ID,
            volumeSizeBytes: whole.volumeSizeBytes,
          });
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses any changed byte or a digest that is not the object’s', async () => {
    await fc.assert(
      fc.asyncProperty(
        manifests,
        cuts,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (manifest, at, where, xor) => {
          const bytes = Buffer.from(encodeManifestV1(manifest));
          const expected = sha256Hex(bytes);
          const changed = Buffer.from(bytes);
          const flipped = where % changed.length;
          changed[flipped] = changed[flipped]! ^ xor;
          await expect(readAll(changed, at, expected)).rejects.toBeInstanceOf(IntegrityError);
          await expect(readAll(bytes, at, sha256Hex(changed))).rejects.toThrow(
            'manifest images/m.json does not match the digest in its image record',
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses a manifest that lists its segments before its volume size, a version it cannot read, and another image’s', async () => {
    const manifest = { ...fc.sample(manifests, { numRuns: 1, seed: 1 })[0]!, volumeSizeBytes: 2 * GIB_BYTES };
    const document = JSON.parse(
      Buffer.from(encodeManifestV1({ ...manifest, segments: manifest.segments.slice(0, 2) })).toString(
        'utf8',
      ),
    ) as Record<string, unknown>;
    const { segments, ...rest } = document;
    const segmentsFirst = Buffer.from(JSON.stringify({ segments, ...rest }));
    await expect(readAll(segmentsFirst, [])).rejects.toThrow(
      'manifest images/m.json does not give its formatVersion, volumeId, imageId and volumeSizeBytes before its segment list',
    );
    const v2 = Buffer.from(JSON.stringify({ ...document, formatVersion: 2 }));
    await expect(readAll(v2, [7])).rejects.toThrow('image format version 2 is not supported by this reader');
    // The same byte changed in transit (the digest is the version 1 object's): damage, retried.
    await expect(readAll(v2, [7], sha256Hex(Buffer.from(JSON.stringify(document))))).rejects.toThrow(
      'manifest images/m.json does not match the digest in its image record',
    );
    const other = Buffer.from(JSON.stringify({ ...document, imageId: 'img-other' }));
    await expect(readAll(other, [])).rejects.toThrow(
      'manifest images/m.json describes vol-0123456789abcdef0/img-other',
    );
  });
});
