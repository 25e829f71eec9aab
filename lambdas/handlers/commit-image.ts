/**
 * Lambda "commit-image": Commit Image (core/backup/backup-steps.ts, commitImageStep): the range
 * summaries from the work bucket, then the manifest and the image record (the commit point).
 */
import { commitImageStep, type CommitImageDeps } from '../core/backup/backup-steps.ts';
import { commitInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type { CommitImageDeps };

export function createCommitImageHandler(deps: CommitImageDeps) {
  return createStepHandler('commit-image', commitInputSchema, (input) =>
    commitImageStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createCommitImageHandler({
    images: wiring.images(),
    records: wiring.records(),
    work: wiring.work(),
    gc: { coordination: wiring.gcCoordination(), objects: wiring.lifecycleObjects() },
  });
});
