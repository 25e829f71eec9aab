/**
 * Lambda "restore-worker": runs one restore job to its end, started asynchronously by the API
 * (POST /restores). File, directory and application jobs stream into the restore bucket; volume
 * jobs write a new EBS snapshot. A retryable failure is thrown, so Lambda's asynchronous retries
 * run the job again (safely: both kinds resume); a permanent one ends the job as failed. A file,
 * directory or application restore that cannot finish before the invocation's time is up stops
 * between two upload parts, keeps its progress in the job record and invokes this function again
 * for the same restore, which resumes after the stored parts.
 */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { RestoreLauncher } from '../core/api/restore-service.ts';
import { runVolumeRestoreJob } from '../core/restore/volume-restore-jobs.ts';
import { runRestoreJob } from '../core/file-restore/restore-jobs.ts';
import { lambdaWiring, type RestoreWorkerDeps } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler, type StepHandler } from './support/step-handler.ts';

export interface RestoreWorkerHandlerDeps extends RestoreWorkerDeps {
  /** Invokes this function again (a file restore's next time slice). */
  readonly relaunch?: (functionName: string) => RestoreLauncher;
}

export const restoreWorkerEventSchema = z.object({
  restoreId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/),
  kind: z.enum(['files', 'volume']),
});

export function createRestoreWorkerHandler(
  deps: RestoreWorkerHandlerDeps,
): StepHandler<{ restoreId: string; status: string }> {
  return (event, context?: Context) =>
    createStepHandler('restore-worker', restoreWorkerEventSchema, async (input) => {
      if (input.kind === 'volume') {
        const job = await runVolumeRestoreJob(deps.volumes, input.restoreId);
        return { restoreId: job.restoreId, status: job.status };
      }
      // Only an invocation that knows its time and can start its successor stops part-way; a
      // direct call (no Lambda context) runs the restore to its end.
      const remainingMs = context?.getRemainingTimeInMillis?.();
      const successor =
        remainingMs === undefined || context?.functionName === undefined
          ? undefined
          : deps.relaunch?.(context.functionName);
      const deadline =
        successor === undefined || remainingMs === undefined
          ? undefined
          : deps.files.clock.now().getTime() + remainingMs;
      const job = await runRestoreJob(deps.files, input.restoreId, deadline);
      if (job.status === 'running') await successor?.launch(input);
      return { restoreId: job.restoreId, status: job.status };
    })(event, context);
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createRestoreWorkerHandler({
    ...wiring.restoreWorker(),
    relaunch: (functionName) => wiring.restoreWorkerLauncher(functionName),
  });
});
