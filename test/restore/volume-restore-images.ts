/**
 * Test images for volume restores: writes chunks, segment tables and the manifest of a sparse
 * volume straight into an ImageStore (no backup needed), from a function that gives each non-zero
 * chunk's 1 MiB content. Chunk content is generated on demand, so a 64 GiB volume with 2 GiB of
 * data never holds more than a few chunks in memory.
 */
import { createHash } from 'node:crypto';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { chunkNameFromDigests, DIGEST_BYTES } from '../../lambdas/core/image/hashing.ts';
import type { ImageStore } from '../../lambdas/core/image/image-store.ts';
import {
  EMPTY_IMAGE_STATS,
  SEGMENT_CHUNKS,
  manifestKey,
  segmentCount,
  segmentEntryCount,
  type ImageManifest,
} from '../../lambdas/core/image/image-types.ts';
import type { ManifestPieces } from '../../lambdas/core/restore/volume-restore-manifest.ts';
import { mapWithConcurrency } from '../../lambdas/core/util/concurrency.ts';

/** Chunk uploads in flight while building an image. */
const BUILD_CHUNKS_IN_FLIGHT = 8;
/** Bytes of each piece storedManifestPieces hands out: small, so that tokens and hashes straddle pieces. */
export const TEST_MANIFEST_PIECE_BYTES = 1000;

export interface TestImageSpec {
  readonly volumeId: string;
  readonly imageId: string;
  readonly volumeSizeBytes: number;
  /** Indexes of the non-zero chunks. */
  readonly chunks: readonly number[];
  /** The 1 MiB content of a chunk (must not be all zeros). */
  content(chunkIndex: number): Buffer;
  /** Chunks already stored by an earlier image (same content): named but not uploaded again. */
  readonly stored?: (chunkIndex: number) => boolean;
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Writes the image and returns its manifest and manifest digest. */
export async function buildTestImage(
  images: ImageStore,
  spec: TestImageSpec,
): Promise<{ manifest: ImageManifest; manifestSha256: string; names: Map<number, string> }> {
  const names = new Map<number, string>();
  await mapWithConcurrency([...spec.chunks], BUILD_CHUNKS_IN_FLIGHT, async (chunkIndex) => {
    const data = spec.content(chunkIndex);
    if (data.length !== CHUNK_SIZE_BYTES) throw new Error(`chunk ${chunkIndex} is not 1 MiB`);
    const name = chunkNameFromDigests(
      sha256(data.subarray(0, EBS_BLOCK_SIZE_BYTES)),
      sha256(data.subarray(EBS_BLOCK_SIZE_BYTES)),
    );
    if (spec.stored?.(chunkIndex) !== true) await images.putChunk(name, data);
    names.set(chunkIndex, name);
  });
  const segments: string[] = [];
  for (let segment = 0; segment < segmentCount(spec.volumeSizeBytes); segment += 1) {
    const entries = Buffer.alloc(segmentEntryCount(spec.volumeSizeBytes, segment) * DIGEST_BYTES);
    for (const [chunkIndex, name] of names) {
      const at = chunkIndex - segment * SEGMENT_CHUNKS;
      if (at >= 0 && at < SEGMENT_CHUNKS) Buffer.from(name, 'hex').copy(entries, at * DIGEST_BYTES);
    }
    segments.push((await images.putSegment(entries)).hash);
  }
  const manifest: ImageManifest = {
    formatVersion: 1,
    volumeId: spec.volumeId,
    imageId: spec.imageId,
    createdAt: '2026-12-01T00:00:00.000Z',
    kind: 'full',
    snapshotId: 'snap-0000000000000000a',
    volumeSizeBytes: spec.volumeSizeBytes,
    blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    chunkSizeBytes: CHUNK_SIZE_BYTES,
    segmentChunks: SEGMENT_CHUNKS,
    segments,
    stats: EMPTY_IMAGE_STATS,
  };
  const { sha256: manifestSha256 } = await images.putManifest(manifest);
  return { manifest, manifestSha256, names };
}

/**
 * Compressible but distinct content: a 4 KiB pattern from (seed, chunk index) repeated, so images
 * of gigabytes store as kilobytes while every chunk (and every half) has its own digest.
 */
export function patternedChunk(seed: number, chunkIndex: number): Buffer {
  const unit = createHash('sha256').update(`${seed}:${chunkIndex}`).digest();
  const pattern = Buffer.alloc(4096);
  for (let i = 0; i < pattern.length; i += unit.length) unit.copy(pattern, i);
  const data = Buffer.alloc(CHUNK_SIZE_BYTES);
  for (let i = 0; i < data.length; i += pattern.length) pattern.copy(data, i);
  // Different halves: the second half gets its own marker.
  data.writeUInt32BE(chunkIndex, EBS_BLOCK_SIZE_BYTES);
  data.writeUInt32BE(seed, EBS_BLOCK_SIZE_BYTES + 4);
  return data;
}

/** `bytes` as views of `size` bytes (no copy), each after a turn of the event loop, as a body arrives. */
export async function* slices(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield await Promise.resolve(bytes.subarray(at, at + size));
}

/**
 * Plan Restore's `openManifest` over test images: the stored manifest object in pieces, with the
 * digest `digestOf` gives for the image (what its image record holds: buildTestImage's manifestSha256).
 */
export function storedManifestPieces(
  images: ImageStore,
  digestOf: (imageId: string) => string,
  pieceBytes: number = TEST_MANIFEST_PIECE_BYTES,
): (volumeId: string, imageId: string) => Promise<ManifestPieces> {
  return async (volumeId, imageId) => {
    const key = manifestKey(volumeId, imageId);
    const bytes = await images.objects.get(key);
    return { key, sha256Hex: digestOf(imageId), pieces: slices(bytes, pieceBytes) };
  };
}
