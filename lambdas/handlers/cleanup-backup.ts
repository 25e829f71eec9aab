/**
 * Lambda "cleanup-backup": the failure path of the state machine. Releases this run's locks (a
 * conditional delete: never another run's) and deletes the snapshots this run took that no image
 * uses. When the image was already committed, its snapshots become bases instead. Tolerates a
 * state without `$.backup` (the run failed while taking the lock or validating its input).
 */
import { z } from 'zod';
import type { LockStore } from '../core/orchestration/backup-lock.ts';
import { readableCause } from '../core/orchestration/backup-outcome.ts';
import { executionRefSchema } from '../core/orchestration/backup-request.ts';
import { ROLE_PENDING, ROLE_TAG } from '../core/orchestration/replica-snapshots.ts';
import { systemClock } from '../core/ports.ts';
import { DynamoDbBackupLockStore } from '../aws/dynamodb-backup-lock.ts';
import { Ec2ReplicaSnapshots } from '../aws/ec2-replica-snapshots.ts';
import { documentClient, ec2Client } from './support/aws-clients.ts';
import { readEnvironment, TABLE_NAME } from './support/environment.ts';
import { rotateBaseSnapshots, type ReplicaSnapshotsDeps } from './replica-snapshots.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField, snapshotsField } from './support/step-schemas.ts';

export const cleanupEventSchema = z.object({
  state: z.looseObject({
    backup: backupField.optional(),
    snapshots: snapshotsField.optional(),
    image: z.unknown().optional(),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
    volumeIds: z.unknown().optional(),
  }),
  execution: executionRefSchema,
});

export interface CleanupResult {
  /** The failure's cause as an operator should read it (a Lambda error's message, not its JSON). */
  readonly cause: string;
  readonly locksReleased: number;
  readonly snapshotsDeleted: readonly string[];
  readonly snapshotsKeptAsBase: readonly string[];
}

export interface CleanupDeps extends ReplicaSnapshotsDeps {
  readonly locks: LockStore;
}

export function createCleanupHandler(deps: CleanupDeps) {
  return createStepHandler(
    'cleanup-backup',
    cleanupEventSchema,
    async ({ state, execution }): Promise<CleanupResult> => {
      const cause = readableCause(state.error?.Cause) ?? state.error?.Error ?? '(no cause)';
      const backup = state.backup;
      if (backup === undefined) {
        // Failed before the lock step returned: release whatever this execution may hold.
        const volumeIds = z.array(z.string()).safeParse(state.volumeIds);
        const released = volumeIds.success
          ? await deps.locks.release(volumeIds.data, execution.id)
          : { released: 0 };
        return { cause, locksReleased: released.released, snapshotsDeleted: [], snapshotsKeptAsBase: [] };
      }
      let snapshotsDeleted: string[] = [];
      let snapshotsKeptAsBase: string[] = [];
      if (state.image !== undefined && state.snapshots !== undefined) {
        await rotateBaseSnapshots(deps, backup, state.snapshots.items);
        snapshotsKeptAsBase = state.snapshots.items.map((s) => s.snapshotId);
      } else {
        const mine = await deps.snapshots.snapshotsOfBackup(backup.backupId);
        for (const snapshot of mine.filter((s) => s.tags[ROLE_TAG] === ROLE_PENDING)) {
          if ((await deps.snapshots.deleteSnapshot(snapshot.snapshotId)) === 'deleted')
            snapshotsDeleted.push(snapshot.snapshotId);
        }
        snapshotsDeleted = snapshotsDeleted.sort();
      }
      const { released } = await deps.locks.release(backup.volumeIds, backup.ownerId);
      logger.info('cleaned up', { released, snapshotsDeleted, snapshotsKeptAsBase });
      return { cause, locksReleased: released, snapshotsDeleted, snapshotsKeptAsBase };
    },
  );
}

export const handler = lazyHandler(() => {
  const env = readEnvironment({
    TABLE_NAME,
    RETAIN_BASE_SNAPSHOTS: z.coerce.number().int().min(1).max(100).default(1),
  });
  return createCleanupHandler({
    locks: new DynamoDbBackupLockStore(documentClient(), env.TABLE_NAME, systemClock),
    snapshots: new Ec2ReplicaSnapshots(ec2Client()),
    clock: systemClock,
    retainBaseSnapshots: env.RETAIN_BASE_SNAPSHOTS,
  });
});
