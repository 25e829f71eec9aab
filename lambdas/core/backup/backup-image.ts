/**
 * One whole backup in one process: plan, copy every range (bounded parallelism), commit. The state
 * machine runs the same three steps as separate Lambdas; this is the local / CLI / test path.
 */
import type { ImageStore } from '../image/image-store.ts';
import type { ChunkQuarantine } from '../lifecycle/chunk-quarantine.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import type { ImageRecord, ImageRecordStore } from '../image/image-records.ts';
import type { RequestPacer } from './block-reading.ts';
import { commitImage } from './commit.ts';
import { DEFAULT_RANGE_WORKERS, planImage, quarantineForVolume } from './plan.ts';
import type { RangeSummary, RangeWorkerConfig } from './range-worker.ts';
import { copyRange } from './range-worker.ts';
import type { SnapshotBlockReader } from './snapshot-ports.ts';

export interface BackupDeps {
  readonly ebs: SnapshotBlockReader;
  readonly images: ImageStore;
  readonly records: ImageRecordStore;
  /** Shared by all ranges of this backup: the per-snapshot read budget. */
  readonly readPacer: RequestPacer;
  readonly listPacer: RequestPacer;
  /** The scrub's chunk quarantine: volumes with a quarantined chunk are read in full and it is written again. */
  readonly quarantine?: ChunkQuarantine;
}

export interface BackupRequest {
  readonly volumeId: string;
  readonly imageId: string;
  readonly snapshotId: string;
  readonly volumeSizeGib: number;
  readonly createdAt: string;
  /** The parent image; `snapshotAvailable: false` when its snapshot is known to be gone. */
  readonly parent?: { readonly imageId: string; readonly snapshotAvailable?: boolean };
  readonly rangeSegments?: number;
  readonly rangeWorkers?: number;
  readonly worker?: RangeWorkerConfig;
}

export interface BackupResult {
  readonly manifest: ImageManifest;
  readonly record: ImageRecord;
  readonly summaries: readonly RangeSummary[];
}

export async function runBackup(deps: BackupDeps, request: BackupRequest): Promise<BackupResult> {
  let parentManifest: ImageManifest | undefined;
  if (request.parent !== undefined) {
    const record = await deps.records.getImageRecord(request.volumeId, request.parent.imageId);
    parentManifest = await deps.images.getManifest(
      request.volumeId,
      request.parent.imageId,
      record.manifestSha256,
    );
  }
  const quarantine =
    deps.quarantine === undefined
      ? undefined
      : await quarantineForVolume(deps.quarantine, request.volumeId, parentManifest);
  const plan = planImage({
    ...(quarantine === undefined ? {} : { quarantine }),
    volumeId: request.volumeId,
    imageId: request.imageId,
    snapshotId: request.snapshotId,
    volumeSizeGib: request.volumeSizeGib,
    ...(parentManifest === undefined
      ? {}
      : {
          parent: { manifest: parentManifest, snapshotAvailable: request.parent?.snapshotAvailable ?? true },
        }),
    ...(request.rangeSegments === undefined ? {} : { rangeSegments: request.rangeSegments }),
  });
  const summaries = await mapWithConcurrency(
    plan.items,
    request.rangeWorkers ?? DEFAULT_RANGE_WORKERS,
    (item) =>
      copyRange(item, deps, {
        ...request.worker,
        ...(parentManifest === undefined ? {} : { parentManifest }),
      }),
  );
  const first = plan.items[0]!;
  const committed = await commitImage(deps, {
    volumeId: request.volumeId,
    imageId: request.imageId,
    snapshotId: request.snapshotId,
    ...(first.parentImageId === undefined ? {} : { parentImageId: first.parentImageId }),
    ...(first.parentSnapshotId === undefined ? {} : { parentSnapshotId: first.parentSnapshotId }),
    createdAt: request.createdAt,
    ...(plan.fullReadReason === undefined ? {} : { fullReadReason: plan.fullReadReason }),
    summaries,
  });
  return { ...committed, summaries };
}
