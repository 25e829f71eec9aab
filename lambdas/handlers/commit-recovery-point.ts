/**
 * Lambda "commit-recovery-point": Commit Recovery Point (core/orchestration/usable-recovery-point.ts,
 * commitUsableRecoveryPoint): once every volume's image is committed, the recovery point record
 * that lists them with their devices (docs/recovery-points.md); a ConflictError when every image
 * of the point was deleted meanwhile, so the run fails rather than announcing a backup that is gone.
 */
import type { CommitRecoveryPointDeps } from '../core/recovery-points/recovery-points.ts';
import { commitUsableRecoveryPoint } from '../core/orchestration/usable-recovery-point.ts';
import { commitRecoveryPointInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export function createCommitRecoveryPointHandler(deps: CommitRecoveryPointDeps) {
  return createStepHandler('commit-recovery-point', commitRecoveryPointInputSchema, (input) =>
    commitUsableRecoveryPoint(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createCommitRecoveryPointHandler(wiring.recoveryPointCommit());
});
