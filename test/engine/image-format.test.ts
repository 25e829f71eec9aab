/**
 * Image format: every readable version round-trips (restic's TestAllVersions), objects are
 * verified on read with exact errors, names follow the spec, and a golden chunk pins version 1's
 * bytes so a change to the writer cannot silently change the format.
 */
import { createHash, randomBytes } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntegrityError, ValidationError } from '../../lambdas/core/errors.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { CODEC_NONE, CODEC_ZSTD, encodeChunkV1 } from '../../lambdas/core/image/format-v1.ts';
import {
  ZERO_CHUNK_CONTENT_NAME,
  ZERO_HALF_DIGEST,
  chunkNameFromDigests,
  isAllZero,
  sha256,
} from '../../lambdas/core/image/hashing.ts';
import {
  READABLE_FORMAT_VERSIONS,
  WRITE_FORMAT_VERSION,
  decodeChunk,
  decodeManifest,
  decodeSegment,
  formatCodec,
} from '../../lambdas/core/image/image-format.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { EMPTY_IMAGE_STATS, type ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { fastRetry, specChunkName } from './engine-fixture.ts';

function manifestFor(segments: string[], volumeSizeBytes = 1_073_741_824): ImageManifest {
  return {
    formatVersion: 1,
    volumeId: 'vol-1',
    imageId: 'img-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    kind: 'incremental',
    snapshotId: 'snap-2',
    parentImageId: 'img-0',
    parentSnapshotId: 'snap-1',
    volumeSizeBytes,
    blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    chunkSizeBytes: CHUNK_SIZE_BYTES,
    segmentChunks: 1024,
    segments,
    stats: { ...EMPTY_IMAGE_STATS, blocksRead: 3 },
  };
}

describe('chunk names', () => {
  it('are SHA-256 over the two half digests; the zero half digest is that of 512 KiB of zeros', () => {
    expect(ZERO_HALF_DIGEST.toString('hex')).toBe(
      createHash('sha256').update(Buffer.alloc(EBS_BLOCK_SIZE_BYTES)).digest('hex'),
    );
    const data = randomBytes(CHUNK_SIZE_BYTES);
    expect(
      chunkNameFromDigests(
        sha256(data.subarray(0, EBS_BLOCK_SIZE_BYTES)),
        sha256(data.subarray(EBS_BLOCK_SIZE_BYTES)),
      ),
    ).toBe(specChunkName(data));
    expect(ZERO_CHUNK_CONTENT_NAME).toBe(specChunkName(Buffer.alloc(CHUNK_SIZE_BYTES)));
  });

  it('detects all-zero data exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * 1_048_576 }), fc.nat(), (length, at) => {
        const data = Buffer.alloc(length);
        expect(isAllZero(data)).toBe(true);
        data[at % length] = 1;
        expect(isAllZero(data)).toBe(false);
        expect(isAllZero(data.subarray(1 + (at % length)))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

describe.each(READABLE_FORMAT_VERSIONS)('format version %i', (version) => {
  const codec = formatCodec(version);

  it('round-trips chunks of any content, compressible or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('random', 'text', 'sparse'),
        fc.integer({ min: 1, max: 1000 }),
        async (kind, seed) => {
          const data =
            kind === 'random'
              ? randomBytes(CHUNK_SIZE_BYTES)
              : kind === 'text'
                ? Buffer.alloc(CHUNK_SIZE_BYTES, `line ${seed}\n`)
                : Buffer.alloc(CHUNK_SIZE_BYTES);
          if (kind === 'sparse') data[seed * 97] = seed & 0xff || 1;
          const name = specChunkName(data);
          const decoded = await decodeChunk(await codec.encodeChunk(data), name);
          expect(decoded.data.equals(data)).toBe(true);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('round-trips segment tables and manifests', async () => {
    const entries = randomBytes(1024 * 32);
    const segment = await codec.encodeSegment(entries);
    expect(segment.hash).toBe(createHash('sha256').update(entries).digest('hex'));
    expect((await decodeSegment(segment.body, segment.hash)).equals(entries)).toBe(true);
    const manifest = manifestFor([segment.hash]);
    expect(decodeManifest(codec.encodeManifest(manifest), 'k')).toEqual({
      ...manifest,
      formatVersion: version,
    });
  });

  it('reads a whole image written in this version', async () => {
    const objects = new MemoryObjectStore();
    const store = new ImageStore(objects, { retry: fastRetry(), writeFormatVersion: version });
    const data = randomBytes(CHUNK_SIZE_BYTES);
    const name = specChunkName(data);
    await store.putChunk(name, data);
    const table = Buffer.alloc(1024 * 32);
    table.write(name, 3 * 32, 'hex');
    const { hash } = await store.putSegment(table);
    await store.putManifest(manifestFor([hash]));
    const reader = new ImageReader(new ImageStore(objects), await store.getManifest('vol-1', 'img-1'));
    expect(
      Buffer.from(await reader.read(3 * CHUNK_SIZE_BYTES - 10, 20)).equals(
        Buffer.concat([Buffer.alloc(10), data.subarray(0, 10)]),
      ),
    ).toBe(true);
    expect(reader.stats).toEqual({ chunkFetches: 1, segmentFetches: 1 });
    // Zero chunks cost nothing; a cached chunk costs nothing either.
    expect(
      Buffer.from(await reader.read(0, 3 * CHUNK_SIZE_BYTES)).equals(Buffer.alloc(3 * CHUNK_SIZE_BYTES)),
    ).toBe(true);
    expect(Buffer.from(await reader.read(3 * CHUNK_SIZE_BYTES + 5, 7)).equals(data.subarray(5, 12))).toBe(
      true,
    );
    expect(reader.stats).toEqual({ chunkFetches: 1, segmentFetches: 1 });
    await expect(reader.read(reader.size - 1, 2)).rejects.toThrow(
      `read of 2 bytes at ${reader.size - 1} is outside the image (${reader.size} bytes)`,
    );
  });
});

describe('format version 1 objects', () => {
  it('match the golden bytes of the spec (header, codec choice)', async () => {
    const text = Buffer.alloc(CHUNK_SIZE_BYTES, 'abc');
    const encoded = Buffer.from(await encodeChunkV1(text));
    expect(encoded.subarray(0, 12).toString('hex')).toBe(
      `${Buffer.from('RBPC').toString('hex')}0101000000001000`,
    );
    expect(encoded[5]).toBe(CODEC_ZSTD);
    const random = randomBytes(CHUNK_SIZE_BYTES);
    const stored = Buffer.from(await encodeChunkV1(random));
    expect(stored[5]).toBe(CODEC_NONE);
    expect(stored.length).toBe(12 + CHUNK_SIZE_BYTES);
    expect(stored.subarray(12).equals(random)).toBe(true);
  });

  it('are rejected with exact reasons when damaged', async () => {
    const data = Buffer.alloc(CHUNK_SIZE_BYTES, 'xyz');
    const name = specChunkName(data);
    const good = Buffer.from(await encodeChunkV1(data));
    const badMagic = Buffer.from(good);
    badMagic.write('XXXX', 0, 'latin1');
    await expect(decodeChunk(badMagic, name)).rejects.toThrow(`chunk ${name} has no RBPC header`);
    const badCodec = Buffer.from(good);
    badCodec[5] = 9;
    await expect(decodeChunk(badCodec, name)).rejects.toThrow(`chunk ${name} uses unknown codec 9`);
    const badVersion = Buffer.from(good);
    badVersion[4] = 77;
    const versionError = await decodeChunk(badVersion, name).catch((e: unknown) => e);
    expect(versionError).toBeInstanceOf(ValidationError);
    // The error names the chunk, so a scrub or a failed restore points at the object to repair.
    expect((versionError as Error).message).toBe(
      `chunk ${name} names format version 77, which this reader does not know (corrupt, or written by a newer release)`,
    );
    const truncated = good.subarray(0, good.length - 5);
    const truncatedError = await decodeChunk(truncated, name).catch((e: unknown) => e);
    expect(truncatedError).toBeInstanceOf(IntegrityError);
    const badLength = Buffer.from(good);
    badLength.writeUInt32LE(1000, 8);
    await expect(decodeChunk(badLength, name)).rejects.toThrow(
      `chunk ${name} holds ${CHUNK_SIZE_BYTES} bytes, its header says 1000`,
    );
  });

  it('refuse a zstd frame that inflates beyond a chunk or a segment, without producing it', async () => {
    const header = (magic: string, uncompressedLength: number): Buffer => {
      const bytes = Buffer.alloc(12);
      bytes.write(magic, 0, 'latin1');
      bytes.writeUInt8(1, 4);
      bytes.writeUInt8(CODEC_ZSTD, 5);
      bytes.writeUInt32LE(uncompressedLength, 8);
      return bytes;
    };
    // 64 MiB of zeros compress to a few KiB: a small object whose decompression would not fit.
    const bomb = zstdCompressSync(Buffer.alloc(64 * CHUNK_SIZE_BYTES));
    expect(bomb.length).toBeLessThan(CHUNK_SIZE_BYTES / 64);
    const name = specChunkName(Buffer.alloc(CHUNK_SIZE_BYTES, 1));
    const chunkError = await decodeChunk(Buffer.concat([header('RBPC', CHUNK_SIZE_BYTES), bomb]), name).catch(
      (e: unknown) => e,
    );
    expect(chunkError).toBeInstanceOf(IntegrityError);
    expect((chunkError as Error).message).toBe(`chunk ${name} does not decompress`);
    const hash = '0'.repeat(64);
    const segmentError = await decodeSegment(Buffer.concat([header('RBPS', 32), bomb]), hash).catch(
      (e: unknown) => e,
    );
    expect(segmentError).toBeInstanceOf(IntegrityError);
    expect((segmentError as Error).message).toBe(`segment ${hash} does not decompress`);
  });

  it('manifests are validated: wrong segment count, unknown version, not JSON', () => {
    const codec = formatCodec(WRITE_FORMAT_VERSION);
    const bytes = codec.encodeManifest(manifestFor(['0'.repeat(64), '0'.repeat(64)], 3 * 1_073_741_824));
    const document = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    expect(() => decodeManifest(Buffer.from(JSON.stringify(document)), 'images/v/i.json')).toThrow(
      'manifest images/v/i.json lists 2 segments for a volume that has 3',
    );
    expect(() => decodeManifest(Buffer.from(JSON.stringify({ ...document, formatVersion: 2 })), 'k')).toThrow(
      'image format version 2 is not supported by this reader',
    );
    expect(() => decodeManifest(Buffer.from('{'), 'k')).toThrow('manifest k is not JSON');
    expect(() => decodeManifest(Buffer.from('{}'), 'k')).toThrow('manifest k has no formatVersion');
  });
});
