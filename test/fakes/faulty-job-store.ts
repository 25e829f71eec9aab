/**
 * A fault-injecting JobStore wrapper: throttles and 5xx before a request reaches the store, at
 * seeded random, and the retry a caller puts around it (core/util/retry.ts). The contract suite
 * runs against the pair: faults the product retries must not change what the store answers.
 */
import type { JobRecord, JobStatus, JobStore } from '../../lambdas/core/jobs/job-store.ts';
import { withRetry, type RetryPolicy } from '../../lambdas/core/util/retry.ts';
import { seededRandom } from '../../local/seeded-random.ts';
import { InjectedRequestFaults } from './injected-faults.ts';

export class FaultyJobStore implements JobStore {
  readonly injected = { throttles: 0, serverErrors: 0 };
  private readonly faults: InjectedRequestFaults;

  constructor(
    private readonly inner: JobStore,
    private readonly faultRate: number,
    seed = 1,
  ) {
    this.faults = new InjectedRequestFaults(
      seededRandom(seed),
      { throttle: 'ThrottlingException', serverError: 'InternalServerError' },
      this.injected,
    );
  }

  private before(operation: string, jobId: string): void {
    const rate = this.faultRate / 2;
    this.faults.before({ throttle: rate, serverError: rate }, `${operation} ${jobId}`);
  }

  create(job: JobRecord): Promise<void> {
    this.before('create', job.jobId);
    return this.inner.create(job);
  }

  get(jobId: string): Promise<JobRecord> {
    this.before('get', jobId);
    return this.inner.get(jobId);
  }

  update(job: JobRecord, from: readonly JobStatus[]): Promise<void> {
    this.before('update', job.jobId);
    return this.inner.update(job, from);
  }
}

/** A JobStore that retries what `inner` throws retryable, as the product's callers do. */
export function retrying(inner: JobStore, policy: RetryPolicy): JobStore {
  return {
    create: (job) => withRetry(policy, () => inner.create(job)),
    get: (jobId) => withRetry(policy, () => inner.get(jobId)),
    update: (job, from) => withRetry(policy, () => inner.update(job, from)),
  };
}
