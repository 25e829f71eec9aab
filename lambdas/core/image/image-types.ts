/**
 * Types and geometry of the image format, shared by every format version. The byte layouts live
 * in format-v<N>.ts; readers dispatch on the version through image-format.ts.
 */
import { CHUNK_SIZE_BYTES, EBS_BLOCKS_PER_CHUNK, EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';

/** Chunks per segment table: 1,024 × 1 MiB = 1 GiB, so a 64 TiB volume has 65,536 segments. */
export const SEGMENT_CHUNKS = 1024;
/** EBS blocks covered by one segment (2,048). Work ranges are whole segments. */
export const SEGMENT_BLOCKS = SEGMENT_CHUNKS * EBS_BLOCKS_PER_CHUNK;
export const SEGMENT_SIZE_BYTES = SEGMENT_CHUNKS * CHUNK_SIZE_BYTES;

export type ImageKind = 'full' | 'incremental';

/** Figures about one image, summed over its ranges. */
export interface ImageStats {
  /** Blocks the list calls returned inside the image's ranges (listed or changed). */
  readonly blocksListed: number;
  /** GetSnapshotBlock calls that returned verified data. */
  readonly blocksRead: number;
  /** ListChangedBlocks entries without SecondBlockToken: now zeros. */
  readonly blocksVanished: number;
  /** Chunk objects written by this image (not stored before). */
  readonly chunksCreated: number;
  /** Chunk writes answered "already stored" (content shared with other images or volumes). */
  readonly chunksAlreadyStored: number;
  /** Chunks whose name equals the parent's entry at the same place: not written at all. */
  readonly chunksReusedFromParent: number;
  /** Bytes of the chunk objects this image created (compressed, with headers). */
  readonly bytesCreated: number;
  /** Segment objects written (not stored before). */
  readonly segmentsCreated: number;
  /** Segments taken unchanged from the parent by hash. */
  readonly segmentsReused: number;
}

export const EMPTY_IMAGE_STATS: ImageStats = {
  blocksListed: 0,
  blocksRead: 0,
  blocksVanished: 0,
  chunksCreated: 0,
  chunksAlreadyStored: 0,
  chunksReusedFromParent: 0,
  bytesCreated: 0,
  segmentsCreated: 0,
  segmentsReused: 0,
};

export function addStats(a: ImageStats, b: ImageStats): ImageStats {
  const sum: Record<string, number> = {};
  for (const key of Object.keys(EMPTY_IMAGE_STATS) as (keyof ImageStats)[]) sum[key] = a[key] + b[key];
  return sum as unknown as ImageStats;
}

/**
 * The manifest as every reader sees it, whatever version wrote it: a complete map of the volume.
 * `segments[i]` is the hex hash of the segment table for chunks [i*1024, (i+1)*1024), or 64 hex
 * zeros for a segment whose chunks are all zeros.
 */
export interface ImageManifest {
  readonly formatVersion: number;
  readonly volumeId: string;
  readonly imageId: string;
  readonly createdAt: string;
  readonly kind: ImageKind;
  readonly snapshotId: string;
  readonly parentImageId?: string;
  readonly parentSnapshotId?: string;
  /** Why an incremental was read in full, when it was (e.g. UNRELATED_SNAPSHOTS). */
  readonly fullReadReason?: string;
  readonly volumeSizeBytes: number;
  readonly blockSizeBytes: number;
  readonly chunkSizeBytes: number;
  readonly segmentChunks: number;
  readonly segments: readonly string[];
  readonly stats: ImageStats;
}

export function chunkCount(volumeSizeBytes: number): number {
  return Math.ceil(volumeSizeBytes / CHUNK_SIZE_BYTES);
}

export function blockCount(volumeSizeBytes: number): number {
  return Math.ceil(volumeSizeBytes / EBS_BLOCK_SIZE_BYTES);
}

export function segmentCount(volumeSizeBytes: number): number {
  return Math.ceil(chunkCount(volumeSizeBytes) / SEGMENT_CHUNKS);
}

/** Entries in segment `segmentIndex` (the last one may be short on volumes that are not whole GiB). */
export function segmentEntryCount(volumeSizeBytes: number, segmentIndex: number): number {
  return Math.min(SEGMENT_CHUNKS, chunkCount(volumeSizeBytes) - segmentIndex * SEGMENT_CHUNKS);
}

export const CHUNK_KEY_PREFIX = 'chunks/';
export const SEGMENT_KEY_PREFIX = 'segments/';
export const MANIFEST_KEY_PREFIX = 'images/';

export function chunkKey(name: string): string {
  return `${CHUNK_KEY_PREFIX}${name}`;
}

export function segmentKey(hash: string): string {
  return `${SEGMENT_KEY_PREFIX}${hash}`;
}

export function manifestKey(volumeId: string, imageId: string): string {
  return `${MANIFEST_KEY_PREFIX}${volumeId}/${imageId}.json`;
}
