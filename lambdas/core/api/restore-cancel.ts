/**
 * Cancelling a restore (POST /restores/{id}/cancel). The job record is the fence: it becomes
 * CANCELLED with one conditional write (from PENDING or RUNNING), after which every write of the
 * worker to the job (progress, the result, the outcome) is refused, so a cancelled restore never
 * turns SUCCEEDED and never gets a download URL. Then:
 *
 * - a file, directory or application restore: the worker Lambda cannot be interrupted; it ends at
 *   its next write to the job, and what it wrote to the restore bucket is never handed out (the
 *   bucket's lifecycle rule expires it);
 * - a volume restore: its state machine execution is stopped (StopExecution) and the snapshot it
 *   was writing is deleted. One whose snapshot is already written (CompleteSnapshot accepted) can
 *   no longer be cancelled: the snapshot is complete, the restore finishes on its own (409).
 *   https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
 */
import { ConflictError, NotFoundError } from '../errors.ts';
import { FINAL_JOB_STATUSES, jobExpiry, type JobRecord, type JobStore } from '../jobs/job-store.ts';
import type { Clock } from '../ports.ts';
import { VOLUME_RESTORE_JOB } from '../restore/volume-restore-jobs.ts';

/** The failure reason a cancelled restore shows. */
export const RESTORE_CANCELLED_REASON = 'cancelled by the operator';
/** Code of the refusal when the restore is not cancellable (details.reason), as for backups. */
export const RESTORE_NOT_CANCELLABLE = 'NotCancellable';

export interface RestoreCancelDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  /** Stops the restore's state machine execution (volume restores); a no-op when it ended. */
  readonly stopVolumeRestore?: (restoreId: string) => Promise<void>;
  /** Deletes a snapshot a volume restore was writing ('absent' when it is already gone). */
  readonly deleteSnapshot?: (snapshotId: string) => Promise<'deleted' | 'absent'>;
}

function notCancellable(restoreId: string, message: string, status: string): ConflictError {
  return new ConflictError(message, { context: { restoreId, status, reason: RESTORE_NOT_CANCELLABLE } });
}

async function jobOf(jobs: JobStore, restoreId: string): Promise<JobRecord> {
  try {
    return await jobs.get(restoreId);
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new NotFoundError(`restore ${restoreId} does not exist`, {
        cause: error,
        context: { restoreId },
      });
    throw error;
  }
}

/** Cancels the restore; answers its record as stored afterwards. */
export async function cancelRestore(deps: RestoreCancelDeps, restoreId: string): Promise<JobRecord> {
  const record = await jobOf(deps.jobs, restoreId);
  const finished = () =>
    notCancellable(
      restoreId,
      `restore ${restoreId} already finished (${record.status}): there is nothing to cancel`,
      record.status,
    );
  if (FINAL_JOB_STATUSES.includes(record.status)) throw finished();
  const volume = record.kind === VOLUME_RESTORE_JOB.kind ? VOLUME_RESTORE_JOB.fromRecord(record) : undefined;
  if (volume?.written === true) {
    throw notCancellable(
      restoreId,
      `restore ${restoreId} already wrote snapshot ${volume.snapshotId ?? '(unknown)'}: it can no longer be cancelled and finishes on its own`,
      record.status,
    );
  }
  const updatedAt = deps.clock.now().toISOString();
  const cancelled: JobRecord = {
    ...record,
    status: 'CANCELLED',
    failure: { reason: RESTORE_CANCELLED_REASON, errorName: 'Cancelled' },
    updatedAt,
    expiresAtEpochSeconds: jobExpiry(updatedAt),
  };
  try {
    await deps.jobs.update(cancelled, ['PENDING', 'RUNNING']);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    // It finished between the read and the write: say how.
    const now = await jobOf(deps.jobs, restoreId);
    throw notCancellable(
      restoreId,
      `restore ${restoreId} already finished (${now.status}): there is nothing to cancel`,
      now.status,
    );
  }
  if (volume !== undefined) {
    await deps.stopVolumeRestore?.(restoreId);
    // The worker can no longer record a snapshot: the one read above is the restore's.
    if (volume.snapshotId !== undefined) await deps.deleteSnapshot?.(volume.snapshotId);
  }
  return cancelled;
}
