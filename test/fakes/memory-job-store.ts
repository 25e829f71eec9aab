/** The in-memory JobStore: the semantics the DynamoDB adapter enforces with conditions. */
import {
  jobErrors,
  type JobRecord,
  type JobStatus,
  type JobStore,
} from '../../lambdas/core/jobs/job-store.ts';

export class MemoryJobStore implements JobStore {
  readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly noun = 'restore') {}

  create(job: JobRecord): Promise<void> {
    if (this.jobs.has(job.jobId)) return Promise.reject(jobErrors.exists(this.noun, job.jobId));
    this.jobs.set(job.jobId, structuredClone(job));
    return Promise.resolve();
  }

  get(jobId: string): Promise<JobRecord> {
    const job = this.jobs.get(jobId);
    return job === undefined
      ? Promise.reject(jobErrors.missing(this.noun, jobId))
      : Promise.resolve(structuredClone(job));
  }

  update(job: JobRecord, from: readonly JobStatus[]): Promise<void> {
    const current = this.jobs.get(job.jobId);
    if (current === undefined || !from.includes(current.status))
      return Promise.reject(jobErrors.notIn(this.noun, job.jobId, from));
    this.jobs.set(job.jobId, structuredClone(job));
    return Promise.resolve();
  }
}
