/**
 * Lambda "copy-range": one Distributed Map item (core/backup/backup-steps.ts, copyRangeStep),
 * within this worker's share of the per-snapshot read budget and within the account's budgets of
 * GetSnapshotBlock and List* requests, shared with every other worker (docs/scale.md). Throttles
 * that still happen are retried with backoff and counted in the EbsRequestsThrottled metric.
 * With `action: 'explain-failure'` (the state Explain Copy Failure) it throws the recorded error of
 * a failed Copy Ranges instead (core/backup/range-failures.ts).
 */
import { performance } from 'node:perf_hooks';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { copyRangeStep, type CopyRangeDeps } from '../core/backup/backup-steps.ts';
import { READ_BURST_SECONDS, WORKER_LIST_REQUESTS_PER_SECOND } from '../core/backup/plan.ts';
import { EBS_REQUESTS_THROTTLED_METRIC } from '../core/metrics.ts';
import { copyRangeFunctionInputSchema } from '../core/orchestration/step-state.ts';
import { explainCopyFailure, workAreaRangeFailures } from '../core/backup/range-failures.ts';
import { realSleep } from '../core/util/retry.ts';
import { TokenBucket } from '../core/util/token-bucket.ts';
import { allPacers } from '../core/store/request-budget.ts';
import { metrics, stepLog } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { accountBudgets } from '../aws/request-budget-wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export type { CopyRangeDeps };

export function createCopyRangeHandler(deps: CopyRangeDeps) {
  return createStepHandler('copy-range', copyRangeFunctionInputSchema, (input) =>
    'action' in input ? explainCopyFailure(deps.work, input) : copyRangeStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  const accountBudget = accountBudgets(wiring);
  const work = wiring.work();
  const pacer = (ratePerSecond: number, burst: number) =>
    new TokenBucket({ ratePerSecond, burst, nowMs: () => performance.now(), sleep: realSleep });
  return createCopyRangeHandler({
    worker: (readRequestsPerSecond) => ({
      ebs: wiring.ebs(),
      images: wiring.images(),
      quarantine: wiring.chunkQuarantine(),
      readPacer: allPacers(
        pacer(readRequestsPerSecond, Math.max(1, Math.floor(readRequestsPerSecond * READ_BURST_SECONDS))),
        accountBudget('get-block', readRequestsPerSecond),
      ),
      listPacer: allPacers(
        pacer(WORKER_LIST_REQUESTS_PER_SECOND, 1),
        accountBudget('list', WORKER_LIST_REQUESTS_PER_SECOND),
      ),
    }),
    work,
    failures: workAreaRangeFailures(work),
    onCopied: (summary) => {
      const metric = metrics.singleMetric();
      metric.addMetric(EBS_REQUESTS_THROTTLED_METRIC, MetricUnit.Count, summary.requests.throttled ?? 0);
    },
  });
});
