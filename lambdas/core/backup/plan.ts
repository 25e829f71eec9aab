/**
 * Planning an image: full or incremental, and the list of range items for the Distributed Map.
 */
import { ValidationError } from '../errors.ts';
import { GIB_BYTES, MAX_VOLUME_SIZE_GIB } from '../geometry.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { SEGMENT_BLOCKS, blockCount } from '../image/image-types.ts';
import type { ChunkQuarantine } from '../lifecycle/chunk-quarantine.ts';
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

/** Why a volume with a parent is read in full because the scrub quarantined one of its chunks. */
export const QUARANTINED_CHUNK = 'QUARANTINED_CHUNK';

/**
 * Reasons for which every range of an image was read in full (set by the planner, or by every
 * range alike): such an image, planned after a quarantine entry was made, holds no chunk of it
 * that it did not write again. UNRELATED_SNAPSHOTS is left out: it is a range's own fallback, and
 * the other ranges of that image may have kept their parent's entries.
 */
const WHOLE_IMAGE_FULL_READS: ReadonlySet<string> = new Set([
  QUARANTINED_CHUNK,
  'PARENT_SNAPSHOT_NOT_FOUND',
  'VOLUME_SIZE_CHANGED',
]);

/**
 * Quarantined names of other volumes a range item carries besides all of its own volume's: a name
 * is 65 bytes of the item, and every item is a Copy Range input, which Step Functions caps at
 * 256 KiB (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions),
 * so 1,000 others (65 KB) leave room. Another volume's name matters only if this volume happens to
 * hold the same data; past the cap, that volume's own backup still repairs it.
 */
export const MAX_OTHER_REPAIR_NAMES = 1000;

/** The chunk quarantine as Plan Backup applies it to one volume (chunk-quarantine.ts). */
export interface QuarantinePlan {
  /**
   * Quarantined chunk names, sorted: all that name the volume, and up to MAX_OTHER_REPAIR_NAMES
   * others. A range that yields one writes it again.
   */
  readonly names: readonly string[];
  /** An entry names the volume and its parent may reference the chunk: read the volume in full. */
  readonly readInFull: boolean;
}

/** True when `parent` was read in full after `since` (ISO-8601): it wrote every chunk it holds. */
function readInFullAfter(parent: ImageManifest, since: string): boolean {
  const whole =
    parent.kind === 'full' &&
    (parent.parentImageId === undefined ||
      (parent.fullReadReason !== undefined && WHOLE_IMAGE_FULL_READS.has(parent.fullReadReason)));
  return whole && Date.parse(parent.createdAt) > Date.parse(since);
}

/**
 * What the quarantine asks of a backup of `volumeId` whose parent is `parent`: the names to write
 * again, and whether to read the volume in full. An entry naming the volume whose parent was read
 * in full after the entry was made no longer concerns the volume (that parent, and so every
 * incremental after it, holds no bad copy): the volume is dropped from the entry, so the volume's
 * older images that still reference the chunk do not force every later backup to a full read.
 */
export async function quarantineForVolume(
  quarantine: Pick<ChunkQuarantine, 'list' | 'dropVolume'>,
  volumeId: string,
  parent: ImageManifest | undefined,
): Promise<QuarantinePlan> {
  const entries = await quarantine.list();
  let readInFull = false;
  for (const entry of entries) {
    if (!entry.volumeIds.includes(volumeId)) continue;
    if (parent !== undefined && readInFullAfter(parent, entry.foundAt))
      await quarantine.dropVolume(entry.name, volumeId);
    else readInFull = true;
  }
  const own = entries.filter((entry) => entry.volumeIds.includes(volumeId)).map((entry) => entry.name);
  const others = entries
    .filter((entry) => !entry.volumeIds.includes(volumeId))
    .map((entry) => entry.name)
    .sort()
    .slice(0, MAX_OTHER_REPAIR_NAMES);
  return { names: [...own, ...others].sort(), readInFull };
}

export interface PlanRequest {
  readonly volumeId: string;
  readonly imageId: string;
  readonly snapshotId: string;
  readonly volumeSizeGib: number;
  /** The latest committed image of the volume and whether its snapshot still exists. */
  readonly parent?: { readonly manifest: ImageManifest; readonly snapshotAvailable: boolean };
  readonly rangeSegments?: number;
  /** The chunk quarantine's part in this backup (quarantineForVolume); absent: none. */
  readonly quarantine?: QuarantinePlan;
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
    // An unchanged block is not read by an incremental, so only a full read rewrites a bad chunk.
    else if (request.quarantine?.readInFull === true) fullReadReason = QUARANTINED_CHUNK;
  }
  const repair = request.quarantine?.names ?? [];
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
      ...(repair.length === 0 ? {} : { repair: [...repair] }),
    });
  }
  return {
    kind: incremental ? 'incremental' : 'full',
    ...(fullReadReason === undefined ? {} : { fullReadReason }),
    items,
  };
}
