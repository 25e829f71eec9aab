/**
 * Lambda "copy-range": one Distributed Map item. Copies one block-index range of the snapshot
 * into chunks and segments (the engine's copyRange: idempotent, resumable) within this worker's
 * share of the read budget, then records the range's summary in the work bucket for the commit.
 * Returns a few figures only: the Map's results go to S3, not into the state.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { WORKER_LIST_REQUESTS_PER_SECOND } from '../core/backup/plan.ts';
import { copyRange, type RangeSummary, type RangeWorkerDeps } from '../core/backup/range-worker.ts';
import type { ObjectStore } from '../core/store/object-store.ts';
import { realSleep } from '../core/util/retry.ts';
import { TokenBucket } from '../core/util/token-bucket.ts';
import { engineStores } from './support/engine-deps.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { putJsonOnce, rangeSummaryKey } from './support/work-items.ts';

/** Burst of the read pacer in seconds of rate: a short burst keeps the per-snapshot sum under its limit. */
const READ_BURST_SECONDS = 0.2;

export const rangeItemSchema = z
  .object({
    volumeId: z.string().min(1),
    imageId: z.string().min(1),
    snapshotId: z.string().min(1),
    parentSnapshotId: z.string().min(1).optional(),
    parentImageId: z.string().min(1).optional(),
    firstBlock: z.number().int().min(0),
    endBlock: z.number().int().min(1),
  })
  .strict();

export const copyRangeEventSchema = z.object({
  range: rangeItemSchema,
  job: z.object({ backupId: z.string().min(1), readRequestsPerSecond: z.number().positive() }),
});

export interface CopyRangeDeps {
  /** Engine deps for this invocation's read rate (pacers are per worker). */
  readonly worker: (readRequestsPerSecond: number) => RangeWorkerDeps;
  readonly work: ObjectStore;
}

export function createCopyRangeHandler(deps: CopyRangeDeps) {
  return createStepHandler('copy-range', copyRangeEventSchema, async ({ range, job }) => {
    const summary: RangeSummary = await copyRange(range, deps.worker(job.readRequestsPerSecond));
    await putJsonOnce(deps.work, rangeSummaryKey(job.backupId, range.volumeId, range.firstBlock), summary);
    logger.info('range copied', {
      firstBlock: range.firstBlock,
      endBlock: range.endBlock,
      stats: summary.stats,
      requests: summary.requests,
    });
    return {
      firstBlock: summary.firstBlock,
      endBlock: summary.endBlock,
      blocksRead: summary.stats.blocksRead,
      chunksCreated: summary.stats.chunksCreated,
      bytesCreated: summary.stats.bytesCreated,
    };
  });
}

export const handler = lazyHandler(() => {
  const stores = engineStores();
  const ebs = stores.ebs();
  const pacer = (ratePerSecond: number, burst: number) =>
    new TokenBucket({ ratePerSecond, burst, nowMs: () => performance.now(), sleep: realSleep });
  return createCopyRangeHandler({
    worker: (readRequestsPerSecond) => ({
      ebs,
      images: stores.images,
      readPacer: pacer(
        readRequestsPerSecond,
        Math.max(1, Math.floor(readRequestsPerSecond * READ_BURST_SECONDS)),
      ),
      listPacer: pacer(WORKER_LIST_REQUESTS_PER_SECOND, 1),
    }),
    work: stores.work,
  });
});
