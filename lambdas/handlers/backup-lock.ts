/**
 * Lambda "backup-lock": takes (`acquire`), extends (`renew`) and releases (`release`) the locks of
 * a backup's volumes. `acquire` also validates the execution input and returns the normalised
 * `$.backup` that every later step reads.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../core/ports.ts';
import { lockItemsFor, lockLostError, type LockStore } from '../core/orchestration/backup-lock.ts';
import {
  executionRefSchema,
  normaliseBackupRequest,
  type BackupContext,
  type VolumeFinder,
} from '../core/orchestration/backup-request.ts';
import { BackupAlreadyRunningError } from '../core/orchestration/orchestration-errors.ts';
import { DynamoDbBackupLockStore } from '../aws/dynamodb-backup-lock.ts';
import { Ec2ReplicaSnapshots } from '../aws/ec2-replica-snapshots.ts';
import { documentClient, ec2Client } from './support/aws-clients.ts';
import { readEnvironment, TABLE_NAME } from './support/environment.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField } from './support/step-schemas.ts';

export const backupLockEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('acquire'), request: z.unknown(), execution: executionRefSchema }),
  z.object({ action: z.literal('renew'), backup: backupField }),
  z.object({ action: z.literal('release'), backup: backupField }),
]);

export type BackupLockResult =
  | { readonly backup: BackupContext; readonly round: number }
  | { readonly expiresAt: string }
  | { readonly released: number };

export interface BackupLockDeps {
  readonly locks: LockStore;
  readonly clock: Clock;
  readonly findVolumes: VolumeFinder;
}

export function createBackupLockHandler(deps: BackupLockDeps) {
  return createStepHandler('backup-lock', backupLockEventSchema, async (event): Promise<BackupLockResult> => {
    switch (event.action) {
      case 'acquire': {
        const backup = await normaliseBackupRequest(event.request, event.execution, deps.findVolumes);
        const locks = lockItemsFor({ ...backup, ttlSeconds: backup.lockTtlSeconds }, deps.clock.now());
        await deps.locks.acquire(locks);
        logger.info('locks taken', {
          backupId: backup.backupId,
          volumeIds: backup.volumeIds,
          expiresAt: locks[0]?.expiresAt,
        });
        return { backup, round: 1 };
      }
      case 'renew': {
        const { backup } = event;
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
        return deps.locks.release(event.backup.volumeIds, event.backup.ownerId);
    }
  });
}

export const handler = lazyHandler(() => {
  const env = readEnvironment({ TABLE_NAME });
  const ec2 = new Ec2ReplicaSnapshots(ec2Client());
  return createBackupLockHandler({
    locks: new DynamoDbBackupLockStore(documentClient(), env.TABLE_NAME, systemClock),
    clock: systemClock,
    findVolumes: (key, value) => ec2.replicaVolumesTagged(key, value),
  });
});
