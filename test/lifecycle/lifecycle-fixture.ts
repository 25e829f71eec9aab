/**
 * A small world for lifecycle tests: images written through the real ImageStore (chunk, segment and
 * manifest encoding of docs/image-format.md) into the in-memory bucket, records with a lifecycle
 * status, the collection fence, and a byte-for-byte reader that goes through the ImageStore too.
 */
import { createHash } from 'node:crypto';
import { CHUNK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { DIGEST_BYTES, sha256Hex } from '../../lambdas/core/image/hashing.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import {
  EMPTY_IMAGE_STATS,
  SEGMENT_CHUNKS,
  chunkKey,
  manifestKey,
  segmentEntryCount,
  segmentKey,
} from '../../lambdas/core/image/image-types.ts';
import type { ObjectLockConfig } from '../../lambdas/core/lifecycle/object-lock.ts';
import { retainUntilForNewObject } from '../../lambdas/core/lifecycle/object-lock.ts';
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import { fastRetry, specChunkName } from '../engine/engine-fixture.ts';
import {
  ManualClock,
  MemoryBucket,
  MemoryCheckpoints,
  MemoryGcCoordination,
  MemoryLifecycleRecords,
} from '../fakes/memory-lifecycle.ts';

/** 2 GiB: two segments, so images have more than one segment table. */
export const VOLUME_BYTES = 2 * GIB_BYTES;
/** Where test images have data: both ends of both segments. */
export const DATA_POSITIONS = [0, 1, 2, SEGMENT_CHUNKS - 1, SEGMENT_CHUNKS, 2 * SEGMENT_CHUNKS - 1] as const;
export const T0 = Date.UTC(2026, 10, 1);

export interface World {
  readonly clock: ManualClock;
  readonly bucket: MemoryBucket;
  /** The collector's scratch bucket (no Object Lock). */
  readonly scratch: MemoryBucket;
  readonly records: MemoryLifecycleRecords;
  readonly coordination: MemoryGcCoordination;
  readonly checkpoints: MemoryCheckpoints;
  readonly images: ImageStore;
  readonly objectLock?: ObjectLockConfig;
}

/** What deleteImage needs from the world; with `recoveryPoints`, it also detaches the images from their points. */
export function imageDeletionDeps(
  world: World,
  recoveryPoints?: ImageDeletionDeps['recoveryPoints'],
): ImageDeletionDeps {
  return {
    objects: world.bucket,
    records: world.records,
    clock: world.clock,
    ...(recoveryPoints === undefined ? {} : { recoveryPoints }),
  };
}

export function newWorld(objectLock?: ObjectLockConfig): World {
  const clock = new ManualClock(T0);
  const bucket = new MemoryBucket(
    clock,
    objectLock === undefined ? undefined : (now) => retainUntilForNewObject(now, objectLock),
  );
  return {
    clock,
    bucket,
    scratch: new MemoryBucket(clock),
    records: new MemoryLifecycleRecords(),
    coordination: new MemoryGcCoordination(),
    checkpoints: new MemoryCheckpoints(),
    images: new ImageStore(bucket, { retry: fastRetry() }),
    ...(objectLock === undefined ? {} : { objectLock }),
  };
}

/** An independent copy of a world's bucket, records and fence (the same clock time). */
export function cloneWorld(world: World): World {
  const copy = newWorld(world.objectLock);
  copy.clock.time = world.clock.time;
  for (const [key, object] of world.bucket.objects) copy.bucket.objects.set(key, { ...object });
  for (const [key, object] of world.scratch.objects) copy.scratch.objects.set(key, { ...object });
  for (const image of world.records.images.values()) copy.records.put(image);
  copy.coordination.fence = { ...world.coordination.fence };
  return copy;
}

const pool = new Map<number, Buffer>();

/** Deterministic 1 MiB chunk content number `n`: half text-like (compressible), half noise. */
export function poolChunk(n: number): Buffer {
  let chunk = pool.get(n);
  if (chunk === undefined) {
    chunk = Buffer.alloc(CHUNK_SIZE_BYTES);
    let block = createHash('sha256').update(`chunk-${n}`).digest();
    for (let offset = 0; offset < CHUNK_SIZE_BYTES / 2; offset += 32) {
      block = createHash('sha256').update(block).digest();
      block.copy(chunk, offset);
    }
    chunk.fill(`line ${n} of a very compressible text file\n`, CHUNK_SIZE_BYTES / 2);
    pool.set(n, chunk);
  }
  return chunk;
}

/** Content of a test volume: chunk index → pool chunk number; other chunks are zeros. */
export type VolumeContent = ReadonlyMap<number, number>;

/** The encoded segment tables of a volume's content. */
export function segmentTables(content: VolumeContent): Buffer[] {
  const count = Math.ceil(VOLUME_BYTES / CHUNK_SIZE_BYTES / SEGMENT_CHUNKS);
  const tables: Buffer[] = [];
  for (let s = 0; s < count; s += 1) {
    const table = Buffer.alloc(segmentEntryCount(VOLUME_BYTES, s) * DIGEST_BYTES);
    for (const [index, n] of content) {
      if (Math.floor(index / SEGMENT_CHUNKS) !== s) continue;
      table.write(specChunkName(poolChunk(n)), (index % SEGMENT_CHUNKS) * DIGEST_BYTES, 'hex');
    }
    tables.push(table);
  }
  return tables;
}

export function manifestOf(
  volumeId: string,
  imageId: string,
  createdAt: string,
  segments: string[],
): ImageManifest {
  return {
    formatVersion: 1,
    volumeId,
    imageId,
    createdAt,
    kind: 'full',
    snapshotId: `snap-${imageId}`,
    volumeSizeBytes: VOLUME_BYTES,
    blockSizeBytes: 524_288,
    chunkSizeBytes: CHUNK_SIZE_BYTES,
    segmentChunks: SEGMENT_CHUNKS,
    segments,
    stats: EMPTY_IMAGE_STATS,
  };
}

/** Every object key an image with this content references (chunks, segments, its manifest). */
export function referencedKeys(volumeId: string, imageId: string, content: VolumeContent): Set<string> {
  const keys = new Set<string>([manifestKey(volumeId, imageId)]);
  for (const n of content.values()) keys.add(chunkKey(specChunkName(poolChunk(n))));
  for (const table of segmentTables(content)) {
    if (table.some((b) => b !== 0)) keys.add(segmentKey(sha256Hex(table)));
  }
  return keys;
}

/** Writes a whole image in one go (chunks, segments, manifest, record). */
export async function writeImage(
  world: World,
  volumeId: string,
  imageId: string,
  content: VolumeContent,
  extra: Partial<LifecycleImage> = {},
): Promise<LifecycleImage> {
  for (const n of content.values()) await world.images.putChunk(specChunkName(poolChunk(n)), poolChunk(n));
  const segments: string[] = [];
  for (const table of segmentTables(content)) segments.push((await world.images.putSegment(table)).hash);
  const createdAt = world.clock.now().toISOString();
  const stored = await world.images.putManifest(manifestOf(volumeId, imageId, createdAt, segments));
  const record = recordOf(world, volumeId, imageId, createdAt, stored.sha256, extra);
  world.records.put(record);
  return record;
}

export function recordOf(
  world: World,
  volumeId: string,
  imageId: string,
  createdAt: string,
  manifestSha256: string,
  extra: Partial<LifecycleImage> = {},
): LifecycleImage {
  return {
    volumeId,
    imageId,
    createdAt,
    manifestKey: manifestKey(volumeId, imageId),
    manifestSha256,
    volumeSizeBytes: VOLUME_BYTES,
    status: 'live',
    ...(world.objectLock === undefined
      ? {}
      : { lockedUntil: retainUntilForNewObject(new Date(createdAt), world.objectLock).toISOString() }),
    ...extra,
  };
}

/**
 * Restores an image through the ImageStore (verified manifest, segments and chunks) and compares
 * every data position and every other chunk's zero entry with the expected content.
 */
export async function expectRestores(
  world: World,
  image: LifecycleImage,
  content: VolumeContent,
): Promise<void> {
  const manifest = await world.images.getManifest(image.volumeId, image.imageId, image.manifestSha256);
  for (let s = 0; s < manifest.segments.length; s += 1) {
    const table = await world.images.getSegment(manifest.segments[s]!, segmentEntryCount(VOLUME_BYTES, s));
    for (let i = 0; i < table.length / DIGEST_BYTES; i += 1) {
      const index = s * SEGMENT_CHUNKS + i;
      const entry = table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
      const expected = content.get(index);
      if (expected === undefined) {
        if (!entry.every((b) => b === 0)) throw new Error(`${image.imageId}: chunk ${index} should be zeros`);
        continue;
      }
      const chunk = await world.images.getChunk(entry.toString('hex'));
      if (!chunk.data.equals(poolChunk(expected)))
        throw new Error(`${image.imageId}: chunk ${index} differs`);
    }
  }
}
