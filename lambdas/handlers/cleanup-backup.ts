/**
 * Lambda "cleanup-backup": Clean Up, the failure path of the state machine
 * (core/orchestration/backup-outcome.ts, cleanUpFailedRun): releases this run's locks and deletes
 * the snapshots no image uses, or keeps them as bases when the image was already committed.
 */
import { cleanUpFailedRun, type CleanupDeps } from '../core/orchestration/backup-outcome.ts';
import { cleanupInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type { CleanupDeps };

export function createCleanupHandler(deps: CleanupDeps) {
  return createStepHandler('cleanup-backup', cleanupInputSchema, (input) =>
    cleanUpFailedRun(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createCleanupHandler({
    locks: wiring.locks(),
    snapshots: wiring.replicaSnapshots(),
    clock: wiring.clock,
    retainBaseSnapshots: wiring.environment('RETAIN_BASE_SNAPSHOTS').RETAIN_BASE_SNAPSHOTS,
  });
});
