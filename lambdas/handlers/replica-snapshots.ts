/**
 * Lambda "replica-snapshots": the snapshots of a backup's replica volumes.
 * - `create`: one snapshot per volume at the checkpoint (reusing one this round already took);
 * - `check`: where the wait stands (COMPLETED / PENDING / NEW_ROUND), never waiting itself;
 * - `discard`: deletes a failed round's snapshots;
 * - `rotate`: after the commit, marks the new snapshots as bases and deletes older bases and
 *   abandoned snapshots beyond retention.
 */
import { z } from 'zod';
import { ConflictError } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/ports.ts';
import {
  evaluateSnapshotProgress,
  reusableSnapshot,
  ROLE_BASE,
  ROLE_TAG,
  selectSnapshotsToDelete,
  snapshotTags,
  type SnapshotRef,
  type SnapshotView,
} from '../core/orchestration/replica-snapshots.ts';
import { Ec2ReplicaSnapshots } from '../aws/ec2-replica-snapshots.ts';
import { ec2Client } from './support/aws-clients.ts';
import { readEnvironment } from './support/environment.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField, checkpointField, roundField, snapshotsField } from './support/step-schemas.ts';

/** Bases kept per volume when the environment does not say: the newest is the next parent. */
export const DEFAULT_RETAIN_BASE_SNAPSHOTS = 1;

export const replicaSnapshotsEventSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('create'),
    backup: backupField,
    checkpoint: checkpointField,
    round: roundField,
  }),
  z.object({ action: z.literal('check'), backup: backupField, round: roundField, snapshots: snapshotsField }),
  z.object({ action: z.literal('discard'), backup: backupField, snapshots: snapshotsField }),
  z.object({ action: z.literal('rotate'), backup: backupField, snapshots: snapshotsField }),
]);

/** The EC2 operations this Lambda needs (Ec2ReplicaSnapshots implements them). */
export interface SnapshotPort {
  createSnapshot(volumeId: string, tags: Record<string, string>, description: string): Promise<SnapshotView>;
  describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotView[]>;
  snapshotsOfBackup(backupId: string): Promise<SnapshotView[]>;
  managedSnapshotsOfVolume(volumeId: string): Promise<SnapshotView[]>;
  tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'absent'>;
}

export interface ReplicaSnapshotsDeps {
  readonly snapshots: SnapshotPort;
  readonly clock: Clock;
  readonly retainBaseSnapshots: number;
}

/** Tags the snapshots as bases, then deletes what retention selects; returns the deleted ids. */
export async function rotateBaseSnapshots(
  deps: ReplicaSnapshotsDeps,
  backup: { readonly backupId: string; readonly lockTtlSeconds: number },
  items: readonly SnapshotRef[],
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
        logger.warn(error.message);
      }
    }
  }
  return deleted;
}

export function createReplicaSnapshotsHandler(deps: ReplicaSnapshotsDeps) {
  return createStepHandler('replica-snapshots', replicaSnapshotsEventSchema, async (event) => {
    const { backup } = event;
    switch (event.action) {
      case 'create': {
        const existing = await deps.snapshots.snapshotsOfBackup(backup.backupId);
        const items: SnapshotRef[] = [];
        for (const volumeId of backup.volumeIds) {
          const reused = reusableSnapshot(existing, volumeId, event.checkpoint.checkpointId);
          const snapshot =
            reused ??
            (await deps.snapshots.createSnapshot(
              volumeId,
              snapshotTags({ ...backup, volumeId, checkpointId: event.checkpoint.checkpointId }),
              `rbp backup ${backup.backupId} of ${volumeId} at checkpoint ${event.checkpoint.checkpointId}`,
            ));
          items.push({ volumeId, snapshotId: snapshot.snapshotId });
          logger.info(reused === undefined ? 'snapshot created' : 'snapshot reused', {
            volumeId,
            snapshotId: snapshot.snapshotId,
          });
        }
        const deadline = new Date(
          deps.clock.now().getTime() + backup.snapshotWait.timeoutSeconds * 1000,
        ).toISOString();
        return { items, deadline };
      }
      case 'check': {
        const observed = await deps.snapshots.describeSnapshots(
          event.snapshots.items.map((s) => s.snapshotId),
        );
        const progress = evaluateSnapshotProgress({
          expected: event.snapshots.items,
          observed,
          round: event.round,
          maxRounds: backup.maxSnapshotRounds,
          deadline: event.snapshots.deadline,
          now: deps.clock.now(),
        });
        if (progress.status === 'NEW_ROUND')
          logger.warn('snapshot failed; starting a new round', { failed: progress.failed });
        return { ...progress, nextRound: progress.status === 'NEW_ROUND' ? progress.nextRound : event.round };
      }
      case 'discard': {
        let deleted = 0;
        for (const item of event.snapshots.items) {
          if ((await deps.snapshots.deleteSnapshot(item.snapshotId)) === 'deleted') deleted += 1;
        }
        return { deleted };
      }
      case 'rotate':
        return { deleted: await rotateBaseSnapshots(deps, backup, event.snapshots.items) };
    }
  });
}

export const handler = lazyHandler(() => {
  const env = readEnvironment({
    RETAIN_BASE_SNAPSHOTS: z.coerce.number().int().min(1).max(100).default(DEFAULT_RETAIN_BASE_SNAPSHOTS),
  });
  return createReplicaSnapshotsHandler({
    snapshots: new Ec2ReplicaSnapshots(ec2Client()),
    clock: systemClock,
    retainBaseSnapshots: env.RETAIN_BASE_SNAPSHOTS,
  });
});
