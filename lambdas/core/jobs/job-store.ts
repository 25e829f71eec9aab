/**
 * The product's one job model (docs/jobs.md): restores today, plan runs, workflow runs and the
 * GC, scrub and retention jobs as they come. A job is a record with a kind, an id, a status, its
 * parameters, progress, result or failure, and times; one store port (JobStore) keeps them, with
 * conditional status transitions; one lifecycle (runJob) moves a job from pending or running to
 * succeeded or failed. Each kind maps its own job type onto the record with a JobCodec, so its
 * code keeps its own types while the store, the adapter and the contract suite are shared.
 */
import { ConflictError, isRetryable, jobFailureOf, NotFoundError, type JobFailure } from '../errors.ts';
import type { Clock } from '../ports.ts';

/** Version of the stored record (docs/jobs.md); a reader refuses versions it does not know. */
export const JOB_RECORD_VERSION = 1;
/** Records are kept 30 days after their last change; then DynamoDB's TTL removes them. */
export const JOB_TTL_SECONDS = 30 * 24 * 3600;

export const JOB_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Statuses a job never leaves. */
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export interface JobRecord {
  readonly version: typeof JOB_RECORD_VERSION;
  /** What runs the job, e.g. `file-restore`, `volume-restore`. */
  readonly kind: string;
  /** Unique within the store's key space (restores share one: a restore id names one job). */
  readonly jobId: string;
  readonly status: JobStatus;
  /** What the job was asked to do (the kind's own shape). */
  readonly params: Readonly<Record<string, unknown>>;
  /** How far a running job got (the kind's own shape), so a re-run resumes. */
  readonly progress?: Readonly<Record<string, unknown>>;
  readonly result?: Readonly<Record<string, unknown>>;
  readonly failure?: JobFailure;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Epoch seconds after which the store may delete the record (updatedAt + JOB_TTL_SECONDS). */
  readonly expiresAtEpochSeconds: number;
}

/** What the store's error messages call a job of its key space ("restore rs-1 already exists"). */
export interface JobStore {
  /** ConflictError when a job with this id exists. */
  create(job: JobRecord): Promise<void>;
  /** NotFoundError when there is none. */
  get(jobId: string): Promise<JobRecord>;
  /** Replaces the job if its stored status is one of `from`; ConflictError otherwise (or when absent). */
  update(job: JobRecord, from: readonly JobStatus[]): Promise<void>;
  /**
   * One page of the key space's jobs, newest first (by createdAt, then id), read as a page from
   * the store (`pageToken` is the store's own). With `status`, the page holds only jobs in it and
   * may be shorter than `limit` while a next page exists.
   */
  list?(request: JobPageRequest): Promise<JobPage>;
}

export interface JobPageRequest {
  readonly limit: number;
  readonly pageToken?: string;
  readonly status?: JobStatus;
}

export interface JobPage {
  readonly items: readonly JobRecord[];
  readonly nextToken?: string;
}

export function jobExpiry(updatedAt: string): number {
  return Math.floor(Date.parse(updatedAt) / 1000) + JOB_TTL_SECONDS;
}

/** The errors every JobStore raises, with the same messages (the contract suite checks them). */
export const jobErrors = {
  exists: (noun: string, jobId: string) =>
    new ConflictError(`${noun} ${jobId} already exists`, { context: { jobId } }),
  missing: (noun: string, jobId: string) => new NotFoundError(`no ${noun} ${jobId}`, { context: { jobId } }),
  notIn: (noun: string, jobId: string, from: readonly JobStatus[], cause?: unknown) =>
    new ConflictError(`${noun} ${jobId} is not ${from.map((s) => s.toLowerCase()).join(' or ')}`, {
      cause,
      context: { jobId },
    }),
};

/** A kind's own job type and how it maps onto the record. */
export interface JobCodec<J> {
  readonly kind: string;
  toRecord(job: J): JobRecord;
  fromRecord(record: JobRecord): J;
}

/** The domain statuses the restore jobs use; the record keeps them upper-case. */
export type LowerJobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export function recordStatus(status: LowerJobStatus): JobStatus {
  return status.toUpperCase() as JobStatus;
}

export function domainStatus(status: JobStatus): LowerJobStatus {
  return status.toLowerCase() as LowerJobStatus;
}

/** The fields every kind's job has, as the restore jobs name them. */
export interface JobCommon {
  readonly restoreId: string;
  readonly status: LowerJobStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly failure?: JobFailure;
}

/** Where a kind keeps its own fields in the record: its params, and its progress and result if it has them. */
export type OwnRecordFields = Pick<JobRecord, 'params'> & Partial<Pick<JobRecord, 'progress' | 'result'>>;

/** The record of a job: the common fields, and the kind's own params, progress and result. */
export function recordOf(kind: string, job: JobCommon, own: OwnRecordFields): JobRecord {
  return {
    version: JOB_RECORD_VERSION,
    kind,
    jobId: job.restoreId,
    status: recordStatus(job.status),
    ...own,
    ...(job.failure === undefined ? {} : { failure: job.failure }),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    expiresAtEpochSeconds: jobExpiry(job.updatedAt),
  };
}

/** The common fields of a job from its record (the inverse of recordOf's). */
export function commonOf(record: JobRecord): JobCommon {
  return {
    restoreId: record.jobId,
    status: domainStatus(record.status),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.failure === undefined ? {} : { failure: record.failure }),
  };
}

/**
 * The codec of a kind whose jobs have the common fields (JobCommon): the common fields map onto the
 * record's by recordOf and commonOf, the kind's own fields by `own`.
 */
export function jobCodec<J extends JobCommon>(
  kind: string,
  own: {
    toRecord(job: J): OwnRecordFields;
    fromRecord(record: JobRecord): Omit<J, keyof JobCommon>;
  },
): JobCodec<J> {
  return {
    kind,
    toRecord: (job) => recordOf(kind, job, own.toRecord(job)),
    fromRecord: (record) => ({ ...own.fromRecord(record), ...commonOf(record) }) as J,
  };
}

/** A store of one kind's jobs over the shared JobStore (jobs of other kinds read as absent). */
export interface KindJobStore<J, S extends string> {
  /** ConflictError when a job with this id exists. */
  create(job: J): Promise<void>;
  /** NotFoundError when there is none. */
  get(jobId: string): Promise<J>;
  /** Replaces the job if its stored status is one of `from`; ConflictError otherwise. */
  update(job: J, from: readonly S[]): Promise<void>;
}

export function jobsOfKind<J>(
  store: JobStore,
  codec: JobCodec<J>,
  noun: string,
): KindJobStore<J, LowerJobStatus> {
  return {
    create: (job) => store.create(codec.toRecord(job)),
    get: async (jobId) => {
      const record = await store.get(jobId);
      if (record.kind !== codec.kind) throw jobErrors.missing(noun, jobId);
      return codec.fromRecord(record);
    },
    update: (job, from) => store.update(codec.toRecord(job), from.map(recordStatus)),
  };
}

/** What the lifecycle needs of a kind's job. */
export interface LifecycleJob {
  readonly status: LowerJobStatus;
  readonly updatedAt: string;
  readonly failure?: JobFailure;
}

/** What `perform` returns when the work stopped part-way to go on in another invocation. */
export interface PausedJob<J> {
  /** The job as it stays (running, with its progress). */
  readonly paused: J;
}

/**
 * The one lifecycle of a job: a finished job is returned as it is; otherwise it becomes running,
 * `perform` does the work (it may record progress itself) and returns the job as succeeded, or
 * returns it paused (it stays running: the caller starts another invocation, which resumes).
 * Permanent failures end the job as failed; retryable ones are thrown (the job stays running and
 * running it again is safe: each kind's work resumes).
 */
export async function runJob<J extends LifecycleJob>(
  deps: { readonly jobs: KindJobStore<J, LowerJobStatus>; readonly clock: Clock },
  jobId: string,
  perform: (running: J) => Promise<J | PausedJob<J>>,
): Promise<J> {
  const job = await deps.jobs.get(jobId);
  if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return job;
  const running = { ...job, status: 'running', updatedAt: deps.clock.now().toISOString() } as J;
  await deps.jobs.update(running, ['pending', 'running']);
  try {
    const outcome = await perform(running);
    if ('paused' in outcome) {
      const paused = { ...outcome.paused, status: 'running', updatedAt: deps.clock.now().toISOString() } as J;
      await deps.jobs.update(paused, ['running']);
      return paused;
    }
    const done = {
      ...outcome,
      status: 'succeeded',
      updatedAt: deps.clock.now().toISOString(),
    } as J;
    await deps.jobs.update(done, ['running']);
    return done;
  } catch (error) {
    if (isRetryable(error)) throw error;
    const failed = {
      ...running,
      status: 'failed',
      failure: jobFailureOf(error),
      updatedAt: deps.clock.now().toISOString(),
    } as J;
    await deps.jobs.update(failed, ['running']);
    return failed;
  }
}
