/**
 * Lambda "copy-range": one Distributed Map item (core/backup/backup-steps.ts, copyRangeStep),
 * within this worker's share of the read budget.
 */
import { performance } from 'node:perf_hooks';
import { copyRangeStep, type CopyRangeDeps } from '../core/backup/backup-steps.ts';
import { WORKER_LIST_REQUESTS_PER_SECOND } from '../core/backup/plan.ts';
import { copyRangeInputSchema } from '../core/orchestration/step-state.ts';
import { realSleep } from '../core/util/retry.ts';
import { TokenBucket } from '../core/util/token-bucket.ts';
import { stepLog } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

/** Burst of the read pacer in seconds of rate: a short burst keeps the per-snapshot sum under its limit. */
const READ_BURST_SECONDS = 0.2;

export type { CopyRangeDeps };

export function createCopyRangeHandler(deps: CopyRangeDeps) {
  return createStepHandler('copy-range', copyRangeInputSchema, (input) =>
    copyRangeStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  const pacer = (ratePerSecond: number, burst: number) =>
    new TokenBucket({ ratePerSecond, burst, nowMs: () => performance.now(), sleep: realSleep });
  return createCopyRangeHandler({
    worker: (readRequestsPerSecond) => ({
      ebs: wiring.ebs(),
      images: wiring.images(),
      readPacer: pacer(
        readRequestsPerSecond,
        Math.max(1, Math.floor(readRequestsPerSecond * READ_BURST_SECONDS)),
      ),
      listPacer: pacer(WORKER_LIST_REQUESTS_PER_SECOND, 1),
    }),
    work: wiring.work(),
  });
});
