/**
 * Lambda "volume-restore-step": every step of the volume-restore state machine
 * (statemachines/volume-restore.asl.json), chosen by the event's `step`: plan, range (one
 * Distributed Map item, paced to its share of the PutSnapshotBlock budget), complete, check,
 * volume (lambdas/core/restore/restored-volumes.ts), finish and fail
 * (lambdas/core/restore/volume-restore-steps.ts). PutSnapshotBlock throttles that
 * still happen are retried with backoff and counted in the EbsRequestsThrottled metric. It is also the restore worker's
 * on-failure destination: the record of a worker invocation that died (timeout, out of memory)
 * ends that restore job FAILED with the reason (lambdas/core/restore/dead-restore-worker.ts).
 */
import { performance } from 'node:perf_hooks';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
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
import { createRestoredVolumeStep } from '../core/restore/restored-volumes.ts';
import {
  deadWorkerRecordSchema,
  failDeadWorkerJob,
  type DeadWorkerJobs,
} from '../core/restore/dead-restore-worker.ts';
import type { RestoreJob } from '../core/file-restore/restore-jobs.ts';
import { z } from 'zod';
import { realSleep } from '../core/util/retry.ts';
import { TokenBucket } from '../core/util/token-bucket.ts';
import type { RequestPacer } from '../core/backup/block-reading.ts';
import { allPacers } from '../core/store/request-budget.ts';
import { EBS_REQUESTS_THROTTLED_METRIC } from '../core/metrics.ts';
import type { RestoreRangeOutput } from '../core/restore/volume-restore-state.ts';
import { metrics, stepLog } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { accountBudgets } from '../aws/request-budget-wiring.ts';
import { restoredVolumesOf } from '../aws/recovery-point-wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

/** Burst of a worker's write pacer in seconds of its rate: short, so the workers' sum stays under the budget. */
const WRITE_BURST_SECONDS = 0.2;

/** The file restore jobs a dead restore worker leaves behind (volume jobs are deps.jobs). */
export interface DeadWorkerDeps {
  readonly fileJobs: DeadWorkerJobs<RestoreJob>;
  /** The account's PutSnapshotBlock budget, shared with every other worker (docs/scale.md); absent: none. */
  readonly accountBudget?: (family: 'put-block', workerRatePerSecond: number) => RequestPacer;
  /** Called with each finished range's figures (the Lambda counts its throttles in a metric). */
  readonly onRangeRestored?: (output: RestoreRangeOutput) => void;
}

/** Writes one range's throttled PutSnapshotBlock requests as EbsRequestsThrottled, as copy-range does for reads. */
export function countRestoreThrottles(output: RestoreRangeOutput): void {
  const metric = metrics.singleMetric();
  metric.addMetric(EBS_REQUESTS_THROTTLED_METRIC, MetricUnit.Count, output.throttled);
}

const stepOrDeadWorkerSchema = z.union([volumeRestoreStepEventSchema, deadWorkerRecordSchema]);

export function createVolumeRestoreStepHandler(deps: VolumeRestoreStepDeps & DeadWorkerDeps) {
  return createStepHandler('volume-restore-step', stepOrDeadWorkerSchema, async (event) => {
    if ('requestContext' in event) {
      const job =
        event.requestPayload.kind === 'volume'
          ? await failDeadWorkerJob(deps, event)
          : await failDeadWorkerJob({ jobs: deps.fileJobs, clock: deps.clock }, event);
      return { restoreId: job.restoreId, status: job.status };
    }
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
        const output = await restoreRangeStep(
          {
            ...deps,
            writePacer:
              deps.accountBudget === undefined
                ? writePacer
                : allPacers(writePacer, deps.accountBudget('put-block', rate)),
            log: stepLog,
          },
          event,
        );
        deps.onRangeRestored?.(output);
        return output;
      }
      case 'complete':
        return completeVolumeRestore(deps, event.restoreId);
      case 'check':
        return checkVolumeRestoreSnapshot(deps, event.restoreId);
      case 'volume':
        return createRestoredVolumeStep(deps, event.restoreId);
      case 'finish':
        return finishVolumeRestore(deps, event.restoreId);
      case 'fail':
        return failVolumeRestore(deps, event.restoreId, event.error);
    }
  });
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createVolumeRestoreStepHandler({
    ...wiring.volumeRestoreSteps(),
    volumes: restoredVolumesOf(wiring.control),
    accountBudget: accountBudgets(wiring),
    onRangeRestored: countRestoreThrottles,
  });
});
