/**
 * Whole-volume restores as jobs (POST /restores with kind `volume`): a job record that the API
 * creates, and the worker that writes the image into a new EBS snapshot (restoreImageToSnapshot)
 * and records its id. Running a job twice is safe: StartSnapshot's ClientToken derives from the
 * restore id, so a retried worker continues the same snapshot rather than making a second one.
 */
import { NotFoundError, ValidationError, type JobFailure } from '../errors.ts';
import { jobCodec, jobsOfKind, runJob, type JobStore, type KindJobStore } from '../jobs/job-store.ts';
import type { Clock } from '../ports.ts';
import type { ImageManifest } from '../image/image-types.ts';
import type { SnapshotStateReader } from '../backup/snapshot-ports.ts';
import {
  restoreImageToSnapshot,
  restoredSnapshotTags,
  waitForSnapshotCompleted,
  type SnapshotRestoreDeps,
} from './volume-restore.ts';
import type { Sleep } from '../util/retry.ts';

/**
 * Longest wait for the new snapshot to become `completed` inside one worker run: the worker is a
 * Lambda (15 minutes at most); past this the run ends retryable and the next run only waits.
 */
export const VOLUME_RESTORE_COMPLETION_WAIT_MS = 600_000;
/** DescribeSnapshots interval while waiting: completion takes seconds to minutes. */
export const VOLUME_RESTORE_POLL_INTERVAL_MS = 2_000;

export type VolumeRestoreStatus = 'pending' | 'running' | 'succeeded' | 'failed';

/**
 * A new EBS volume made from the restored snapshot once it is completed (`rbp restore server
 * --availability-zone`, restored-volumes.ts): where, what type and size, and what it restores.
 */
export interface RestoredVolumeTarget {
  readonly availabilityZone: string;
  /** EBS volume type; absent: gp3 (RESTORED_VOLUME_DEFAULT_TYPE). */
  readonly volumeType?: RestoredVolumeType;
  /** CreateVolume's VolumeInitializationRate in MiB/s (restored-volumes.ts); absent: lazy loading. */
  readonly volumeInitializationRate?: number;
  /** The source volume's size in GiB (the restored snapshot's size). */
  readonly sizeGib: number;
  /** The server restore the volume belongs to (its rbp:restore-id tag). */
  readonly serverRestoreId: string;
  readonly serverId: string;
  /** The source volume's device on the server (its rbp:device tag). */
  readonly device: string;
}

/** The EBS volume types a restored volume may have (io1/io2 get provisioned IOPS, restored-volumes.ts). */
export const RESTORED_VOLUME_TYPES = ['gp3', 'gp2', 'io1', 'io2', 'st1', 'sc1'] as const;
export type RestoredVolumeType = (typeof RESTORED_VOLUME_TYPES)[number];

export interface VolumeRestoreJob {
  readonly restoreId: string;
  readonly volumeId: string;
  readonly imageId: string;
  /** KMS key of the new snapshot: the caller's, or the stack's key (resolved when the job is created). */
  readonly kmsKeyArn?: string;
  /** A delta restore: the earlier succeeded volume restore of the same volume whose snapshot is the parent. */
  readonly parentRestoreId?: string;
  readonly status: VolumeRestoreStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The new snapshot, once StartSnapshot answered (kept while it is being written). */
  readonly snapshotId?: string;
  readonly changedBlocksCount?: number;
  /** Every block is written and CompleteSnapshot accepted: what remains is waiting for `completed`. */
  readonly written?: boolean;
  /** ISO-8601: when StartSnapshot first answered (state-machine restores). */
  readonly snapshotStartedAt?: string;
  /** Delta restores: the parent restore's snapshot and image, resolved when the plan starts the snapshot. */
  readonly parentSnapshotId?: string;
  readonly parentImageId?: string;
  /** State-machine restores: the block ranges (Distributed Map items) of the plan. */
  readonly rangeCount?: number;
  /** Make a volume from the snapshot too (the job succeeds once that volume is available). */
  readonly volume?: RestoredVolumeTarget;
  /** The volume made from the snapshot, once CreateVolume answered. */
  readonly restoredVolumeId?: string;
  /** ISO-8601: when CreateVolume first answered (bounds the wait for `available`). */
  readonly volumeRequestedAt?: string;
  readonly failure?: JobFailure;
}

/** The volume restore jobs: the restore kind's view of the one job store. */
export type VolumeRestoreJobStore = KindJobStore<VolumeRestoreJob, VolumeRestoreStatus>;

export async function createVolumeRestoreJob(
  deps: { readonly jobs: VolumeRestoreJobStore; readonly clock: Clock },
  request: VolumeRestoreRequest,
): Promise<VolumeRestoreJob> {
  const now = deps.clock.now().toISOString();
  const job: VolumeRestoreJob = { ...request, status: 'pending', createdAt: now, updatedAt: now };
  await deps.jobs.create(job);
  return job;
}

/** What runs a volume restore job (the volume-restore state machine, or the restore worker). */
export interface VolumeRestoreLauncher {
  launch(event: { readonly restoreId: string; readonly kind: 'volume' }): Promise<void>;
}

export interface VolumeRestoreRequest {
  /** Unique id of the restore (the job's id and the state machine execution's name). */
  readonly restoreId: string;
  readonly volumeId: string;
  readonly imageId: string;
  /** KMS key of the new snapshot (the caller's, or the stack's). */
  readonly kmsKeyArn?: string;
  /**
   * Delta restore: an earlier succeeded volume restore of the same volume. The new snapshot starts
   * from its snapshot (ParentSnapshotId) and only the blocks whose chunks differ between the two
   * images are put (computed from the manifests; unchanged data is not read).
   */
  readonly parentRestoreId?: string;
  /** Also make a volume from the completed snapshot (state-machine restores only). */
  readonly volume?: RestoredVolumeTarget;
}

/**
 * The one entry point that starts a volume restore (POST /restores, `rbp restore server`,
 * LiveClone refreshes): checks a delta's parent, creates the job and launches it. Returns the
 * pending job; poll it by its restoreId. A delta whose parent is unusable is a ValidationError
 * before any job exists.
 */
export async function startVolumeRestore(
  deps: {
    readonly jobs: VolumeRestoreJobStore;
    readonly clock: Clock;
    readonly launcher: VolumeRestoreLauncher;
  },
  request: VolumeRestoreRequest,
): Promise<VolumeRestoreJob> {
  if (request.parentRestoreId !== undefined) {
    await requireDeltaParent(deps.jobs, request.parentRestoreId, request.volumeId);
  }
  const job = await createVolumeRestoreJob(deps, request);
  await deps.launcher.launch({ restoreId: request.restoreId, kind: 'volume' });
  return job;
}

/** The parent of a delta restore: a succeeded volume restore of the same volume, with its snapshot. */
export async function requireDeltaParent(
  jobs: VolumeRestoreJobStore,
  parentRestoreId: string,
  volumeId: string,
): Promise<VolumeRestoreJob & { snapshotId: string }> {
  let parent: VolumeRestoreJob;
  try {
    parent = await jobs.get(parentRestoreId);
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new ValidationError(`parentRestoreId ${parentRestoreId} is not a volume restore`, {
        cause: error,
        context: { parentRestoreId },
      });
    }
    throw error;
  }
  if (parent.volumeId !== volumeId) {
    throw new ValidationError(
      `parentRestoreId ${parentRestoreId} restored ${parent.volumeId}, not ${volumeId}: a delta needs a restore of the same volume`,
      { context: { parentRestoreId, volumeId } },
    );
  }
  if (parent.status !== 'succeeded' || parent.snapshotId === undefined) {
    throw new ValidationError(
      `parentRestoreId ${parentRestoreId} is ${parent.status}: a delta needs a succeeded volume restore`,
      { context: { parentRestoreId, status: parent.status } },
    );
  }
  return parent as VolumeRestoreJob & { snapshotId: string };
}

export interface VolumeRestoreDeps extends SnapshotRestoreDeps {
  readonly jobs: VolumeRestoreJobStore;
  readonly clock: Clock;
  readonly snapshots: SnapshotStateReader;
  readonly sleep: Sleep;
  /** Overrides VOLUME_RESTORE_COMPLETION_WAIT_MS / VOLUME_RESTORE_POLL_INTERVAL_MS (tests). */
  readonly completionWaitMs?: number;
  readonly pollIntervalMs?: number;
  /** The manifest of a committed image (verified against its record). */
  loadManifest(volumeId: string, imageId: string): Promise<ImageManifest>;
}

/**
 * Runs a pending (or interrupted) job to the completed snapshot write. Permanent failures end the
 * job as failed; retryable ones are thrown (the job stays running and may be run again).
 */
export async function runVolumeRestoreJob(
  deps: VolumeRestoreDeps,
  restoreId: string,
): Promise<VolumeRestoreJob> {
  return runJob(deps, restoreId, async (running) => {
    let written = running;
    if (running.written !== true || running.snapshotId === undefined) {
      const manifest = await deps.loadManifest(running.volumeId, running.imageId);
      const result = await restoreImageToSnapshot(deps, {
        manifest,
        restoreId,
        ...(running.kmsKeyArn === undefined ? {} : { kmsKeyArn: running.kmsKeyArn }),
        tags: restoredSnapshotTags(restoreId, running.volumeId, running.imageId),
      });
      written = {
        ...running,
        snapshotId: result.snapshotId,
        changedBlocksCount: result.changedBlocksCount,
        written: true,
        updatedAt: deps.clock.now().toISOString(),
      };
      await deps.jobs.update(written, ['running']);
    }
    await waitForSnapshotCompleted(deps.snapshots, written.snapshotId!, {
      intervalMs: deps.pollIntervalMs ?? VOLUME_RESTORE_POLL_INTERVAL_MS,
      timeoutMs: deps.completionWaitMs ?? VOLUME_RESTORE_COMPLETION_WAIT_MS,
      nowMs: deps.nowMs,
      sleep: deps.sleep,
    });
    return written;
  });
}

/** Whole-volume restores as records of the job store (kind `volume-restore`). */
export const VOLUME_RESTORE_JOB = jobCodec<VolumeRestoreJob>('volume-restore', {
  toRecord: (job) => ({
    params: {
      volumeId: job.volumeId,
      imageId: job.imageId,
      ...(job.kmsKeyArn === undefined ? {} : { kmsKeyArn: job.kmsKeyArn }),
      ...(job.parentRestoreId === undefined ? {} : { parentRestoreId: job.parentRestoreId }),
      ...(job.volume === undefined ? {} : { volume: { ...job.volume } }),
    },
    progress: {
      ...(job.snapshotId === undefined ? {} : { snapshotId: job.snapshotId }),
      ...(job.changedBlocksCount === undefined ? {} : { changedBlocksCount: job.changedBlocksCount }),
      ...(job.written === undefined ? {} : { written: job.written }),
      ...(job.snapshotStartedAt === undefined ? {} : { snapshotStartedAt: job.snapshotStartedAt }),
      ...(job.parentSnapshotId === undefined ? {} : { parentSnapshotId: job.parentSnapshotId }),
      ...(job.parentImageId === undefined ? {} : { parentImageId: job.parentImageId }),
      ...(job.rangeCount === undefined ? {} : { rangeCount: job.rangeCount }),
      ...(job.restoredVolumeId === undefined ? {} : { restoredVolumeId: job.restoredVolumeId }),
      ...(job.volumeRequestedAt === undefined ? {} : { volumeRequestedAt: job.volumeRequestedAt }),
    },
  }),
  fromRecord: (record) => ({
    ...(record.params as {
      volumeId: string;
      imageId: string;
      kmsKeyArn?: string;
      parentRestoreId?: string;
      volume?: RestoredVolumeTarget;
    }),
    ...(record.progress as {
      snapshotId?: string;
      changedBlocksCount?: number;
      written?: boolean;
      snapshotStartedAt?: string;
      parentSnapshotId?: string;
      parentImageId?: string;
      rangeCount?: number;
      restoredVolumeId?: string;
      volumeRequestedAt?: string;
    }),
  }),
});

/** The volume restore jobs of a job store whose key space is the restores'. */
export function volumeRestoreJobs(store: JobStore): VolumeRestoreJobStore {
  return jobsOfKind(store, VOLUME_RESTORE_JOB, 'restore');
}
