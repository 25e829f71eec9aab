/**
 * Lambda "restore-worker": runs one restore job to its end, started asynchronously by the API
 * (POST /restores). File, directory and application jobs stream into the restore bucket; volume
 * jobs write a new EBS snapshot. A retryable failure is thrown, so Lambda's asynchronous retries
 * run the job again (safely: both kinds resume); a permanent one ends the job as failed.
 */
import { z } from 'zod';
import { runVolumeRestoreJob } from '../core/restore/volume-restore-jobs.ts';
import { runRestoreJob } from '../core/file-restore/restore-jobs.ts';
import { lambdaWiring, type RestoreWorkerDeps } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export const restoreWorkerEventSchema = z.object({
  restoreId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/),
  kind: z.enum(['files', 'volume']),
});

export function createRestoreWorkerHandler(deps: RestoreWorkerDeps) {
  return createStepHandler('restore-worker', restoreWorkerEventSchema, async (event) => {
    const job =
      event.kind === 'volume'
        ? await runVolumeRestoreJob(deps.volumes, event.restoreId)
        : await runRestoreJob(deps.files, event.restoreId);
    return { restoreId: job.restoreId, status: job.status };
  });
}

export const handler = lazyHandler(() => createRestoreWorkerHandler(lambdaWiring().restoreWorker()));
