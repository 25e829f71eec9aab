/**
 * Lambda "commit-image": Commit Image (core/backup/backup-steps.ts, commitImageStep): the range
 * summaries from the work bucket, then the manifest and the image record (the commit point).
 * A commit that waits for a garbage collection (CollectionInProgressError) also writes how long
 * the collection's fence has been held, so a fence left held by a collection that died still
 * raises CollectionFenceHeldAlarm while backups wait for it.
 */
import { commitImageStep, type CommitImageDeps } from '../core/backup/backup-steps.ts';
import { CollectionInProgressError } from '../core/errors.ts';
import { fenceHeldSeconds } from '../core/lifecycle/commit-gate.ts';
import { COMMIT_IMAGE_STEP } from '../core/metrics.ts';
import { commitInputSchema } from '../core/orchestration/step-state.ts';
import { recordFenceHeld, stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type { CommitImageDeps };

/** Where a waiting commit reports the fence's age (CloudWatch in production). */
export interface FenceHeldReport {
  readonly record: (seconds: number) => void;
  readonly now: () => Date;
}

export function createCommitImageHandler(
  deps: CommitImageDeps,
  fenceHeld: FenceHeldReport = { record: recordFenceHeld, now: () => new Date() },
) {
  return createStepHandler(COMMIT_IMAGE_STEP, commitInputSchema, async (input) => {
    try {
      return await commitImageStep(deps, input, stepLog);
    } catch (error) {
      if (error instanceof CollectionInProgressError && error.fenceStartedAt !== undefined) {
        fenceHeld.record(
          fenceHeldSeconds({ phase: 'collecting', startedAt: error.fenceStartedAt }, fenceHeld.now()),
        );
      }
      throw error;
    }
  });
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
