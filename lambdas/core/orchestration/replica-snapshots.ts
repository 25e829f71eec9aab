/**
 * Decisions about the snapshots a backup takes of its replica volumes: how they are tagged,
 * when one can be reused (retries and redrives never create a second snapshot), when the wait
 * loop is done, and which older snapshots to delete once an image is committed.
 *
 * Snapshot roles (tag `rbp:role`): `pending` from creation until the image commits, then `base`:
 * the newest base of a volume is the parent of the next incremental (ListChangedBlocks). A run
 * suspended on its failure path tags its pending snapshots `released`: a redrive takes them back
 * (`reclaim`), and the next image committed of the volume deletes them (nobody else uses them).
 */
import { z } from 'zod';
import { createPrimarySnapshots, SOURCE_TAG, type PrimarySnapshotPort } from '../backup/primary-source.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, StepLog } from '../ports.ts';
import { SnapshotFailedError, SnapshotWaitTimeoutError } from './orchestration-errors.ts';
import type { SnapshotPort } from './orchestration-ports.ts';
import type {
  ReplicaSnapshotsInput,
  ReplicaSnapshotsOutput,
  SnapshotRef,
  SnapshotSet,
} from './step-state.ts';

export const MANAGED_TAG = 'rbp:managed';
export const BACKUP_ID_TAG = 'rbp:backup-id';
export const VOLUME_ID_TAG = 'rbp:volume-id';
export const SERVER_ID_TAG = 'rbp:server-id';
export const SNAPSHOT_CHECKPOINT_TAG = 'rbp:checkpoint-id';
export const ROLE_TAG = 'rbp:role';
export const ROLE_PENDING = 'pending';
export const ROLE_BASE = 'base';
export const ROLE_RELEASED = 'released';

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

export type { SnapshotRef };

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

/**
 * The first wait for a pending snapshot: a snapshot that copies a few changed blocks completes in
 * seconds (EBS copies only the blocks changed since the previous snapshot,
 * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html).
 */
export const SNAPSHOT_POLL_FIRST_SECONDS = 2;
/**
 * Each wait is this share of the time already waited: a snapshot is seen complete at most 50%
 * after it completed (plus the first wait), and a wait of hours costs a few dozen looks.
 */
export const SNAPSHOT_POLL_GROWTH = 0.5;

/**
 * Seconds until the next look at a pending snapshot, `elapsedSeconds` after it was created: half
 * the time waited so far, at least SNAPSHOT_POLL_FIRST_SECONDS, at most `capSeconds` (the request's
 * `snapshotWait.intervalSeconds`).
 */
export function nextSnapshotPollSeconds(elapsedSeconds: number, capSeconds: number): number {
  const grown = Math.ceil(Math.max(0, elapsedSeconds) * SNAPSHOT_POLL_GROWTH);
  return Math.max(1, Math.min(capSeconds, Math.max(SNAPSHOT_POLL_FIRST_SECONDS, grown)));
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
 * - `released` snapshots of other runs (suspended runs: a redrive of one now finds its snapshot
 *   gone and ends cleanly; this volume's newer image supersedes it);
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
  // One lineage per source: snapshots of the primary (rbp:source=primary, of another EBS volume,
  // rbp:volume-id naming this one) never rotate out the replica's bases, nor the other way round.
  const lineage =
    input.snapshots.find((s) => s.snapshotId === input.newBaseId)?.tags[SOURCE_TAG] ?? 'replica';
  const mine = input.snapshots.filter(
    (s) =>
      (s.volumeId === input.volumeId || s.tags[VOLUME_ID_TAG] === input.volumeId) &&
      (s.tags[SOURCE_TAG] ?? 'replica') === lineage &&
      s.tags[MANAGED_TAG] === 'true' &&
      s.snapshotId !== input.newBaseId,
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
  const released = mine
    .filter((s) => s.tags[ROLE_TAG] === ROLE_RELEASED && s.tags[BACKUP_ID_TAG] !== input.backupId)
    .map((s) => s.snapshotId);
  return [...basesToDelete, ...orphans, ...released].sort();
}

/** Bases kept per volume when the configuration does not say: the newest is the next parent. */
export const DEFAULT_RETAIN_BASE_SNAPSHOTS = 1;
/** Most bases kept per volume: each is a full snapshot's worth of storage once the older ones go. */
export const MAX_RETAIN_BASE_SNAPSHOTS = 100;
/** How many base snapshots a volume keeps: at least one, the next incremental's parent. */
export const retainBaseSnapshotsSchema = z.number().int().min(1).max(MAX_RETAIN_BASE_SNAPSHOTS);

export interface ReplicaSnapshotsDeps {
  readonly snapshots: SnapshotPort;
  /** Backups from the primary (`source: primary`); without it such a backup fails. */
  readonly primaries?: PrimarySnapshotPort;
  readonly clock: Clock;
  readonly retainBaseSnapshots: number;
}

/** Tags the snapshots as bases, then deletes what retention selects; returns the deleted ids. */
export async function rotateBaseSnapshots(
  deps: ReplicaSnapshotsDeps,
  backup: { readonly backupId: string; readonly lockTtlSeconds: number },
  items: readonly SnapshotRef[],
  log: StepLog,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const item of items) {
    await deps.snapshots.tagSnapshot(item.snapshotId, { [ROLE_TAG]: ROLE_BASE });
    const candidates = selectSnapshotsToDelete({
      snapshots: await deps.snapshots.managedSnapshotsOfVolume(item.volumeId),
      volumeId: item.volumeId,
      newBaseId: item.snapshotId,
      backupId: backup.backupId,
      retainBases: deps.retainBaseSnapshots,
      orphanAgeSeconds: backup.lockTtlSeconds,
      now: deps.clock.now(),
    });
    for (const snapshotId of candidates) {
      try {
        if ((await deps.snapshots.deleteSnapshot(snapshotId)) === 'deleted') deleted.push(snapshotId);
      } catch (error) {
        // A snapshot someone made an AMI from stays; it is reported, not fatal.
        if (!(error instanceof ConflictError)) throw error;
        log.warn(error.message);
      }
    }
  }
  return deleted;
}

/**
 * A redrive of a suspended run takes its snapshots back: `released` → `pending`. A snapshot that is
 * gone (a later image of the volume deleted it) or no longer usable ends the run: NotFoundError
 * names it, and the state machine's Clean Up releases the locks again.
 */
async function reclaimSnapshots(
  deps: ReplicaSnapshotsDeps,
  backup: { readonly backupId: string },
  items: readonly SnapshotRef[],
): Promise<string[]> {
  const observed = new Map(
    (await deps.snapshots.describeSnapshots(items.map((s) => s.snapshotId))).map((s) => [s.snapshotId, s]),
  );
  const reclaimed: string[] = [];
  for (const item of items) {
    const snapshot = observed.get(item.snapshotId);
    if (snapshot === undefined || snapshot.state === 'error') {
      throw new NotFoundError(
        `snapshot ${item.snapshotId} of ${item.volumeId} is ${snapshot === undefined ? 'gone' : 'in error'}: ` +
          `backup ${backup.backupId} cannot resume; start a new backup`,
        { context: { snapshotId: item.snapshotId, volumeId: item.volumeId } },
      );
    }
    if (snapshot.tags[BACKUP_ID_TAG] !== undefined && snapshot.tags[BACKUP_ID_TAG] !== backup.backupId) {
      throw new ValidationError(
        `snapshot ${item.snapshotId} belongs to backup ${snapshot.tags[BACKUP_ID_TAG]}, not ${backup.backupId}`,
        { context: { snapshotId: item.snapshotId } },
      );
    }
    if (snapshot.tags[ROLE_TAG] === ROLE_RELEASED) {
      await deps.snapshots.tagSnapshot(item.snapshotId, { [ROLE_TAG]: ROLE_PENDING });
      reclaimed.push(item.snapshotId);
    }
  }
  return reclaimed;
}

/** Create Snapshots: one per volume at the checkpoint, reusing one this round already took. */
async function createRoundSnapshots(
  deps: ReplicaSnapshotsDeps,
  input: Extract<ReplicaSnapshotsInput, { action: 'create' }>,
  log: StepLog,
): Promise<SnapshotSet> {
  const { backup, checkpoint } = input;
  const existing = await deps.snapshots.snapshotsOfBackup(backup.backupId);
  if (backup.source === 'primary') return createPrimaryRoundSnapshots(deps, input, existing, log);
  const items: SnapshotRef[] = [];
  for (const volumeId of backup.volumeIds) {
    const reused = reusableSnapshot(existing, volumeId, checkpoint.checkpointId);
    const snapshot =
      reused ??
      (await deps.snapshots.createSnapshot(
        volumeId,
        snapshotTags({ ...backup, volumeId, checkpointId: checkpoint.checkpointId }),
        `rbp backup ${backup.backupId} of ${volumeId} at checkpoint ${checkpoint.checkpointId}`,
      ));
    items.push({ volumeId, snapshotId: snapshot.snapshotId });
    log.info(reused === undefined ? 'snapshot created' : 'snapshot reused', {
      volumeId,
      snapshotId: snapshot.snapshotId,
    });
  }
  const deadline = new Date(
    deps.clock.now().getTime() + backup.snapshotWait.timeoutSeconds * 1000,
  ).toISOString();
  return { items, deadline };
}

/** The tags every snapshot of a primary set shares: snapshotTags without the per-volume one. */
function commonPrimaryTags(
  backup: { readonly backupId: string; readonly serverId: string },
  checkpointId: string,
): Record<string, string> {
  const { [VOLUME_ID_TAG]: _perVolume, ...common } = snapshotTags({ ...backup, volumeId: '', checkpointId });
  return common;
}

/**
 * Create Snapshots of a backup from the primary: one CreateSnapshots per instance of the primaries
 * (core/backup/primary-source.ts); a retry reuses this round's primary snapshots when it has one
 * of every volume.
 */
async function createPrimaryRoundSnapshots(
  deps: ReplicaSnapshotsDeps,
  input: Extract<ReplicaSnapshotsInput, { action: 'create' }>,
  existing: readonly SnapshotView[],
  log: StepLog,
): Promise<SnapshotSet> {
  const { backup, checkpoint } = input;
  if (deps.primaries === undefined) {
    throw new ValidationError(
      `backup ${backup.backupId} is from the primary, which this deployment cannot snapshot`,
      {
        context: { backupId: backup.backupId },
      },
    );
  }
  const reusable = backup.volumeIds.map((volumeId) =>
    existing.find(
      (s) =>
        s.tags[SOURCE_TAG] === 'primary' &&
        s.tags[VOLUME_ID_TAG] === volumeId &&
        s.tags[SNAPSHOT_CHECKPOINT_TAG] === checkpoint.checkpointId &&
        (s.state === 'pending' || s.state === 'completed'),
    ),
  );
  const items: SnapshotRef[] = reusable.every((s) => s !== undefined)
    ? backup.volumeIds.map((volumeId, index) => ({ volumeId, snapshotId: reusable[index]!.snapshotId }))
    : await createPrimarySnapshots(
        deps.primaries,
        backup,
        commonPrimaryTags(backup, checkpoint.checkpointId),
        (volumeId) => ({ [VOLUME_ID_TAG]: volumeId }),
        log,
      );
  const deadline = new Date(
    deps.clock.now().getTime() + backup.snapshotWait.timeoutSeconds * 1000,
  ).toISOString();
  return { items, deadline };
}

/**
 * The replica-snapshots step: `create` (one snapshot per volume at the checkpoint), `check` (where
 * the wait stands and how long to wait, never waiting itself), `discard` (a failed round's
 * snapshots), `rotate` (after the commit: bases, then retention) and `reclaim` (a redrive of a
 * suspended run).
 */
export async function runReplicaSnapshotsStep(
  deps: ReplicaSnapshotsDeps,
  input: ReplicaSnapshotsInput,
  log: StepLog,
): Promise<ReplicaSnapshotsOutput> {
  switch (input.action) {
    case 'create':
      return createRoundSnapshots(deps, input, log);
    case 'check': {
      const observed = await deps.snapshots.describeSnapshots(input.snapshots.items.map((s) => s.snapshotId));
      const now = deps.clock.now();
      const progress = evaluateSnapshotProgress({
        expected: input.snapshots.items,
        observed,
        round: input.round,
        maxRounds: input.backup.maxSnapshotRounds,
        deadline: input.snapshots.deadline,
        now,
      });
      const createdAtMs =
        Date.parse(input.snapshots.deadline) - input.backup.snapshotWait.timeoutSeconds * 1000;
      const waitSeconds = nextSnapshotPollSeconds(
        (now.getTime() - createdAtMs) / 1000,
        input.backup.snapshotWait.intervalSeconds,
      );
      switch (progress.status) {
        case 'NEW_ROUND':
          log.warn('snapshot failed; starting a new round', { failed: progress.failed });
          return { ...progress, failed: [...progress.failed], waitSeconds };
        case 'PENDING':
          return { ...progress, progress: [...progress.progress], nextRound: input.round, waitSeconds };
        case 'COMPLETED':
          return { ...progress, nextRound: input.round, waitSeconds };
      }
      break;
    }
    case 'discard': {
      let deleted = 0;
      for (const item of input.snapshots.items) {
        if ((await deps.snapshots.deleteSnapshot(item.snapshotId)) === 'deleted') deleted += 1;
      }
      return { deleted };
    }
    case 'rotate':
      return { deleted: await rotateBaseSnapshots(deps, input.backup, input.snapshots.items, log) };
    case 'reclaim':
      return { reclaimed: await reclaimSnapshots(deps, input.backup, input.snapshots.items) };
  }
}
