/**
 * Planning an image: full or incremental, and the list of range items for the Distributed Map.
 */
import { ValidationError } from '../errors.ts';
import { GIB_BYTES, MAX_VOLUME_SIZE_GIB } from '../geometry.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { SEGMENT_BLOCKS, blockCount } from '../image/image-types.ts';
import type { RangeWorkItem } from './range-worker.ts';

/** Segments per range: 4 GiB = 8,192 blocks, one list page, ~16 s of reads at 500 blocks/s. */
export const DEFAULT_RANGE_SEGMENTS = 4;

/**
 * GetSnapshotBlock requests per second for one snapshot, all workers together: half the
 * 1,000/s per-snapshot limit, which is also the adjustable per-account default: other tools in
 * the account share it (https://docs.aws.amazon.com/general/latest/gr/ebs-service.html).
 */
export const SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND = 500;

/** Range workers of one snapshot running at once (the Distributed Map MaxConcurrency). */
export const DEFAULT_RANGE_WORKERS = 8;

/** List calls per second for one worker: 8 workers stay at 40/s, under the 50/s account quota. */
export const WORKER_LIST_REQUESTS_PER_SECOND = 5;

/**
 * Burst of a range worker's read pacer in seconds of its rate: eight workers' bursts together
 * (0.05 s of the per-snapshot budget) stay well under the slack of the snapshot's own limit, so a
 * budget at the limit is not throttled at the start of every range.
 */
export const READ_BURST_SECONDS = 0.05;

/** Each worker's share of the per-snapshot read budget. */
export function workerReadRate(
  budgetPerSnapshot: number = SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND,
  concurrentWorkers: number = DEFAULT_RANGE_WORKERS,
): number {
  return budgetPerSnapshot / Math.max(1, concurrentWorkers);
}

export interface PlanRequest {
  readonly volumeId: string;
  readonly imageId: string;
  readonly snapshotId: string;
  readonly volumeSizeGib: number;
  /** The latest committed image of the volume and whether its snapshot still exists. */
  readonly parent?: { readonly manifest: ImageManifest; readonly snapshotAvailable: boolean };
  readonly rangeSegments?: number;
}

export interface ImagePlan {
  readonly kind: 'full' | 'incremental';
  /** Why a parent image exists but the image is read in full. */
  readonly fullReadReason?: string;
  readonly items: readonly RangeWorkItem[];
}

export function planImage(request: PlanRequest): ImagePlan {
  const { volumeSizeGib } = request;
  if (!Number.isInteger(volumeSizeGib) || volumeSizeGib < 1 || volumeSizeGib > MAX_VOLUME_SIZE_GIB) {
    throw new ValidationError(`volume size ${volumeSizeGib} GiB is outside 1..${MAX_VOLUME_SIZE_GIB}`, {
      context: { volumeId: request.volumeId },
    });
  }
  const rangeBlocks = (request.rangeSegments ?? DEFAULT_RANGE_SEGMENTS) * SEGMENT_BLOCKS;
  const volumeBlocks = blockCount(volumeSizeGib * GIB_BYTES);
  const parent = request.parent;
  let fullReadReason: string | undefined;
  if (parent !== undefined) {
    if (!parent.snapshotAvailable) fullReadReason = 'PARENT_SNAPSHOT_NOT_FOUND';
    else if (parent.manifest.volumeSizeBytes !== volumeSizeGib * GIB_BYTES)
      fullReadReason = 'VOLUME_SIZE_CHANGED';
  }
  const incremental = parent !== undefined && fullReadReason === undefined;
  const items: RangeWorkItem[] = [];
  for (let firstBlock = 0; firstBlock < volumeBlocks; firstBlock += rangeBlocks) {
    items.push({
      volumeId: request.volumeId,
      imageId: request.imageId,
      snapshotId: request.snapshotId,
      ...(parent === undefined ? {} : { parentImageId: parent.manifest.imageId }),
      ...(incremental ? { parentSnapshotId: parent.manifest.snapshotId } : {}),
      firstBlock,
      endBlock: Math.min(volumeBlocks, firstBlock + rangeBlocks),
    });
  }
  return {
    kind: incremental ? 'incremental' : 'full',
    ...(fullReadReason === undefined ? {} : { fullReadReason }),
    items,
  };
}
