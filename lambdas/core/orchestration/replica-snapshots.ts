/**
 * Decisions about the snapshots a backup takes of its replica volumes: how they are tagged,
 * when one can be reused (retries and redrives never create a second snapshot), when the wait
 * loop is done, and which older snapshots to delete once an image is committed.
 *
 * Snapshot roles (tag `rbp:role`): `pending` from creation until the image commits, then `base`:
 * the newest base of a volume is the parent of the next incremental (ListChangedBlocks).
 */
import { NotFoundError } from '../errors.ts';
import { SnapshotFailedError, SnapshotWaitTimeoutError } from './orchestration-errors.ts';

export const MANAGED_TAG = 'rbp:managed';
export const BACKUP_ID_TAG = 'rbp:backup-id';
export const VOLUME_ID_TAG = 'rbp:volume-id';
export const SERVER_ID_TAG = 'rbp:server-id';
export const SNAPSHOT_CHECKPOINT_TAG = 'rbp:checkpoint-id';
export const ROLE_TAG = 'rbp:role';
export const ROLE_PENDING = 'pending';
export const ROLE_BASE = 'base';

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';

export interface SnapshotView {
  readonly snapshotId: string;
  readonly volumeId: string;
  readonly state: SnapshotState;
  /** "42%" as EC2 reports it. */
  readonly progress?: string;
  /** ISO-8601 UTC. */
  readonly startTime?: string;
  /** Size of the snapshotted volume in GiB, as EC2 reports it. */
  readonly volumeSizeGib?: number;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SnapshotRef {
  readonly volumeId: string;
  readonly snapshotId: string;
}

export function snapshotTags(input: {
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeId: string;
  readonly checkpointId: string;
}): Record<string, string> {
  return {
    [MANAGED_TAG]: 'true',
    [BACKUP_ID_TAG]: input.backupId,
    [SERVER_ID_TAG]: input.serverId,
    [VOLUME_ID_TAG]: input.volumeId,
    [SNAPSHOT_CHECKPOINT_TAG]: input.checkpointId,
    [ROLE_TAG]: ROLE_PENDING,
  };
}

/** A snapshot this run already took of `volumeId` at `checkpointId` that is still usable. */
export function reusableSnapshot(
  existing: readonly SnapshotView[],
  volumeId: string,
  checkpointId: string,
): SnapshotView | undefined {
  return existing.find(
    (s) =>
      s.volumeId === volumeId &&
      s.tags[SNAPSHOT_CHECKPOINT_TAG] === checkpointId &&
      s.tags[MANAGED_TAG] === 'true' &&
      (s.state === 'pending' || s.state === 'completed'),
  );
}

export type SnapshotProgress =
  | { readonly status: 'COMPLETED' }
  | { readonly status: 'PENDING'; readonly progress: readonly string[] }
  /** A snapshot failed: delete this round's snapshots and start a new round (new checkpoint). */
  | { readonly status: 'NEW_ROUND'; readonly nextRound: number; readonly failed: readonly string[] };

/**
 * Where the wait for this round's snapshots stands. A snapshot in `error` (or one that vanished)
 * starts a new round while rounds remain (SnapshotFailedError after `maxRounds`); a snapshot still
 * pending at the deadline is SnapshotWaitTimeoutError.
 */
export function evaluateSnapshotProgress(input: {
  readonly expected: readonly SnapshotRef[];
  readonly observed: readonly SnapshotView[];
  readonly round: number;
  readonly maxRounds: number;
  readonly deadline: string;
  readonly now: Date;
}): SnapshotProgress {
  const byId = new Map(input.observed.map((s) => [s.snapshotId, s]));
  const failed: string[] = [];
  const pending: string[] = [];
  for (const ref of input.expected) {
    const snapshot = byId.get(ref.snapshotId);
    if (snapshot === undefined || snapshot.state === 'error') {
      failed.push(`${ref.snapshotId} (${ref.volumeId}): ${snapshot === undefined ? 'vanished' : 'error'}`);
    } else if (snapshot.state !== 'completed') {
      pending.push(
        `${ref.snapshotId} (${ref.volumeId}): ${snapshot.state} ${snapshot.progress ?? ''}`.trimEnd(),
      );
    }
  }
  if (failed.length > 0) {
    if (input.round >= input.maxRounds) {
      throw new SnapshotFailedError(
        `snapshots failed in round ${input.round} of ${input.maxRounds}: ${failed.join('; ')}`,
        { context: { round: input.round } },
      );
    }
    return { status: 'NEW_ROUND', nextRound: input.round + 1, failed };
  }
  if (pending.length === 0) return { status: 'COMPLETED' };
  if (input.now.getTime() >= Date.parse(input.deadline)) {
    throw new SnapshotWaitTimeoutError(
      `snapshots still pending at ${input.deadline}: ${pending.join('; ')}`,
      {
        context: { deadline: input.deadline },
      },
    );
  }
  return { status: 'PENDING', progress: pending };
}

/** The snapshot of `volumeId` among `refs`, or NotFoundError. */
export function snapshotOf(refs: readonly SnapshotRef[], volumeId: string): SnapshotRef {
  const ref = refs.find((r) => r.volumeId === volumeId);
  if (ref === undefined)
    throw new NotFoundError(`no snapshot of ${volumeId} in this backup`, { context: { volumeId } });
  return ref;
}

/**
 * Which of a volume's managed snapshots to delete once `newBaseId` became its base:
 * - older bases beyond the `retainBases` newest (the new base counts as one);
 * - `pending` snapshots of other runs older than `orphanAgeSeconds` (runs that failed and were
 *   never redriven: their locks have long expired, nobody will use them).
 * Snapshots without `rbp:managed=true`, of other volumes, or of this run are never selected.
 */
export function selectSnapshotsToDelete(input: {
  readonly snapshots: readonly SnapshotView[];
  readonly volumeId: string;
  readonly newBaseId: string;
  readonly backupId: string;
  readonly retainBases: number;
  readonly orphanAgeSeconds: number;
  readonly now: Date;
}): string[] {
  if (input.retainBases < 1)
    throw new RangeError('retainBases must be at least 1: the newest base is the next parent');
  const mine = input.snapshots.filter(
    (s) =>
      s.volumeId === input.volumeId && s.tags[MANAGED_TAG] === 'true' && s.snapshotId !== input.newBaseId,
  );
  const olderBases = mine
    .filter((s) => s.tags[ROLE_TAG] === ROLE_BASE)
    .sort(
      (a, b) =>
        (b.startTime ?? '').localeCompare(a.startTime ?? '') || b.snapshotId.localeCompare(a.snapshotId),
    );
  const basesToDelete = olderBases.slice(input.retainBases - 1).map((s) => s.snapshotId);
  const orphanCutoff = input.now.getTime() - input.orphanAgeSeconds * 1000;
  const orphans = mine
    .filter(
      (s) =>
        s.tags[ROLE_TAG] === ROLE_PENDING &&
        s.tags[BACKUP_ID_TAG] !== input.backupId &&
        s.startTime !== undefined &&
        Date.parse(s.startTime) < orphanCutoff,
    )
    .map((s) => s.snapshotId);
  return [...basesToDelete, ...orphans].sort();
}
