/**
 * The per-volume backup lock: one backup per volume at a time (docs/architecture.md, "Acquire Lock").
 *
 * A lock is an item per volume with an owner (the execution ARN) and an expiry. A run may take the
 * lock when nobody holds it, when the holder's lock has expired (a crashed run), when the holder
 * released it on its failure path (a suspended run), or when it already holds it itself (a redrive,
 * or a retried Lambda). A group's locks are taken all together or not at all. The LockStore adapter
 * enforces `mayTakeLock` as a conditional write; this module is the model both the adapter and the
 * in-memory fake follow.
 *
 * Failure paths that heal: a run that fails after its retries in a resumable state (copy, renew,
 * commit, catalog) is suspended: "Suspend Run" marks its locks released (the next scheduled backup
 * takes them at once instead of waiting out the 48-hour expiry), "Publish Failure" announces it,
 * and the execution fails at "Await Redrive". A redrive of the execution (same execution ARN, the
 * lock owner) re-runs that failed state, which tells the original entry from the redrive by the
 * state's entry time (`$$.State.EnteredTime`, new on every redrive, the same for Lambda retries of
 * one entry) recorded on the released locks as `parkedAt`, takes the locks back (refused with
 * BackupAlreadyRunningError while another run holds them: redrive again later) and resumes at the
 * state that failed. Nothing can commit without the lock: Renew Lock re-checks it before the commit.
 */
import type { Clock, StepLog } from '../ports.ts';
import {
  normaliseBackupRequest,
  PLAN_TRIGGER_PREFIX,
  type VolumeFinder,
  type VolumeServerTags,
} from './backup-request.ts';
import type { LockStore } from './orchestration-ports.ts';
import { BackupAlreadyRunningError, BackupSuspendedError, LockLostError } from './orchestration-errors.ts';
import type { BackupLockInput, BackupLockOutput } from './step-state.ts';

export interface BackupLock {
  readonly volumeId: string;
  /** Execution ARN of the run holding the lock. */
  readonly ownerId: string;
  readonly backupId: string;
  /** ISO-8601 UTC. */
  readonly acquiredAt: string;
  /** ISO-8601 UTC; after this instant anyone may take the lock. */
  readonly expiresAt: string;
  /** Set by a suspended run's failure path: anyone may take the lock, its owner's redrive too. */
  readonly released?: boolean;
  /** `$$.State.EnteredTime` of the suspended run's "Await Redrive" entry that parked it. */
  readonly parkedAt?: string;
}

export interface LockRequest {
  readonly volumeIds: readonly string[];
  readonly ownerId: string;
  readonly backupId: string;
  readonly ttlSeconds: number;
}

/** Who holds a lock that refused us, as the adapter reports it. */
export interface LockHolder {
  readonly volumeId: string;
  readonly ownerId: string;
  readonly backupId: string;
  readonly expiresAt: string;
}

/** True when `candidateOwnerId` may write over `existing` at `now`. */
export function mayTakeLock(existing: BackupLock | undefined, candidateOwnerId: string, now: Date): boolean {
  if (existing === undefined) return true;
  if (existing.ownerId === candidateOwnerId) return true;
  if (existing.released === true) return true;
  return Date.parse(existing.expiresAt) <= now.getTime();
}

/** The lock items a run writes for its request at `now`. */
export function lockItemsFor(request: LockRequest, now: Date): BackupLock[] {
  const acquiredAt = now.toISOString();
  const expiresAt = new Date(now.getTime() + request.ttlSeconds * 1000).toISOString();
  return [...request.volumeIds].sort().map((volumeId) => ({
    volumeId,
    ownerId: request.ownerId,
    backupId: request.backupId,
    acquiredAt,
    expiresAt,
  }));
}

/** The error a refused run ends with; its message is what the operator sees. */
export function alreadyRunningError(holder: LockHolder, requestedBy: string): BackupAlreadyRunningError {
  return new BackupAlreadyRunningError(
    `volume ${holder.volumeId} is being backed up by ${holder.backupId} (lock held until ${holder.expiresAt}); ` +
      `backup ${requestedBy} was not started`,
    { context: { volumeId: holder.volumeId, heldBy: holder.backupId, heldUntil: holder.expiresAt } },
  );
}

/** The error for a run that finds its lock taken by another run before it commits. */
export function lockLostError(holder: LockHolder, backupId: string): LockLostError {
  return new LockLostError(
    `backup ${backupId} lost the lock of volume ${holder.volumeId} to ${holder.backupId}; nothing was committed`,
    { context: { volumeId: holder.volumeId, heldBy: holder.backupId, heldUntil: holder.expiresAt } },
  );
}

/**
 * "Await Redrive": is this the suspended run's own entry (park it and fail the execution) or a
 * redrive (take the locks back and resume)? The run's entry finds every lock still its own,
 * released, and not yet parked or parked by this same entry (a Lambda retry). Anything else (a
 * lock parked by an earlier entry, taken by another run, or gone after that run released it) is a
 * redrive: the lock acquisition then decides whether it may go on.
 */
export function redriveDecision(
  locks: readonly (BackupLock | undefined)[],
  ownerId: string,
  enteredAt: string,
): 'park' | 'resume' {
  const parkable = locks.every(
    (lock) =>
      lock !== undefined &&
      lock.ownerId === ownerId &&
      lock.released === true &&
      (lock.parkedAt === undefined || lock.parkedAt === enteredAt),
  );
  return locks.length > 0 && parkable ? 'park' : 'resume';
}

/**
 * Step Functions redrives a Standard execution for 14 days after it stopped; after that
 * RedriveExecution answers ExecutionNotRedrivable.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
 */
export const REDRIVE_WINDOW_DAYS = 14;

/** The command that resumes a suspended backup (POST /backups/{id}/resume, a redrive). */
export function resumeCommand(backupId: string): string {
  return `rbp backup resume ${backupId}`;
}

/** The error a suspended run's execution ends with; its message tells the operator how to resume. */
export function suspendedError(input: {
  readonly backupId: string;
  readonly volumeIds: readonly string[];
  readonly cause: string;
  readonly resumeAt: string;
}): BackupSuspendedError {
  return new BackupSuspendedError(
    `${input.cause} (backup ${input.backupId} suspended: locks of ${input.volumeIds.join(', ')} released, ` +
      `snapshots kept; within ${REDRIVE_WINDOW_DAYS} days, ${resumeCommand(input.backupId)} resumes it at ${input.resumeAt})`,
    { context: { backupId: input.backupId, resumeAt: input.resumeAt } },
  );
}

/** Epoch seconds for DynamoDB TTL: the item disappears some time after the lock expired. */
export function ttlEpochSeconds(lock: BackupLock): number {
  return Math.ceil(Date.parse(lock.expiresAt) / 1000);
}

/** Triggers of scheduled runs start with it (`schedule:<server>/<schedule>`, `schedule:<plan schedule>`). */
export const SCHEDULE_TRIGGER_PREFIX = 'schedule:';

/**
 * A scheduled run, or a plan task's (PLAN_TRIGGER_PREFIX: a plan runs on its schedule), that finds
 * its volume locked by a run still going (the previous backup overran into this schedule) is
 * skipped, not failed: the running backup covers the volume, and an alarm on it would page for
 * nothing. A manual or API run stays BackupAlreadyRunningError.
 */
export function skipsWhenLocked(trigger: string): boolean {
  return trigger.startsWith(SCHEDULE_TRIGGER_PREFIX) || trigger.startsWith(PLAN_TRIGGER_PREFIX);
}

export interface BackupLockStepDeps {
  readonly locks: LockStore;
  readonly clock: Clock;
  readonly findVolumes: VolumeFinder;
  /** The volumes' `rbp:source-server` tags: a run without serverId is filed under its volumes' server. */
  readonly serverTags: VolumeServerTags;
}

/**
 * Acquire Lock / Renew Lock / Release Lock. `acquire` validates the execution input, takes every
 * volume's lock and returns the normalised `$.backup`; `renew` re-takes the locks with a fresh
 * expiry (LockLostError when another run took an expired lock meanwhile); `release` deletes this
 * run's locks; `await-redrive` parks a suspended run (BackupSuspendedError) or, on a redrive, takes
 * its locks back.
 */
export async function runBackupLockStep(
  deps: BackupLockStepDeps,
  input: BackupLockInput,
  log: StepLog,
): Promise<BackupLockOutput> {
  switch (input.action) {
    case 'acquire': {
      const backup = await normaliseBackupRequest(
        input.request,
        input.execution,
        deps.findVolumes,
        deps.serverTags,
      );
      const locks = lockItemsFor({ ...backup, ttlSeconds: backup.lockTtlSeconds }, deps.clock.now());
      try {
        await deps.locks.acquire(locks);
      } catch (error) {
        if (!(error instanceof BackupAlreadyRunningError) || !skipsWhenLocked(backup.trigger)) throw error;
        log.warn('skipped: the previous backup is still running', { backupId: backup.backupId });
        return {
          skipped: { backup, reason: error.message, heldBy: String(error.context['heldBy']) },
        };
      }
      log.info('locks taken', {
        backupId: backup.backupId,
        volumeIds: backup.volumeIds,
        expiresAt: locks[0]?.expiresAt,
      });
      return { backup, round: 1 };
    }
    case 'renew': {
      const { backup } = input;
      const locks = lockItemsFor({ ...backup, ttlSeconds: backup.lockTtlSeconds }, deps.clock.now());
      try {
        await deps.locks.acquire(locks);
      } catch (error) {
        if (!(error instanceof BackupAlreadyRunningError)) throw error;
        const context = error.context;
        throw lockLostError(
          {
            volumeId: String(context['volumeId']),
            ownerId: '',
            backupId: String(context['heldBy']),
            expiresAt: String(context['heldUntil']),
          },
          backup.backupId,
        );
      }
      return { expiresAt: locks[0]?.expiresAt ?? '' };
    }
    case 'release':
      return deps.locks.release(input.backup.volumeIds, input.backup.ownerId);
    case 'await-redrive': {
      const { backup, enteredAt, resumeAt } = input;
      const held = await deps.locks.read(backup.volumeIds);
      if (
        redriveDecision(held, backup.ownerId, enteredAt) === 'park' &&
        (await deps.locks.park(backup.volumeIds, backup.ownerId, enteredAt))
      ) {
        throw suspendedError({ ...backup, cause: input.cause, resumeAt });
      }
      const locks = lockItemsFor({ ...backup, ttlSeconds: backup.lockTtlSeconds }, deps.clock.now());
      await deps.locks.acquire(locks);
      log.info('redrive: locks taken back', { backupId: backup.backupId, resumeAt });
      return { resumeAt, expiresAt: locks[0]?.expiresAt ?? '' };
    }
  }
}
