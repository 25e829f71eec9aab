/**
 * Lambda "commit-recovery-point": Commit Recovery Point (core/recovery-points/recovery-points.ts,
 * commitRecoveryPointStep): once every volume's image is committed, the recovery point record that
 * lists them with their devices (docs/recovery-points.md).
 */
import {
  commitRecoveryPointStep,
  type CommitRecoveryPointDeps,
} from '../core/recovery-points/recovery-points.ts';
import { commitRecoveryPointInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export function createCommitRecoveryPointHandler(deps: CommitRecoveryPointDeps) {
  return createStepHandler('commit-recovery-point', commitRecoveryPointInputSchema, (input) =>
    commitRecoveryPointStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createCommitRecoveryPointHandler(wiring.recoveryPointCommit());
});
