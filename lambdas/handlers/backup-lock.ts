/**
 * Lambda "backup-lock": Acquire Lock, Renew Lock and Release Lock (core/orchestration/backup-lock.ts,
 * runBackupLockStep). `acquire` also validates the execution input and returns the normalised
 * `$.backup` that every later step reads.
 */
import { runBackupLockStep, type BackupLockStepDeps } from '../core/orchestration/backup-lock.ts';
import { volumeServerTagsFrom } from '../core/orchestration/backup-request.ts';
import { backupLockInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type BackupLockDeps = BackupLockStepDeps;

export function createBackupLockHandler(deps: BackupLockDeps) {
  return createStepHandler('backup-lock', backupLockInputSchema, (input) =>
    runBackupLockStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createBackupLockHandler({
    locks: wiring.locks(),
    clock: wiring.clock,
    findVolumes: (key, value) => wiring.replicaSnapshots().replicaVolumesTagged(key, value),
    serverTags: volumeServerTagsFrom((ids) => wiring.replicaSnapshots().volumeTags(ids)),
  });
});
