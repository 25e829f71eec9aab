/**
 * Commit Recovery Point as the backup state machine runs it: the point is committed
 * (core/recovery-points, commitRecoveryPointStep), and a run whose point was removed while it
 * was committed fails instead of succeeding.
 *
 * A point is removed when every one of its images was deleted (by an operator or retention)
 * while the commit ran (docs/recovery-points.md, "A commit racing a deletion"). Such a run leaves
 * nothing to restore, so it must not be announced as `Backup Succeeded` nor counted in the
 * BackupSucceeded metric that the per-server RPO alarm watches. The step throws ConflictError (a
 * concurrent deletion won; never retried): the ASL's Catch sends the run to Clean Up, which
 * releases its locks, then Publish Failure announces `Backup Failed` with the message below as
 * the cause, and the execution ends FAILED at "Backup Failed" with that cause, which GET /backups
 * shows.
 */
import { ConflictError } from '../errors.ts';
import type { StepLog } from '../ports.ts';
import { commitRecoveryPointStep, type CommitRecoveryPointDeps } from '../recovery-points/recovery-points.ts';
import type { CommitRecoveryPointInput, CommittedRecoveryPoint } from './step-state.ts';

/** Why a run whose point was removed is not a backup: the cause its failure carries. */
export function removedRecoveryPointMessage(
  point: Pick<CommittedRecoveryPoint, 'recoveryPointId' | 'serverId'>,
  input: Pick<CommitRecoveryPointInput, 'backup' | 'volumes'>,
): string {
  const images = input.volumes.map((v) => v.imageId).join(', ');
  return (
    `backup ${input.backup.backupId} of ${input.backup.serverId} left no usable backup: every image of its ` +
    `recovery point ${point.recoveryPointId} (${images}) was deleted while the point was committed, ` +
    `so the point was removed`
  );
}

/**
 * Commits the run's recovery point and answers it as stored; throws ConflictError (with
 * removedRecoveryPointMessage) when the point was removed, every image of it deleted meanwhile.
 */
export async function commitUsableRecoveryPoint(
  deps: CommitRecoveryPointDeps,
  input: CommitRecoveryPointInput,
  log: StepLog,
): Promise<CommittedRecoveryPoint> {
  const committed = await commitRecoveryPointStep(deps, input, log);
  if (committed.removed !== true) return committed;
  throw new ConflictError(removedRecoveryPointMessage(committed, input), {
    context: {
      backupId: input.backup.backupId,
      serverId: committed.serverId,
      recoveryPointId: committed.recoveryPointId,
    },
  });
}
