/**
 * Lambda "plan-backup": Plan Backup (core/backup/backup-steps.ts, planBackup): full or incremental,
 * the range items for the Distributed Map's ItemReader in the work bucket, and what the Map and the
 * commit need.
 */
import { planBackup, type PlanBackupDeps } from '../core/backup/backup-steps.ts';
import { planInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type { PlanBackupDeps };

export function createPlanBackupHandler(deps: PlanBackupDeps) {
  return createStepHandler('plan-backup', planInputSchema, (input) => planBackup(deps, input, stepLog));
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  const env = wiring.environment('WORK_BUCKET', 'SNAPSHOT_READ_BUDGET', 'RANGE_WORKERS');
  return createPlanBackupHandler({
    describeSnapshots: (ids) => wiring.replicaSnapshots().describeSnapshots(ids),
    records: wiring.records(),
    getManifest: (volumeId, imageId, sha256) => wiring.images().getManifest(volumeId, imageId, sha256),
    work: wiring.work(),
    workBucket: env.WORK_BUCKET,
    snapshotReadBudget: env.SNAPSHOT_READ_BUDGET,
    rangeWorkers: env.RANGE_WORKERS,
    quarantine: wiring.chunkQuarantine(),
  });
});
