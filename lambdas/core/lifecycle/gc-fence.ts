/**
 * The garbage-collection fence: one DynamoDB item that a collection run and committing backups
 * agree on, so that a sweep never deletes an object that an image committed during or after it
 * references. docs/lifecycle.md ("Garbage collection: why it is safe") gives the argument; in short:
 *
 * - A run first moves the fence from `idle` at epoch e to `collecting` at epoch e+1 (a conditional
 *   update: one run at a time). From then until it moves back to `idle`, no image record can be
 *   written: a backup commit is a transaction whose condition is "fence idle at the epoch I
 *   verified against". So the set of images the run marks is every image committed before it,
 *   and nothing is committed while it sweeps.
 * - A backup opens a lease when it starts (epoch and phase it saw, start time). At commit, if the
 *   fence is still at that epoch and was idle at the start, no sweep ran while it worked, and
 *   every object it decided to reuse still exists. Otherwise it re-checks that the objects it did
 *   not write itself still exist (objects its parent image references need no check when the
 *   parent is still live: a live image's objects are never swept), then commits against the fence
 *   it read; a run that started in between makes the commit's condition fail, and it checks again.
 * - A sweep only deletes objects last modified before the run's cutoff: its start, or the start of
 *   the oldest running backup if earlier, minus a safety margin (clock skew between S3 and Lambda).
 *   Objects a running backup wrote are therefore never swept, which is why a commit need not
 *   re-check them. A lease older than BACKUP_LEASE_TTL_MS stops holding the cutoff back, so a
 *   backup that old re-checks everything, its own objects included.
 */
import { ConflictError } from '../errors.ts';
import type { Clock } from '../ports.ts';

/** Margin below the cutoff for clock skew between S3's LastModified and the Lambda clock. */
export const GC_SAFETY_MARGIN_MS = 60 * 60 * 1000;
/**
 * A lease older than this belongs to a backup that died without closing it; it no longer holds
 * back the cutoff. Safety does not depend on it: a backup that a collection overlapped (a run
 * suspended for days before its redrive included) re-checks at Commit Image every object the
 * collection could have swept (commit-gate.ts) and fails rather than commit a missing one.
 */
export const BACKUP_LEASE_TTL_MS = 26 * 60 * 60 * 1000;

export type FencePhase = 'idle' | 'collecting';

export interface GcFence {
  readonly epoch: number;
  readonly phase: FencePhase;
  /** The collection run holding the fence while `collecting`. */
  readonly runId?: string;
  readonly startedAt?: string;
  /** When the last run released the fence (ISO-8601); a commit compares it with its backup's start. */
  readonly releasedAt?: string;
  /** Last Object Lock generation whose extension a run completed (see object-lock.ts). */
  readonly lockedGeneration?: number;
}

export const INITIAL_FENCE: GcFence = { epoch: 0, phase: 'idle' };

export interface BackupLease {
  readonly backupId: string;
  readonly startedAt: string;
  /** Fence epoch and phase when the backup started. */
  readonly epoch: number;
  readonly phase: FencePhase;
}

/** The fence item and the backup leases (DynamoDB in production). */
export interface GcCoordination {
  getFence(): Promise<GcFence>;
  /** Replaces the fence if it still equals `expected` (epoch, phase, runId); false otherwise. */
  swapFence(expected: GcFence, next: GcFence): Promise<boolean>;
  putLease(lease: BackupLease): Promise<void>;
  deleteLease(backupId: string): Promise<void>;
  listLeases(): Promise<BackupLease[]>;
}

/** Called by a backup when it starts, before it reads its parent or writes anything. */
export async function openLease(
  coordination: GcCoordination,
  backupId: string,
  clock: Clock,
): Promise<BackupLease> {
  const fence = await coordination.getFence();
  const lease: BackupLease = {
    backupId,
    startedAt: clock.now().toISOString(),
    epoch: fence.epoch,
    phase: fence.phase,
  };
  await coordination.putLease(lease);
  return lease;
}

export type CommitGate =
  /** No collection ran since the lease: commit against this fence. */
  | { readonly action: 'commit'; readonly fence: GcFence }
  /**
   * A collection ran since the lease: re-check the objects the image reuses (and, for a lease past
   * its TTL, the ones it wrote too), then commit against this fence.
   */
  | { readonly action: 'verify-then-commit'; readonly fence: GcFence; readonly verifyWritten: boolean }
  /** A collection is running: wait and ask again (Step Functions retry with back-off). */
  | { readonly action: 'wait'; readonly fence: GcFence };

export function commitGate(
  lease: BackupLease,
  fence: GcFence,
  now: Date,
  leaseTtlMs: number = BACKUP_LEASE_TTL_MS,
): CommitGate {
  if (fence.phase === 'collecting') return { action: 'wait', fence };
  const expired = now.getTime() - Date.parse(lease.startedAt) >= leaseTtlMs;
  if (fence.epoch === lease.epoch && lease.phase === 'idle') return { action: 'commit', fence };
  return { action: 'verify-then-commit', fence, verifyWritten: expired };
}

/** The error a commit step raises while a collection holds the fence (retryable by name). */
export class GcFenceBusyError extends ConflictError {}

/** Objects a committing image must re-check after a collection: those it neither wrote nor took from a live parent. */
export function objectsToVerify(
  referenced: Iterable<string>,
  writtenByThisBackup: ReadonlySet<string>,
  referencedByLiveParent: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const key of referenced) {
    if (!writtenByThisBackup.has(key) && !referencedByLiveParent.has(key)) out.push(key);
  }
  return out;
}

/**
 * The sweep cutoff: objects last modified at or after it are never deleted by this run.
 * min(run start, oldest live lease start) − GC_SAFETY_MARGIN_MS.
 */
export function sweepCutoff(
  runStartedAt: Date,
  leases: readonly BackupLease[],
  marginMs: number = GC_SAFETY_MARGIN_MS,
  leaseTtlMs: number = BACKUP_LEASE_TTL_MS,
): Date {
  let earliest = runStartedAt.getTime();
  for (const lease of leases) {
    const started = Date.parse(lease.startedAt);
    if (runStartedAt.getTime() - started > leaseTtlMs) continue;
    earliest = Math.min(earliest, started);
  }
  return new Date(earliest - marginMs);
}
