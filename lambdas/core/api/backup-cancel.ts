/**
 * Cancelling a running backup (POST /backups/{id}/cancel), in an order that leaves nothing
 * half-committed:
 *
 * 1. A backup that is not running is refused (409), and so is one that already committed an image
 *    (its image is the commit point: it finishes on its own).
 * 2. Its locks are released, conditionally on the execution still owning them. This is the fence:
 *    Commit Image writes the image record only while the backup holds its lock (one transaction
 *    with the record), so after this no image of the backup can be committed. An image committed
 *    just before (looked up again after the release) makes the cancel a 409 and the run goes on.
 * 3. The execution is stopped (StopExecution with the error BACKUP_CANCELLED_ERROR): no further
 *    state starts; Step Functions lists it ABORTED with that error.
 *    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
 * 4. The snapshots the backup took (tagged with its id, role pending or released) are deleted.
 *    A Create Snapshots call still in flight may leave one behind: a later backup of the volume
 *    deletes it once it is older than the lock's lifetime (replica-snapshots.ts, selectSnapshotsToDelete).
 */
import { ConflictError, NotFoundError } from '../errors.ts';
import type { ImageRecordStore } from '../image/image-records.ts';
import { imageIdFor } from '../backup/backup-steps.ts';
import type { SnapshotPort } from '../orchestration/orchestration-ports.ts';
import { ROLE_PENDING, ROLE_RELEASED, ROLE_TAG } from '../orchestration/replica-snapshots.ts';
import type { BackupExecutions, LockReservations } from './backup-launcher.ts';
import { volumesOfInput } from './backup-launcher.ts';

/** The error a cancelled backup's execution is stopped with (GET /backups shows it). */
export const BACKUP_CANCELLED_ERROR = 'Cancelled';
/** Code of the refusal when the backup is not running or can no longer be cancelled (details.reason). */
export const NOT_CANCELLABLE = 'NotCancellable';

export interface BackupCancelDeps {
  readonly executions: Pick<BackupExecutions, 'describe' | 'executionIdOf'> & {
    /** Stops the execution named `name` (StopExecution); stopping one that ended is a no-op. */
    stop(name: string, error: string, cause: string): Promise<void>;
  };
  readonly locks: Pick<LockReservations, 'release'>;
  readonly snapshots: Pick<SnapshotPort, 'snapshotsOfBackup' | 'deleteSnapshot'>;
  readonly records: Pick<ImageRecordStore, 'getImageRecord'>;
}

export interface BackupCancellation {
  readonly backupId: string;
  readonly status: 'ABORTED';
  readonly locksReleased: number;
  /** The backup's snapshots deleted, sorted. */
  readonly snapshotsDeleted: readonly string[];
}

function notCancellable(
  backupId: string,
  message: string,
  context: Record<string, string> = {},
): ConflictError {
  return new ConflictError(message, { context: { backupId, reason: NOT_CANCELLABLE, ...context } });
}

/** The images of the backup that are committed (their ids derive from the backup id). */
async function committedImages(
  records: BackupCancelDeps['records'],
  backupId: string,
  volumeIds: readonly string[],
): Promise<string[]> {
  const committed: string[] = [];
  for (const volumeId of volumeIds) {
    const imageId = imageIdFor(backupId, volumeId, volumeIds.length);
    try {
      await records.getImageRecord(volumeId, imageId);
      committed.push(imageId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
  return committed;
}

function alreadyCommitted(backupId: string, imageIds: readonly string[]): ConflictError {
  return notCancellable(
    backupId,
    `backup ${backupId} already committed ${imageIds.join(', ')}: it can no longer be cancelled and finishes on its own`,
    { imageIds: imageIds.join(',') },
  );
}

export async function cancelBackup(
  deps: BackupCancelDeps,
  backupId: string,
  by: string,
): Promise<BackupCancellation> {
  const detail = await deps.executions.describe(backupId);
  if (detail.status !== 'RUNNING') {
    throw notCancellable(
      backupId,
      `backup ${backupId} already finished (${detail.status}): there is nothing to cancel`,
      { status: detail.status },
    );
  }
  const volumeIds = volumesOfInput(detail.input);
  const before = await committedImages(deps.records, backupId, volumeIds);
  if (before.length > 0) throw alreadyCommitted(backupId, before);
  const { released } = await deps.locks.release(volumeIds, deps.executions.executionIdOf(backupId));
  const raced = await committedImages(deps.records, backupId, volumeIds);
  if (raced.length > 0) throw alreadyCommitted(backupId, raced);
  await deps.executions.stop(backupId, BACKUP_CANCELLED_ERROR, `cancelled by ${by}`);
  const deleted = await deleteSnapshotsOfRun(deps.snapshots, backupId);
  return { backupId, status: 'ABORTED', locksReleased: released, snapshotsDeleted: deleted };
}

/**
 * Deletes the snapshots a backup that is over took and no image uses (tagged with its id, role
 * pending or released; a base is an image's and stays); returns their ids, sorted.
 */
export async function deleteSnapshotsOfRun(
  snapshots: Pick<SnapshotPort, 'snapshotsOfBackup' | 'deleteSnapshot'>,
  backupId: string,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const snapshot of await snapshots.snapshotsOfBackup(backupId)) {
    if (![ROLE_PENDING, ROLE_RELEASED].includes(snapshot.tags[ROLE_TAG] ?? '')) continue;
    if ((await snapshots.deleteSnapshot(snapshot.snapshotId)) === 'deleted')
      deleted.push(snapshot.snapshotId);
  }
  return deleted.sort();
}
