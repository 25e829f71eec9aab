/**
 * Progress of a running backup, from what its Copy Ranges step leaves in the work bucket
 * (core/backup/work-area.ts): Plan Backup writes the volume's ranges (`items.json`) before the
 * Distributed Map starts, and every range worker writes its summary (`ranges/<firstBlock>.json`)
 * when its range is copied. A progress read costs, per volume, one GET of the item list, one LIST
 * per 1,000 ranges done and at most MAX_RANGE_SUMMARIES_READ GETs of summaries in all: bounded
 * whatever the size of the volume. With more ranges done than that, the copied figures are
 * extrapolated from an evenly spaced sample (and `exact` is false).
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { getJson, itemsKey, rangeSummaryKey, rangeSummaryPrefix } from '../backup/work-area.ts';

/** Summaries read per progress answer, all volumes together: a status poll stays a few requests. */
export const MAX_RANGE_SUMMARIES_READ = 64;
/** Volumes of a server backup whose progress is read: far more than a server has disks. */
export const MAX_PROGRESS_VOLUMES = 32;

export interface BackupProgress {
  /** Ranges (Distributed Map items) copied, of all the planned volumes. */
  readonly rangesDone: number;
  readonly rangesTotal: number;
  /** Volumes whose ranges are planned, of the backup's volumes. */
  readonly volumesPlanned: number;
  readonly volumes: number;
  /** EBS blocks of the volumes' address space inside the ranges done, of all ranges. */
  readonly blocksScanned: number;
  readonly blocksTotal: number;
  /** Snapshot blocks read (GetSnapshotBlock with verified data) in the ranges done. */
  readonly blocksCopied: number;
  /** blocksCopied × the EBS block size (512 KiB). */
  readonly bytesCopied: number;
  /** Bytes of new chunk objects written (compressed) in the ranges done. */
  readonly bytesStored: number;
  /** Seconds since the copy began (the step's start, else the backup's). */
  readonly elapsedSeconds: number;
  /** bytesCopied / elapsedSeconds. */
  readonly throughputBytesPerSecond: number;
  /** Seconds left at the rate the ranges were done so far; absent until a range is done. */
  readonly etaSeconds?: number;
  /** False when the copied figures are extrapolated from a sample of the summaries. */
  readonly exact: boolean;
}

/** The rate and the time left of a job done in units (blocks, segments), from what it did so far. */
export interface Estimate {
  readonly unitsPerSecond: number;
  /** Absent when nothing is done yet (no rate to go by) or no time has passed. */
  readonly etaSeconds?: number;
}

/**
 * Time left at the average rate so far: (total − done) × elapsed / done, rounded up to a whole
 * second; 0 when everything is done; absent when nothing is done or no time has passed.
 */
export function estimate(done: number, total: number, elapsedSeconds: number): Estimate {
  const safeDone = Math.max(0, Math.min(done, total));
  if (safeDone >= total && total > 0) {
    return { unitsPerSecond: elapsedSeconds > 0 ? safeDone / elapsedSeconds : 0, etaSeconds: 0 };
  }
  if (safeDone === 0 || !(elapsedSeconds > 0)) return { unitsPerSecond: 0 };
  const unitsPerSecond = safeDone / elapsedSeconds;
  return { unitsPerSecond, etaSeconds: Math.ceil(((total - safeDone) * elapsedSeconds) / safeDone) };
}

/** `count` indexes in [0, length), evenly spaced, first and last included (all when length ≤ count). */
export function evenSample(length: number, count: number): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  if (count <= 1) return count === 1 ? [length - 1] : [];
  return Array.from({ length: count }, (_, i) => Math.round((i * (length - 1)) / (count - 1)));
}

const rangeItemsSchema = z.array(
  z.object({ firstBlock: z.number().int().min(0), endBlock: z.number().int().min(1) }).loose(),
);
const summarySchema = z
  .object({
    firstBlock: z.number().int(),
    endBlock: z.number().int(),
    stats: z.object({ blocksRead: z.number(), bytesCreated: z.number() }).loose(),
  })
  .loose();

interface VolumeRanges {
  readonly volumeId: string;
  readonly ranges: readonly { firstBlock: number; endBlock: number }[];
  /** Keys of the summaries present, in block order. */
  readonly done: readonly string[];
}

async function rangesOf(
  work: ObjectStore,
  backupId: string,
  volumeId: string,
): Promise<VolumeRanges | undefined> {
  let items: unknown;
  try {
    items = await getJson(work, itemsKey(backupId, volumeId));
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const parsed = rangeItemsSchema.safeParse(items);
  if (!parsed.success) return undefined;
  const planned = new Set(parsed.data.map((r) => rangeSummaryKey(backupId, volumeId, r.firstBlock)));
  const done = (await work.list(rangeSummaryPrefix(backupId, volumeId))).filter((key) => planned.has(key));
  return { volumeId, ranges: parsed.data, done };
}

/** Reads the progress of a backup's copy from the work bucket (see the module comment for its cost). */
export async function readBackupProgress(
  work: ObjectStore,
  request: {
    readonly backupId: string;
    readonly volumeIds: readonly string[];
    readonly elapsedSeconds: number;
  },
): Promise<BackupProgress | undefined> {
  const volumeIds = request.volumeIds.slice(0, MAX_PROGRESS_VOLUMES);
  const planned = (
    await Promise.all(volumeIds.map((volumeId) => rangesOf(work, request.backupId, volumeId)))
  ).filter((v): v is VolumeRanges => v !== undefined);
  if (planned.length === 0) return undefined;

  let rangesTotal = 0;
  let blocksTotal = 0;
  let blocksScanned = 0;
  const doneKeys: { key: string; blocks: number }[] = [];
  for (const volume of planned) {
    rangesTotal += volume.ranges.length;
    const blocksOf = new Map<string, number>();
    for (const range of volume.ranges) {
      const blocks = range.endBlock - range.firstBlock;
      blocksTotal += blocks;
      blocksOf.set(rangeSummaryKey(request.backupId, volume.volumeId, range.firstBlock), blocks);
    }
    for (const key of volume.done) {
      const blocks = blocksOf.get(key) ?? 0;
      blocksScanned += blocks;
      doneKeys.push({ key, blocks });
    }
  }

  const sample = evenSample(doneKeys.length, MAX_RANGE_SUMMARIES_READ).map((i) => doneKeys[i]!);
  const summaries = await Promise.all(
    sample.map(async ({ key, blocks }) => ({
      blocks,
      summary: summarySchema.parse(await getJson(work, key)),
    })),
  );
  const sampledBlocks = summaries.reduce((sum, s) => sum + s.blocks, 0);
  const exact = sample.length === doneKeys.length;
  const scale = exact || sampledBlocks === 0 ? 1 : blocksScanned / sampledBlocks;
  const blocksCopied = Math.round(summaries.reduce((sum, s) => sum + s.summary.stats.blocksRead, 0) * scale);
  const bytesStored = Math.round(summaries.reduce((sum, s) => sum + s.summary.stats.bytesCreated, 0) * scale);
  const bytesCopied = blocksCopied * EBS_BLOCK_SIZE_BYTES;
  const elapsedSeconds = Math.max(0, request.elapsedSeconds);
  const eta = estimate(blocksScanned, blocksTotal, elapsedSeconds);
  return {
    rangesDone: doneKeys.length,
    rangesTotal,
    volumesPlanned: planned.length,
    volumes: request.volumeIds.length,
    blocksScanned,
    blocksTotal,
    blocksCopied,
    bytesCopied,
    bytesStored,
    elapsedSeconds: Math.round(elapsedSeconds),
    throughputBytesPerSecond: elapsedSeconds > 0 ? Math.round(bytesCopied / elapsedSeconds) : 0,
    // Volumes not planned yet add time the figures cannot know: no ETA until every one is planned.
    ...(eta.etaSeconds === undefined || planned.length < request.volumeIds.length
      ? {}
      : { etaSeconds: eta.etaSeconds }),
    exact,
  };
}

/** Progress of a running volume restore (the volume-restore state machine's records). */
export interface VolumeRestoreProgress {
  /** Segments (1 GiB of the volume each) written, of the image's segments to restore. */
  readonly segmentsDone: number;
  readonly segmentsTotal: number;
  /** segmentsDone × the segment's bytes: how much of the volume's address space is written. */
  readonly bytesScanned: number;
  readonly bytesTotal: number;
  /** Seconds since the snapshot was started. */
  readonly elapsedSeconds: number;
  readonly throughputBytesPerSecond: number;
  readonly etaSeconds?: number;
}

const restoreItemsSchema = z.array(
  z.object({ firstSegment: z.number().int().min(0), segmentCount: z.number().int().min(1) }).loose(),
);

/**
 * Reads a volume restore's progress: one GET of its ranges (`items.json`) and one LIST per 1,000
 * of its segment records (one per segment written, core/restore/volume-restore-steps.ts).
 * Undefined until the ranges are planned.
 */
export async function readVolumeRestoreProgress(
  work: ObjectStore,
  request: {
    readonly itemsKey: string;
    readonly segmentsPrefix: string;
    readonly segmentBytes: number;
    readonly elapsedSeconds: number;
  },
): Promise<VolumeRestoreProgress | undefined> {
  let items: unknown;
  try {
    items = await getJson(work, request.itemsKey);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const parsed = restoreItemsSchema.safeParse(items);
  if (!parsed.success) return undefined;
  const segmentsTotal = parsed.data.reduce((sum, item) => sum + item.segmentCount, 0);
  const segmentsDone = Math.min(segmentsTotal, (await work.list(request.segmentsPrefix)).length);
  const elapsedSeconds = Math.max(0, request.elapsedSeconds);
  const eta = estimate(segmentsDone, segmentsTotal, elapsedSeconds);
  const bytesScanned = segmentsDone * request.segmentBytes;
  return {
    segmentsDone,
    segmentsTotal,
    bytesScanned,
    bytesTotal: segmentsTotal * request.segmentBytes,
    elapsedSeconds: Math.round(elapsedSeconds),
    throughputBytesPerSecond: elapsedSeconds > 0 ? Math.round(bytesScanned / elapsedSeconds) : 0,
    ...(eta.etaSeconds === undefined ? {} : { etaSeconds: eta.etaSeconds }),
  };
}
