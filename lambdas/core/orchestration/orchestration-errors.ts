/**
 * Errors of the backup orchestration. Their class names are the Step Functions error names that
 * the ASL Retry and Catch clauses match (statemachines/backup.asl.json), so renaming one is a
 * breaking change of the state machine: test/statemachines checks the two stay in step.
 */
import { ConflictError, PermanentError, RetryableError } from '../errors.ts';

/** Another backup holds the lock of one of the volumes. Ends the run as "Backup Already Running". */
export class BackupAlreadyRunningError extends ConflictError {}

/** This run's lock was taken over (it expired and another run took it) before the commit. */
export class LockLostError extends ConflictError {}

/**
 * The run failed after its retries and was suspended: its locks are released and its snapshots
 * kept for a redrive. The execution fails with this error at "Await Redrive"; a redrive of the
 * execution resumes at the state that failed (docs/architecture.md, "Failure paths").
 */
export class BackupSuspendedError extends PermanentError {}

/** The lock table refused a write for a reason that may clear (a transaction conflict). */
export class LockContentionError extends RetryableError {}

/** The replica did not reach the requested checkpoint in sync before the deadline. */
export class ReplicaSyncTimeoutError extends PermanentError {}

/** The volume is not a replica this product may back up (tag rbp:replica is not "true"). */
export class NotAReplicaError extends PermanentError {}

/**
 * EC2 refused CreateSnapshot because the volume already has its maximum of pending snapshots
 * (1 on st1/sc1, which DRS staging disks can be; 5 otherwise) or its snapshot rate was exceeded.
 * Retried by the state machine with a long backoff (EC2 error codes ConcurrentSnapshotLimitExceeded
 * and SnapshotCreationPerVolumeRateExceeded:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 */
export class SnapshotLimitExceededError extends RetryableError {}

/** A snapshot ended in state `error` more often than the run allows, or cannot be created at all. */
export class SnapshotFailedError extends PermanentError {}

/** A snapshot stayed pending past the run's deadline. */
export class SnapshotWaitTimeoutError extends PermanentError {}

/**
 * A range of a volume failed to copy with an error that may clear (throttling, a 5xx, a Lambda
 * timeout): Explain Copy Failure's answer when no permanent error was recorded. On purpose in no
 * Retry clause: the range's own retries are spent, so the run is suspended for a redrive, and the
 * message says why (statemachines/backup.asl.json, Explain Copy Failure).
 */
export class RangeCopyFailedError extends RetryableError {}

/**
 * Step Functions error names of the errors above and of the shared hierarchy that a handler may
 * throw and that are worth retrying in place. Every name here appears in the ASL's Retry clauses.
 */
export const RETRYABLE_ERROR_NAMES = [
  'RetryableError',
  'ThrottledError',
  'IntegrityError',
  'LockContentionError',
] as const;
