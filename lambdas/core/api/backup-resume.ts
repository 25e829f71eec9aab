/**
 * Resuming a suspended backup (POST /backups/{id}/resume, `rbp backup resume ID`).
 *
 * A backup whose copy phase failed after its retries with an error that is not permanent is
 * suspended, not cleaned up (docs/architecture.md, "Suspended for a redrive"): Suspend Run marked
 * its locks released (any backup may take them) and tagged its snapshots `rbp:role=released`
 * (kept; the next image committed of the volume deletes them), and the execution failed at Await
 * Redrive. Resuming is a redrive of that execution (RedriveExecution): Await Redrive runs again,
 * takes the locks back, Reclaim Snapshots tags the snapshots pending again and the run goes on at
 * the state that failed; ranges already copied are found stored and not copied again.
 *
 * What this checks first, so that a refusal is a clear 409 instead of a redrive that fails again:
 * 1. The backup is suspended: its execution FAILED at Await Redrive (BackupSuspendedError, or
 *    BackupAlreadyRunningError from an earlier redrive that met another backup's lock). A backup
 *    that is running, succeeded, was cancelled, timed out or failed before its copy (cleaned up:
 *    locks released, snapshots deleted) is not.
 * 2. Step Functions still redrives it: within REDRIVE_WINDOW_DAYS of the execution's stop, and the
 *    service's redriveStatus (when it reports one) is not NOT_REDRIVABLE.
 * 3. Every volume still has the snapshot the run kept: a backup of the volume that committed an
 *    image since then deleted it (Rotate Base Snapshots), and the redrive would end at Reclaim
 *    Snapshots.
 * 4. The locks are taken back for the execution (owner = its ARN, as Await Redrive takes them) for
 *    RESERVATION_TTL_SECONDS: while another backup of a volume holds its lock the resume is refused
 *    and the backup stays suspended; once taken, no scheduled backup can take the volume between
 *    this answer and the redrive's Await Redrive, which finds the locks its own and renews them.
 *    A redrive that fails gives the locks back, unless the execution runs (a concurrent resume's
 *    redrive, whose locks have the same owner); a reservation left behind expires.
 */
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { lockItemsFor, REDRIVE_WINDOW_DAYS } from '../orchestration/backup-lock.ts';
import { BackupAlreadyRunningError, BackupSuspendedError } from '../orchestration/orchestration-errors.ts';
import type { SnapshotPort } from '../orchestration/orchestration-ports.ts';
import { ROLE_PENDING, ROLE_RELEASED, ROLE_TAG } from '../orchestration/replica-snapshots.ts';
import {
  RESERVATION_TTL_SECONDS,
  volumesOfInput,
  type BackupExecutions,
  type ExecutionDetail,
  type LockReservations,
} from './backup-launcher.ts';

/** The state a suspended run's execution fails in (statemachines/backup.asl.json). */
export const AWAIT_REDRIVE_STATE = 'Await Redrive';
const DAY_MS = 86_400_000;

/** details.reason of a refusal: the backup is not suspended. */
export const NOT_SUSPENDED = 'NotSuspended';
/** details.reason of a refusal: the redrive window has passed (or the service refuses the redrive). */
export const REDRIVE_WINDOW_PASSED = 'RedriveWindowPassed';
/** details.reason of a refusal: a snapshot the suspended run kept is gone. */
export const SNAPSHOTS_GONE = 'SnapshotsGone';
/** details.reason of a refusal: another backup holds a volume's lock. */
export const RESUME_BLOCKED = 'BackupAlreadyRunning';

/** A backup that cannot be resumed (409); `details.reason` says why. */
export class BackupNotResumableError extends ConflictError {}

export interface BackupResumeDeps {
  readonly executions: Pick<BackupExecutions, 'describe' | 'executionIdOf' | 'failedStep'> & {
    redrive(name: string): Promise<{ readonly redrivenAt: string }>;
  };
  readonly locks: LockReservations;
  /** The run's snapshots; absent: not checked (the redrive's Reclaim Snapshots still is). */
  readonly snapshots?: Pick<SnapshotPort, 'snapshotsOfBackup'>;
  readonly clock: Clock;
}

export interface BackupResumption {
  readonly backupId: string;
  readonly status: 'RUNNING';
  /** When the redrive started (RedriveExecution's redriveDate). */
  readonly resumedAt: string;
  /** The backup's volumes, whose locks it holds again. */
  readonly volumeIds: readonly string[];
}

function refused(backupId: string, reason: string, message: string, context: Record<string, string> = {}) {
  return new BackupNotResumableError(message, { context: { backupId, reason, ...context } });
}

/** True for an execution of a suspended run: it failed at Await Redrive. */
export function isSuspended(detail: Pick<ExecutionDetail, 'status' | 'error' | 'failedStep'>): boolean {
  return (
    detail.status === 'FAILED' &&
    (detail.failedStep === AWAIT_REDRIVE_STATE || detail.error === BackupSuspendedError.name)
  );
}

function notSuspended(detail: ExecutionDetail): BackupNotResumableError {
  const id = detail.name;
  const context = { status: detail.status };
  switch (detail.status) {
    case 'RUNNING':
      return refused(
        id,
        NOT_SUSPENDED,
        `backup ${id} is running: only a suspended backup can be resumed`,
        context,
      );
    case 'PENDING_REDRIVE':
      return refused(id, NOT_SUSPENDED, `backup ${id} is already being resumed (PENDING_REDRIVE)`, context);
    case 'SUCCEEDED':
      return refused(id, NOT_SUSPENDED, `backup ${id} succeeded: there is nothing to resume`, context);
    case 'ABORTED':
      return refused(
        id,
        NOT_SUSPENDED,
        `backup ${id} was cancelled (ABORTED): its snapshots are deleted and it cannot be resumed; start a new backup`,
        context,
      );
    case 'TIMED_OUT':
      return refused(
        id,
        NOT_SUSPENDED,
        `backup ${id} timed out: only a suspended backup can be resumed; start a new backup`,
        context,
      );
    case 'FAILED': {
      const where = detail.failedStep === undefined ? '' : ` at ${detail.failedStep}`;
      const error = detail.error === undefined ? '' : ` (${detail.error})`;
      return refused(
        id,
        NOT_SUSPENDED,
        `backup ${id} failed${where}${error} and was cleaned up, not suspended: it cannot be resumed; start a new backup`,
        context,
      );
    }
  }
}

/** The refusal when Step Functions no longer redrives the execution; undefined while it does. */
function pastWindow(detail: ExecutionDetail, now: Date): BackupNotResumableError | undefined {
  const id = detail.name;
  const stopped = detail.stoppedAt === undefined ? undefined : Date.parse(detail.stoppedAt);
  const deadline =
    stopped === undefined ? undefined : new Date(stopped + REDRIVE_WINDOW_DAYS * DAY_MS).toISOString();
  if (deadline !== undefined && Date.parse(deadline) <= now.getTime()) {
    return refused(
      id,
      REDRIVE_WINDOW_PASSED,
      `backup ${id} was suspended at ${detail.stoppedAt}: Step Functions resumes an execution for ` +
        `${REDRIVE_WINDOW_DAYS} days after it stopped, until ${deadline}; start a new backup`,
      { stoppedAt: detail.stoppedAt ?? '', redriveDeadline: deadline },
    );
  }
  if (detail.redriveStatus === 'NOT_REDRIVABLE') {
    const why = detail.redriveStatusReason ?? 'no reason given';
    return refused(
      id,
      REDRIVE_WINDOW_PASSED,
      `backup ${id} cannot be resumed: Step Functions does not redrive its execution (${why}); start a new backup`,
      { redriveStatusReason: why },
    );
  }
  return undefined;
}

/** The refusal when a volume's kept snapshot is gone; undefined when every volume has one. */
async function missingSnapshots(
  snapshots: Pick<SnapshotPort, 'snapshotsOfBackup'>,
  backupId: string,
  volumeIds: readonly string[],
): Promise<BackupNotResumableError | undefined> {
  const kept = (await snapshots.snapshotsOfBackup(backupId)).filter(
    (s) => [ROLE_PENDING, ROLE_RELEASED].includes(s.tags[ROLE_TAG] ?? '') && s.state !== 'error',
  );
  const without = volumeIds.filter((volumeId) => !kept.some((s) => s.volumeId === volumeId));
  if (without.length === 0) return undefined;
  return refused(
    backupId,
    SNAPSHOTS_GONE,
    `backup ${backupId} cannot be resumed: the snapshot it kept of ${without.join(', ')} is gone ` +
      '(a later backup of the volume committed an image and deleted it); start a new backup',
    { volumeIds: without.join(',') },
  );
}

export async function resumeBackup(deps: BackupResumeDeps, backupId: string): Promise<BackupResumption> {
  const described = await deps.executions.describe(backupId);
  const failedStep = described.status === 'FAILED' ? await deps.executions.failedStep?.(backupId) : undefined;
  const detail = failedStep === undefined ? described : { ...described, failedStep };
  if (!isSuspended(detail)) throw notSuspended(detail);
  const late = pastWindow(detail, deps.clock.now());
  if (late !== undefined) throw late;
  const volumeIds = volumesOfInput(detail.input);
  if (volumeIds.length === 0)
    throw new NotFoundError(`backup ${backupId} names no volume in its input`, { context: { backupId } });
  if (deps.snapshots !== undefined) {
    const gone = await missingSnapshots(deps.snapshots, backupId, volumeIds);
    if (gone !== undefined) throw gone;
  }
  const ownerId = deps.executions.executionIdOf(backupId);
  const locks = lockItemsFor(
    { volumeIds, ownerId, backupId, ttlSeconds: RESERVATION_TTL_SECONDS },
    deps.clock.now(),
  );
  try {
    await deps.locks.acquire(locks);
  } catch (error) {
    if (!(error instanceof BackupAlreadyRunningError)) throw error;
    const heldBy = String(error.context['heldBy']);
    const volumeId = String(error.context['volumeId']);
    throw new BackupNotResumableError(
      `volume ${volumeId} is being backed up by ${heldBy} (lock held until ${String(error.context['heldUntil'])}): ` +
        `backup ${backupId} stays suspended; resume it once ${heldBy} has finished`,
      {
        cause: error,
        context: { backupId, reason: RESUME_BLOCKED, volumeId, runningBackupId: heldBy },
      },
    );
  }
  try {
    const { redrivenAt } = await deps.executions.redrive(backupId);
    return { backupId, status: 'RUNNING', resumedAt: redrivenAt, volumeIds };
  } catch (error) {
    // Give the volumes back only when nothing runs: a concurrent resume may have redriven the
    // execution, whose locks are ours too (same owner). Left held, the reservation expires.
    const now = await deps.executions.describe(backupId).catch(() => undefined);
    if (now !== undefined && now.status !== 'RUNNING')
      await deps.locks.release(volumeIds, ownerId).catch(() => undefined);
    throw error;
  }
}
