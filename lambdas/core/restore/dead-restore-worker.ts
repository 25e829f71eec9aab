/**
 * A restore worker that died (Lambda timeout, out of memory, a crash) never returns, so it cannot
 * end its job. Lambda's asynchronous invocation hands the failed event, after its retries, to the
 * function's on-failure destination with the error it died of
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html); the
 * destination is the volume-restore step function (a function cannot name itself without a cycle
 * in its own IAM policy), which ends the job FAILED with that reason here, so no restore stays
 * RUNNING forever. A job that finished in the meantime is left as it is.
 */
import { z } from 'zod';
import type { JobFailure } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { deadInvocationFailure, deadInvocationRecordSchema } from '../jobs/dead-invocation.ts';

/** The invocation record Lambda sends to an on-failure destination (the fields read here). */
export const deadWorkerRecordSchema = deadInvocationRecordSchema(
  z.object({
    restoreId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/),
    kind: z.enum(['files', 'volume']),
  }),
);
export type DeadWorkerRecord = z.infer<typeof deadWorkerRecordSchema>;

type Status = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What this needs of a restore kind's job store. */
export interface DeadWorkerJobs<J extends { status: Status; updatedAt: string; failure?: JobFailure }> {
  get(restoreId: string): Promise<J>;
  update(job: J, from: readonly ('pending' | 'running')[]): Promise<void>;
}

/** The reason a dead worker's job failed, from the destination record. */
export function deadWorkerFailure(record: DeadWorkerRecord): JobFailure {
  return deadInvocationFailure(record, 'the restore worker', 'RestoreWorkerDied');
}

/** Ends the job of a dead worker as failed with the reason; returns the job as it is now. */
export async function failDeadWorkerJob<
  J extends { status: Status; updatedAt: string; failure?: JobFailure },
>(deps: { readonly jobs: DeadWorkerJobs<J>; readonly clock: Clock }, record: DeadWorkerRecord): Promise<J> {
  const job = await deps.jobs.get(record.requestPayload.restoreId);
  if (job.status !== 'pending' && job.status !== 'running') return job;
  const failed = {
    ...job,
    status: 'failed',
    failure: deadWorkerFailure(record),
    updatedAt: deps.clock.now().toISOString(),
  } as J;
  await deps.jobs.update(failed, ['pending', 'running']);
  return failed;
}
