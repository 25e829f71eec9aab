/**
 * The engine's steps of the backup state machine: Plan Backup (full or incremental, the range
 * items for the Distributed Map), Copy Range (one item) and Commit Image. Their inputs and outputs
 * are the schemas of core/orchestration/step-state.ts; the work bucket's layout is work-area.ts.
 * Deterministic: a re-run or redrive writes the same items and returns the same plan (the image id
 * comes from the backup id, the image time from the snapshot's start time).
 */
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ImageRecordStore } from '../image/image-records.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { ChunkQuarantine } from '../lifecycle/chunk-quarantine.ts';
import type { ImageManifest } from '../image/image-types.ts';
import type { StepLog } from '../ports.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { SnapshotView } from '../orchestration/replica-snapshots.ts';
import { snapshotOf } from '../orchestration/replica-snapshots.ts';
import type {
  BackupPlan,
  CommitInput,
  CommittedImage,
  CopyRangeInput,
  CopyRangeOutput,
  PlanInput,
} from '../orchestration/step-state.ts';
import { passCommitGate, type CommitGateDeps, type GateParent } from '../lifecycle/commit-gate.ts';
import { commitImage } from './commit.ts';
import type { BackupSource } from '../plans/source-selection.ts';
import { planImage, quarantineForVolume, workerReadRate } from './plan.ts';
import { copyRange, type RangeSummary, type RangeWorkerDeps, type RangeWorkItem } from './range-worker.ts';
import { rangeFailureOf, recordRangeFailure, type RangeFailureRecorder } from './range-failures.ts';
import { getJson, itemsKey, putJsonOnce, rangeSummaryKey, rangeSummaryPrefix } from './work-area.ts';

/** Image ids are derived from the backup so that every retry names the same image. */
export function imageIdFor(backupId: string, volumeId: string, groupSize: number): string {
  return groupSize === 1 ? `img-${backupId}` : `img-${backupId}-${volumeId}`;
}

/** The parent of an incremental: the volume's latest image other than this one. */
export interface ParentChoice {
  readonly manifest: ImageManifest;
  /** False when the parent's snapshot is gone: the image is then read in full. */
  readonly snapshotAvailable: boolean;
}

export interface PlanBackupDeps {
  readonly describeSnapshots: (ids: readonly string[]) => Promise<SnapshotView[]>;
  readonly records: ImageRecordStore;
  readonly getManifest: (volumeId: string, imageId: string, sha256: string) => Promise<ImageManifest>;
  readonly work: ObjectStore;
  readonly workBucket: string;
  readonly snapshotReadBudget: number;
  readonly rangeWorkers: number;
  /** The scrub's chunk quarantine (a volume with a quarantined chunk is read in full); absent: none. */
  readonly quarantine?: Pick<ChunkQuarantine, 'list' | 'dropVolume'>;
}

/**
 * The latest committed image of the volume (other than `imageId`) from the same source, and whether
 * its snapshot exists: incrementals stay per source lineage (core/backup/primary-source.ts).
 */
export async function chooseParent(
  deps: Pick<PlanBackupDeps, 'describeSnapshots' | 'records' | 'getManifest'>,
  volumeId: string,
  imageId: string,
  source: BackupSource = 'replica',
): Promise<ParentChoice | undefined> {
  // One Limit-1 Query on the volume's lineage entries (not every record of the volume).
  const latest = await deps.records.latestImageRecord(volumeId, source, imageId);
  if (latest === undefined) return undefined;
  const manifest = await deps.getManifest(volumeId, latest.imageId, latest.manifestSha256);
  const [parentSnapshot] = await deps.describeSnapshots([latest.snapshotId]);
  return { manifest, snapshotAvailable: parentSnapshot?.state === 'completed' };
}

/**
 * Plan Backup: full or incremental for one volume of the run (`volumeId`, the iteration of "Back Up
 * Volumes"; the first volume when absent); writes the range items.
 */
export async function planBackup(
  deps: PlanBackupDeps,
  { backup, snapshots, volumeId: wanted }: PlanInput,
  log: StepLog,
): Promise<BackupPlan> {
  const volumeId = wanted ?? backup.volumeIds[0]!;
  if (!backup.volumeIds.includes(volumeId)) {
    throw new ValidationError(`volume ${volumeId} is not one of this backup's volumes`, {
      context: { volumeId, backupId: backup.backupId },
    });
  }
  const { snapshotId } = snapshotOf(snapshots, volumeId);
  const [snapshot] = await deps.describeSnapshots([snapshotId]);
  if (snapshot === undefined)
    throw new NotFoundError(`snapshot ${snapshotId} of ${volumeId} no longer exists`, {
      context: { snapshotId },
    });
  if (
    snapshot.state !== 'completed' ||
    snapshot.volumeSizeGib === undefined ||
    snapshot.startTime === undefined
  ) {
    throw new ValidationError(
      `snapshot ${snapshotId} is ${snapshot.state}, not a completed snapshot with a size`,
      {
        context: { snapshotId },
      },
    );
  }
  const imageId = imageIdFor(backup.backupId, volumeId, backup.volumeIds.length);
  const parent = backup.full ? undefined : await chooseParent(deps, volumeId, imageId, backup.source);
  const quarantine =
    deps.quarantine === undefined
      ? undefined
      : await quarantineForVolume(deps.quarantine, volumeId, parent?.manifest);
  const plan = planImage({
    volumeId,
    imageId,
    snapshotId,
    volumeSizeGib: snapshot.volumeSizeGib,
    ...(parent === undefined ? {} : { parent }),
    ...(quarantine === undefined ? {} : { quarantine }),
  });
  const key = itemsKey(backup.backupId, volumeId);
  await putJsonOnce(deps.work, key, plan.items);
  const maxConcurrency = Math.min(deps.rangeWorkers, plan.items.length);
  const first: RangeWorkItem = plan.items[0]!;
  log.info('image planned', {
    imageId,
    kind: plan.kind,
    ranges: plan.items.length,
    fullReadReason: plan.fullReadReason,
    quarantinedChunks: quarantine?.names.length ?? 0,
  });
  return {
    volumeId,
    imageId,
    snapshotId,
    kind: plan.kind,
    ...(first.parentImageId === undefined ? {} : { parentImageId: first.parentImageId }),
    ...(first.parentSnapshotId === undefined ? {} : { parentSnapshotId: first.parentSnapshotId }),
    ...(plan.fullReadReason === undefined ? {} : { fullReadReason: plan.fullReadReason }),
    createdAt: snapshot.startTime,
    workItems: { bucket: deps.workBucket, key },
    rangeCount: plan.items.length,
    maxConcurrency,
    job: {
      backupId: backup.backupId,
      readRequestsPerSecond: workerReadRate(deps.snapshotReadBudget, maxConcurrency),
    },
    ...((await isCommitted(deps.records, volumeId, imageId)) ? { committed: true } : {}),
  };
}

/** Whether the image already has its record (its commit point). */
async function isCommitted(records: ImageRecordStore, volumeId: string, imageId: string): Promise<boolean> {
  try {
    await records.getImageRecord(volumeId, imageId);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}

export interface CopyRangeDeps {
  /** Engine deps for this invocation's read rate (pacers are per worker). */
  readonly worker: (readRequestsPerSecond: number) => RangeWorkerDeps;
  readonly work: ObjectStore;
  /** Told of every range this invocation copied (not of one found already copied): for metrics. */
  readonly onCopied?: (summary: RangeSummary) => void;
  /** Where a failed attempt records why (range-failures.ts); absent, failures are not recorded. */
  readonly failures?: RangeFailureRecorder;
}

/**
 * Copy Range: one Distributed Map item into chunks and segments (copyRange: idempotent,
 * resumable), then the range's summary in the work bucket for the commit. Returns a few figures
 * only: the Map's results go to S3, not into the state. A failed attempt records its error for
 * Explain Copy Failure (range-failures.ts) and throws it unchanged, so the state machine's retries
 * see the same error as before.
 */
export async function copyRangeStep(
  deps: CopyRangeDeps,
  input: CopyRangeInput,
  log: StepLog,
): Promise<CopyRangeOutput> {
  try {
    return await copyOneRange(deps, input, log);
  } catch (error) {
    if (deps.failures !== undefined) {
      const failure = rangeFailureOf(input.range, error);
      await recordRangeFailure(deps.failures, input.job.backupId, input.range.volumeId, failure, log);
    }
    throw error;
  }
}

async function copyOneRange(
  deps: CopyRangeDeps,
  { range, job }: CopyRangeInput,
  log: StepLog,
): Promise<CopyRangeOutput> {
  const key = rangeSummaryKey(job.backupId, range.volumeId, range.firstBlock);
  // A range whose summary exists was copied by an earlier attempt (a retry or a redrive): not again.
  const earlier = await getJson(deps.work, key).then(
    (found) => found as RangeSummary,
    (error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    },
  );
  const summary: RangeSummary = earlier ?? (await copyRange(range, deps.worker(job.readRequestsPerSecond)));
  if (earlier === undefined) {
    await putJsonOnce(deps.work, key, summary);
    deps.onCopied?.(summary);
  }
  log.info('range copied', {
    firstBlock: range.firstBlock,
    endBlock: range.endBlock,
    stats: summary.stats,
    requests: summary.requests,
  });
  return {
    firstBlock: summary.firstBlock,
    endBlock: summary.endBlock,
    blocksRead: summary.stats.blocksRead,
    chunksCreated: summary.stats.chunksCreated,
    bytesCreated: summary.stats.bytesCreated,
  };
}

export interface CommitImageDeps {
  readonly images: ImageStore;
  readonly records: ImageRecordStore;
  readonly work: ObjectStore;
  /** The garbage-collection fence and the image bucket as the commit gate reads them (commit-gate.ts). */
  readonly gc?: CommitGateDeps;
}

/** The parent as the commit gate needs it, when its record is still live (else undefined). */
async function liveParentOf(
  records: ImageRecordStore,
  volumeId: string,
  parentImageId: string | undefined,
): Promise<GateParent | undefined> {
  if (parentImageId === undefined) return undefined;
  try {
    const parent = await records.getImageRecord(volumeId, parentImageId);
    return { imageId: parent.imageId, createdAt: parent.createdAt, manifestKey: parent.manifestKey };
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/**
 * Commit Image: gathers the range summaries (their count must equal the plan's) and commits the
 * image (manifest, then the image record: the commit point). Re-running it is a no-op that succeeds.
 */
export async function commitImageStep(
  deps: CommitImageDeps,
  { backup, plan }: CommitInput,
  log: StepLog,
): Promise<CommittedImage> {
  const keys = await deps.work.list(rangeSummaryPrefix(backup.backupId, plan.volumeId));
  if (keys.length !== plan.rangeCount) {
    throw new ValidationError(
      `image ${plan.imageId}: ${keys.length} of ${plan.rangeCount} range summaries found; not committing`,
      { context: { imageId: plan.imageId } },
    );
  }
  const summaries = (await Promise.all(keys.map((key) => getJson(deps.work, key)))) as RangeSummary[];
  const gc = deps.gc;
  const gate =
    gc === undefined
      ? undefined
      : async (segments: readonly string[]) => {
          const parent = await liveParentOf(deps.records, plan.volumeId, plan.parentImageId);
          const outcome = await passCommitGate(gc, {
            volumeId: plan.volumeId,
            imageId: plan.imageId,
            backupStartedAt: backup.startedAt,
            segments,
            ...(parent === undefined ? {} : { parent }),
          });
          log.info('commit gate passed', {
            imageId: plan.imageId,
            fenceEpoch: outcome.fence.epoch,
            objectsVerified: outcome.verified,
          });
          return outcome.conditions;
        };
  const { record } = await commitImage(
    { ...deps, ...(gate === undefined ? {} : { gate }) },
    {
      volumeId: plan.volumeId,
      imageId: plan.imageId,
      snapshotId: plan.snapshotId,
      createdAt: plan.createdAt,
      ...(plan.parentImageId === undefined ? {} : { parentImageId: plan.parentImageId }),
      ...(plan.parentSnapshotId === undefined ? {} : { parentSnapshotId: plan.parentSnapshotId }),
      ...(plan.fullReadReason === undefined ? {} : { fullReadReason: plan.fullReadReason }),
      source: backup.source,
      summaries,
      lock: { volumeId: plan.volumeId, ownerId: backup.ownerId },
      // The server the run's recovery point is filed under (the volume's own id when untagged).
      serverId: backup.recoveryPointServerId ?? backup.serverId,
    },
  );
  log.info('image committed', { imageId: record.imageId, kind: record.kind, stats: record.stats });
  return {
    volumeId: record.volumeId,
    imageId: record.imageId,
    kind: record.kind,
    createdAt: record.createdAt,
    manifestKey: record.manifestKey,
    stats: record.stats,
    // The record's reason for a full read of an image with a parent: Publish Success announces it.
    ...(record.fullReadReason === undefined ? {} : { fullReadReason: record.fullReadReason }),
  };
}
