/**
 * Lambda "volume-restore-step": every step of the volume-restore state machine
 * (statemachines/volume-restore.asl.json), chosen by the event's `step`: plan, range (one
 * Distributed Map item, paced to its share of the PutSnapshotBlock budget), complete, check,
 * finish and fail (lambdas/core/restore/volume-restore-steps.ts).
 */
import { performance } from 'node:perf_hooks';
import {
  checkVolumeRestoreSnapshot,
  completeVolumeRestore,
  failVolumeRestore,
  finishVolumeRestore,
  planVolumeRestore,
  restoreRangeStep,
  type VolumeRestoreStepDeps,
} from '../core/restore/volume-restore-steps.ts';
import { volumeRestoreStepEventSchema } from '../core/restore/volume-restore-state.ts';
import { realSleep } from '../core/util/retry.ts';
import { TokenBucket } from '../core/util/token-bucket.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

/** Burst of a worker's write pacer in seconds of its rate: short, so the workers' sum stays under the budget. */
const WRITE_BURST_SECONDS = 0.2;

export function createVolumeRestoreStepHandler(deps: VolumeRestoreStepDeps) {
  return createStepHandler('volume-restore-step', volumeRestoreStepEventSchema, async (event) => {
    switch (event.step) {
      case 'plan':
        return planVolumeRestore(deps, event.restoreId);
      case 'range': {
        const rate = event.job.writeRequestsPerSecond;
        const writePacer = new TokenBucket({
          ratePerSecond: rate,
          burst: Math.max(1, Math.floor(rate * WRITE_BURST_SECONDS)),
          nowMs: () => performance.now(),
          sleep: realSleep,
        });
        return restoreRangeStep({ ...deps, writePacer }, event);
      }
      case 'complete':
        return completeVolumeRestore(deps, event.restoreId);
      case 'check':
        return checkVolumeRestoreSnapshot(deps, event.restoreId);
      case 'finish':
        return finishVolumeRestore(deps, event.restoreId);
      case 'fail':
        return failVolumeRestore(deps, event.restoreId, event.error);
    }
  });
}

export const handler = lazyHandler(() => createVolumeRestoreStepHandler(lambdaWiring().volumeRestoreSteps()));
