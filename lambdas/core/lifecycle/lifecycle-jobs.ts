/**
 * Garbage collection and scrub as jobs of the one job model (lambdas/core/jobs/job-store.ts):
 * started by the API (`POST /gc/runs`, `POST /scrub/runs`) or by a schedule, run by the lifecycle
 * job Lambda, read back with `GET /gc/runs/{runId}` and `GET /scrub/runs/{runId}`.
 *
 * A collection's checkpoint (gc.ts) is the job's `progress`: every step saves it, so a run resumes
 * after a crash or a Lambda time slice from where it stopped; the Lambda runs steps until its time
 * budget is spent and then hands the job to a fresh invocation (the `continue` answer). A restore
 * test does the same with its steps (restore-test.ts: a server's sample, a few segments of a
 * whole-volume read), its progress record being the job's `progress`. A scrub too (scrub.ts
 * ScrubProgress: the last chunk name checked, the counters and findings so far), saved after every
 * step of its share's chunks; the run completes, and the rolling cursor moves on, only when its
 * whole share is checked, however many invocations that takes. Its result (findings with the
 * images they break, capped with exact totals: scrub.ts "Caps") is the job's `result`, and any
 * finding is published as an event.
 */
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError, isRetryable, jobFailureOf } from '../errors.ts';
import {
  FINAL_JOB_STATUSES,
  JOB_RECORD_VERSION,
  jobExpiry,
  type JobRecord,
  type JobStatus,
  type JobStore,
} from '../jobs/job-store.ts';
import type { EventPublisher } from '../orchestration/orchestration-ports.ts';
import { PLAN_EVENT_SOURCE, PLAN_RUN_FINISHED } from '../plans/run-engine.ts';
import type { Clock } from '../ports.ts';
import { deadInvocationFailure, deadInvocationRecordSchema } from '../jobs/dead-invocation.ts';
import {
  heldCollectionRun,
  gcCheckpointSchema,
  runGc,
  type GcCheckpoint,
  type GcCheckpointStore,
  type GcDeps,
} from './gc.ts';
import { expireAfterPlanRun, planExpiryResultSchema, type RetentionApplyDeps } from './retention-apply.ts';
import { FANOUT_PREFIXES } from './name-runs.ts';
import {
  SCRUB_COVER_RUNS,
  scrubProgressSchema,
  scrubResultOf,
  scrubRunNumberOf,
  scrubSlice,
  startScrubProgress,
  type ScrubCursorStore,
  type ScrubDeps,
  type ScrubProgress,
  type ScrubResult,
  scrubFindingSchema,
} from './scrub.ts';
import {
  pointsOnce,
  RESTORE_TEST_FILES_PER_SERVER,
  RESTORE_TEST_MAX_FILES,
  restoreTestDone,
  restoreTestProgressSchema,
  restoreTestResultOf,
  restoreTestServerSchema,
  restoreTestStep,
  startRestoreTestProgress,
  type RestoreTestDeps,
  type RestoreTestProgress,
  type RestoreTestResult,
} from './restore-test.ts';

export const GC_JOB_KIND = 'gc';
export const SCRUB_JOB_KIND = 'scrub';
/** Scheduled restore tests (restore-test.ts). */
export const RESTORE_TEST_JOB_KIND = 'restore-test';
/** The expiry that follows a plan run (retention-apply.ts expireAfterPlanRun). */
export const EXPIRE_JOB_KIND = 'expire';
/** EventBridge source and detail type of a plan run's outcome (the plan-run function publishes it). */
export { PLAN_EVENT_SOURCE, PLAN_RUN_FINISHED };
/** Collection steps between two checks of the time budget (each step is at most a few seconds). */
export const GC_STEPS_PER_CHECK = 4;
/**
 * Time left in an invocation below which a collection stops and hands over to a new one: a step
 * (one shard's segments, or 64 manifests) stays well below it.
 */
export const GC_HANDOVER_MARGIN_MS = 3 * 60 * 1000;
/**
 * Time left in an invocation below which a restore test stops between two steps and hands over to
 * a new one: a step (one server's sample of at most 256 MiB, or two 1 GiB segments) stays well below it.
 */
export const RESTORE_TEST_HANDOVER_MARGIN_MS = 3 * 60 * 1000;
/**
 * Time left in an invocation below which a scrub stops between two steps and hands over to a new
 * one: a step (SCRUB_CHUNKS_PER_STEP chunks, at most 256 MiB of reads) takes seconds, and the next
 * invocation's first look at the manifests and segments needs no time of this one.
 */
export const SCRUB_HANDOVER_MARGIN_MS = 3 * 60 * 1000;
/** A day: a scheduled scrub's run number is the day number, so SCRUB_COVER_RUNS days cover every chunk. */
const DAY_MS = 24 * 60 * 60 * 1000;
/** Run ids are job ids and path parameters (`[A-Za-z0-9_-]{1,64}`). */
const MAX_LIFECYCLE_RUN_ID_CHARS = 64;
/** EventBridge detail type of a scrub that found corrupt or missing objects. */
export const SCRUB_FINDINGS_EVENT = 'Scrub Findings';
/** EventBridge detail type of a restore test in which a server failed. */
export const RESTORE_TEST_FAILED_EVENT = 'Restore Test Failed';

/** What a restore test checks, from the API, the CLI or the schedule's input. */
const restoreTestParams = {
  server: z.string().min(1).max(256).optional(),
  files: z.number().int().min(1).max(RESTORE_TEST_MAX_FILES).optional(),
  wholeVolume: z.boolean().optional(),
};

const expireEventSchema = z
  .object({
    kind: z.literal(EXPIRE_JOB_KIND),
    runId: z.string().min(1).optional(),
    plan: z.string().min(1).max(256),
    planRunId: z.string().min(1).max(256).optional(),
    /** The run's servers; absent: every server the plan selects now. */
    servers: z.array(z.string().min(1).max(256)).optional(),
  })
  .strict();

/**
 * The `Plan Run Finished` event as an EventBridge rule delivers it to the function
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html): an expiry
 * of the run's servers. Only the fields used are checked; the envelope carries more.
 */
const planRunFinishedSchema = z
  .object({
    source: z.literal(PLAN_EVENT_SOURCE),
    'detail-type': z.literal(PLAN_RUN_FINISHED),
    detail: z.object({
      runId: z.string().min(1).max(256),
      plan: z.string().min(1).max(256),
      tasks: z.array(z.object({ server: z.string().min(1).max(256) })).default([]),
    }),
  })
  .transform((event): z.output<typeof expireEventSchema> => ({
    kind: EXPIRE_JOB_KIND,
    plan: event.detail.plan,
    planRunId: event.detail.runId,
    servers: [...new Set(event.detail.tasks.map((task) => task.server))].sort(),
  }));

export const lifecycleJobEventSchema = z.union([
  z.discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal(GC_JOB_KIND),
        runId: z.string().min(1).optional(),
        dryRun: z.boolean().optional(),
        /** The handover that launched this invocation (the job's `params.handovers` then). */
        handover: z.number().int().min(1).optional(),
      })
      .strict(),
    z
      .object({
        kind: z.literal(SCRUB_JOB_KIND),
        runId: z.string().min(1).optional(),
        all: z.boolean().optional(),
        /** Runs per coverage cycle, as configured (the schedule passes it); default SCRUB_COVER_RUNS. */
        coverRuns: z.number().int().min(1).max(FANOUT_PREFIXES).optional(),
        /** The handover that launched this invocation (the job's `params.handovers` then). */
        handover: z.number().int().min(1).optional(),
      })
      .strict(),
    z
      .object({
        kind: z.literal(RESTORE_TEST_JOB_KIND),
        runId: z.string().min(1).optional(),
        ...restoreTestParams,
        /** The handover that launched this invocation (the job's `params.handovers` then). */
        handover: z.number().int().min(1).optional(),
      })
      .strict(),
    expireEventSchema,
  ]),
  planRunFinishedSchema,
]);
export type LifecycleJobEvent = z.infer<typeof lifecycleJobEventSchema>;

export const startGcBody = z.object({ dryRun: z.boolean().default(false) }).strict();
export const startScrubBody = z.object({ all: z.boolean().default(false) }).strict();
export const startRestoreTestBody = z
  .object({
    server: restoreTestParams.server,
    files: restoreTestParams.files.default(RESTORE_TEST_FILES_PER_SERVER),
    wholeVolume: z.boolean().default(false),
  })
  .strict();
export type StartRestoreTest = z.output<typeof startRestoreTestBody>;

const runStatus = z.enum(['pending', 'running', 'complete', 'dry-run', 'failed']);

/** A collection as the API answers it; the CLI prints status and the four counters. */
export const gcRunSchema = z
  .object({
    runId: z.string(),
    status: runStatus,
    dryRun: z.boolean(),
    phase: z.string(),
    chunksLive: z.number().int(),
    chunksDeleted: z.number().int(),
    segmentsDeleted: z.number().int(),
    bytesFreed: z.number().int(),
    /** Every counter of the checkpoint (keys scanned, manifests deleted, locked, skipped as too recent, …). */
    counters: z.record(z.string(), z.number()),
    unreadable: z.array(z.string()),
    failure: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type GcRun = z.infer<typeof gcRunSchema>;

/**
 * A scrub as the API answers it; the CLI prints status, chunksVerified, corrupt and missing.
 * `corrupt` and `missing` hold at most MAX_SCRUB_FINDINGS_KEPT (50) findings each (scrub.ts);
 * `corruptCount` and `missingCount` count them all.
 */
export const scrubRunSchema = z
  .object({
    runId: z.string(),
    status: z.enum(['pending', 'running', 'ok', 'findings', 'failed']),
    all: z.boolean(),
    runNumber: z.number().int(),
    coverRuns: z.number().int(),
    chunksVerified: z.number().int(),
    manifestsChecked: z.number().int(),
    segmentsChecked: z.number().int(),
    bytesRead: z.number().int(),
    corrupt: z.array(scrubFindingSchema),
    missing: z.array(scrubFindingSchema),
    corruptCount: z.number().int(),
    missingCount: z.number().int(),
    failure: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type ScrubRun = z.infer<typeof scrubRunSchema>;

/** A restore test as the API answers it; the CLI prints status and the servers' outcomes. */
export const restoreTestRunSchema = z
  .object({
    runId: z.string(),
    status: z.enum(['pending', 'running', 'passed', 'failed']),
    server: z.string().optional(),
    files: z.number().int(),
    wholeVolume: z.boolean(),
    servers: z.array(restoreTestServerSchema),
    failure: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type RestoreTestRun = z.infer<typeof restoreTestRunSchema>;

/** Starts the lifecycle job Lambda for a run without waiting (an asynchronous invocation). */
export interface LifecycleJobLauncher {
  launch(event: LifecycleJobEvent): Promise<void>;
}

export interface LifecycleJobDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  /** A new run id with the kind as its prefix (`gc-…`, `scrub-…`). */
  readonly newRunId: (
    kind: typeof GC_JOB_KIND | typeof SCRUB_JOB_KIND | typeof EXPIRE_JOB_KIND | typeof RESTORE_TEST_JOB_KIND,
  ) => string;
}

export interface LifecycleStartDeps extends LifecycleJobDeps {
  readonly launcher: LifecycleJobLauncher;
  readonly coordination: GcDeps['coordination'];
}

export interface LifecycleRunDeps extends LifecycleJobDeps {
  readonly gc: Omit<GcDeps, 'checkpoints'>;
  readonly scrub: ScrubDeps;
  /**
   * The rolling scrub's stored cursor: a run checks the share the cursor names and moves it on when
   * done. Absent: the run number is the UTC day number of the run's start.
   */
  readonly scrubCursor?: ScrubCursorStore;
  /** Runs that together check every chunk (default SCRUB_COVER_RUNS). */
  readonly scrubCoverRuns?: number;
  /** Chunks a scrub checks between two saves of its progress (default SCRUB_CHUNKS_PER_STEP). */
  readonly scrubChunksPerStep?: number;
  /** Retention after plan runs; absent where plans are not deployed (an expiry event then fails). */
  readonly retention?: RetentionApplyDeps;
  readonly events: EventPublisher;
  /** Called with the number of findings of every scrub (an alarm metric in the Lambda). */
  readonly recordFindings: (count: number) => void;
  /** Restore tests; absent where they are not deployed (a restore-test run then fails). */
  readonly restoreTest?: RestoreTestDeps;
  /** Called with the number of failed servers of every restore test (an alarm metric in the Lambda). */
  readonly recordRestoreTestFailures?: (count: number) => void;
}

function newRecord(kind: string, jobId: string, params: Record<string, unknown>, now: string): JobRecord {
  return {
    version: JOB_RECORD_VERSION,
    kind,
    jobId,
    status: 'PENDING',
    params,
    createdAt: now,
    updatedAt: now,
    expiresAtEpochSeconds: jobExpiry(now),
  };
}

/** What a run of each kind is called in a NotFoundError. */
const RUN_NOUNS: Readonly<Record<string, string>> = {
  [GC_JOB_KIND]: 'collection',
  [SCRUB_JOB_KIND]: 'scrub',
  [RESTORE_TEST_JOB_KIND]: 'restore test',
  [EXPIRE_JOB_KIND]: 'expiry',
};

async function getOfKind(jobs: JobStore, kind: string, runId: string): Promise<JobRecord> {
  const record = await jobs.get(runId);
  if (record.kind !== kind) {
    throw new NotFoundError(`no ${RUN_NOUNS[kind] ?? kind} run ${runId}`, {
      context: { runId },
    });
  }
  return record;
}

// ---- views ----

export function gcRunOf(record: JobRecord): GcRun {
  const dryRun = record.params.dryRun === true;
  const parsed = gcCheckpointSchema.safeParse(record.progress);
  const checkpoint = parsed.success ? parsed.data : undefined;
  const counters = checkpoint?.counters;
  const status: GcRun['status'] =
    record.status === 'FAILED' || record.status === 'CANCELLED'
      ? 'failed'
      : record.status === 'SUCCEEDED'
        ? dryRun
          ? 'dry-run'
          : 'complete'
        : record.status === 'RUNNING'
          ? 'running'
          : 'pending';
  return {
    runId: record.jobId,
    status,
    dryRun,
    phase: checkpoint?.phase ?? 'start',
    chunksLive: counters?.chunksLive ?? 0,
    chunksDeleted: counters?.chunksDeleted ?? 0,
    segmentsDeleted: counters?.segmentsDeleted ?? 0,
    bytesFreed: counters?.bytesFreed ?? 0,
    counters: { ...(counters ?? {}) },
    unreadable: [...(checkpoint?.unreadable ?? [])],
    ...(record.failure === undefined ? {} : { failure: record.failure.reason }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A run's status as the API shows it: `succeeded` is the run's own word for a finished run. */
function viewStatusOf<S extends string>(
  record: JobRecord,
  succeeded: S,
): S | 'failed' | 'running' | 'pending' {
  if (record.status === 'FAILED' || record.status === 'CANCELLED') return 'failed';
  if (record.status === 'SUCCEEDED') return succeeded;
  return record.status === 'RUNNING' ? 'running' : 'pending';
}

export function scrubRunOf(record: JobRecord): ScrubRun {
  // While it runs: the counters and findings of its saved progress.
  const progress = scrubProgressSchema.safeParse(record.progress);
  const result =
    (record.result as Partial<ScrubResult> | undefined) ??
    (progress.success ? scrubResultOf(progress.data) : undefined);
  const status: ScrubRun['status'] = viewStatusOf(record, result?.status ?? 'ok');
  // A result recorded before the caps has no counts: its lists were whole.
  const finding = (f: { key: string; images: readonly string[]; imageCount?: number; reason: string }) => ({
    key: f.key,
    images: [...f.images],
    imageCount: f.imageCount ?? f.images.length,
    reason: f.reason,
  });
  return {
    runId: record.jobId,
    status,
    all: record.params.all === true,
    runNumber: result?.runNumber ?? Number(record.params.runNumber ?? 0),
    coverRuns: result?.coverRuns ?? 0,
    chunksVerified: result?.chunksVerified ?? 0,
    manifestsChecked: result?.manifestsChecked ?? 0,
    segmentsChecked: result?.segmentsChecked ?? 0,
    bytesRead: result?.bytesRead ?? 0,
    corrupt: (result?.corrupt ?? []).map(finding),
    missing: (result?.missing ?? []).map(finding),
    corruptCount: result?.corruptCount ?? result?.corrupt?.length ?? 0,
    missingCount: result?.missingCount ?? result?.missing?.length ?? 0,
    ...(record.failure === undefined ? {} : { failure: record.failure.reason }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

// ---- starting (API and schedule) ----

/**
 * Starts a collection, or resumes the one holding the fence (a collection is never started
 * twice: the fence admits one run, and an interrupted one is finished under its own id).
 */
export async function startGcRun(deps: LifecycleStartDeps, options: { dryRun: boolean }): Promise<GcRun> {
  if (!options.dryRun) {
    const held = await heldCollectionRun(deps.coordination);
    if (held !== undefined) {
      const record = await getOfKind(deps.jobs, GC_JOB_KIND, held).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (record !== undefined && !FINAL_JOB_STATUSES.includes(record.status)) {
        await deps.launcher.launch({ kind: GC_JOB_KIND, runId: held });
        return gcRunOf(record);
      }
      throw new ConflictError(
        `garbage collection ${held} holds the fence but has no running job; run \`rbp gc run\` again after its job record is restored, or resume it by id`,
        { context: { runId: held } },
      );
    }
  }
  const record = newRecord(
    GC_JOB_KIND,
    deps.newRunId(GC_JOB_KIND),
    { dryRun: options.dryRun },
    deps.clock.now().toISOString(),
  );
  await deps.jobs.create(record);
  await deps.launcher.launch({ kind: GC_JOB_KIND, runId: record.jobId });
  return gcRunOf(record);
}

export function scrubRunNumber(now: Date): number {
  return Math.floor(now.getTime() / DAY_MS);
}

export async function startScrubRun(deps: LifecycleStartDeps, options: { all: boolean }): Promise<ScrubRun> {
  const now = deps.clock.now();
  const record = newRecord(
    SCRUB_JOB_KIND,
    deps.newRunId(SCRUB_JOB_KIND),
    { all: options.all, runNumber: scrubRunNumber(now) },
    now.toISOString(),
  );
  await deps.jobs.create(record);
  await deps.launcher.launch({ kind: SCRUB_JOB_KIND, runId: record.jobId });
  return scrubRunOf(record);
}

/** A restore test's parameters as its job record keeps them. */
function restoreTestParamsOf(record: JobRecord): StartRestoreTest {
  return {
    ...(typeof record.params.server === 'string' ? { server: record.params.server } : {}),
    files: typeof record.params.files === 'number' ? record.params.files : RESTORE_TEST_FILES_PER_SERVER,
    wholeVolume: record.params.wholeVolume === true,
  };
}

export function restoreTestRunOf(record: JobRecord): RestoreTestRun {
  const result = record.result as RestoreTestResult | undefined;
  // While it runs: the servers sampled so far, with the whole-volume figures counted so far.
  const progress = restoreTestProgressSchema.safeParse(record.progress);
  const servers = result?.servers ?? (progress.success ? progress.data.results : []);
  return {
    runId: record.jobId,
    status: viewStatusOf(record, result?.status ?? 'passed'),
    ...restoreTestParamsOf(record),
    servers: servers.map((server) => structuredClone(server)),
    ...(record.failure === undefined ? {} : { failure: record.failure.reason }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

export async function startRestoreTestRun(
  deps: LifecycleStartDeps,
  options: StartRestoreTest,
): Promise<RestoreTestRun> {
  const record = newRecord(
    RESTORE_TEST_JOB_KIND,
    deps.newRunId(RESTORE_TEST_JOB_KIND),
    { ...options },
    deps.clock.now().toISOString(),
  );
  await deps.jobs.create(record);
  await deps.launcher.launch({ kind: RESTORE_TEST_JOB_KIND, runId: record.jobId });
  return restoreTestRunOf(record);
}

export async function getRestoreTestRun(
  deps: Pick<LifecycleJobDeps, 'jobs'>,
  runId: string,
): Promise<RestoreTestRun> {
  return restoreTestRunOf(await getOfKind(deps.jobs, RESTORE_TEST_JOB_KIND, runId));
}

export async function getGcRun(deps: Pick<LifecycleJobDeps, 'jobs'>, runId: string): Promise<GcRun> {
  return gcRunOf(await getOfKind(deps.jobs, GC_JOB_KIND, runId));
}

export async function getScrubRun(deps: Pick<LifecycleJobDeps, 'jobs'>, runId: string): Promise<ScrubRun> {
  return scrubRunOf(await getOfKind(deps.jobs, SCRUB_JOB_KIND, runId));
}

// ---- running (the lifecycle job Lambda) ----

/** The checkpoints of a collection kept as its job's progress. */
class JobCheckpoints implements GcCheckpointStore {
  constructor(
    private readonly jobs: JobStore,
    private readonly clock: Clock,
  ) {}

  async load(runId: string): Promise<GcCheckpoint | undefined> {
    const record = await this.jobs.get(runId);
    const parsed = gcCheckpointSchema.safeParse(record.progress);
    return parsed.success ? parsed.data : undefined;
  }

  async save(checkpoint: GcCheckpoint): Promise<void> {
    const record = await this.jobs.get(checkpoint.runId);
    const now = this.clock.now().toISOString();
    await this.jobs.update(
      {
        ...record,
        status: 'RUNNING',
        progress: checkpoint,
        updatedAt: now,
        expiresAtEpochSeconds: jobExpiry(now),
      },
      ['PENDING', 'RUNNING'],
    );
  }
}

export type LifecycleJobOutcome =
  | {
      readonly kind: typeof GC_JOB_KIND;
      readonly run: GcRun;
      readonly continue: boolean;
      /** With `continue`: the handover's number, for the next invocation's event. */
      readonly handover?: number;
    }
  | {
      readonly kind: typeof SCRUB_JOB_KIND;
      readonly run: ScrubRun;
      readonly continue: boolean;
      /** With `continue`: the handover's number, for the next invocation's event. */
      readonly handover?: number;
    }
  | {
      readonly kind: typeof RESTORE_TEST_JOB_KIND;
      readonly run: RestoreTestRun;
      readonly continue: boolean;
      /** With `continue`: the handover's number, for the next invocation's event. */
      readonly handover?: number;
    }
  | { readonly kind: typeof EXPIRE_JOB_KIND; readonly run: ExpiryRun; readonly continue: false };

/**
 * An expiry after a plan run as its job record holds it and `GET /retention/runs/{runId}` answers
 * it; the CLI prints status and, per server, the rules used and the images kept and deleted.
 */
export const expiryRunSchema = z
  .object({
    runId: z.string(),
    status: z.enum(['pending', 'running', 'complete', 'failed']),
    plan: z.string(),
    planRunId: z.string().optional(),
    /** The servers of the plan run; absent: every server the plan selected when the expiry ran. */
    servers: z.array(z.string()).optional(),
    result: planExpiryResultSchema.optional(),
    failure: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type ExpiryRun = z.infer<typeof expiryRunSchema>;

export function expiryRunOf(record: JobRecord): ExpiryRun {
  const parsed = planExpiryResultSchema.safeParse(record.result);
  const servers = record.params.servers;
  return {
    runId: record.jobId,
    status: viewStatusOf(record, 'complete'),
    plan: String(record.params.plan),
    ...(typeof record.params.planRunId === 'string' ? { planRunId: record.params.planRunId } : {}),
    ...(Array.isArray(servers) ? { servers: servers.map(String) } : {}),
    ...(parsed.success ? { result: parsed.data } : {}),
    ...(record.failure === undefined ? {} : { failure: record.failure.reason }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** The expiry run `runId` (`expire-<planRunId>` after a plan run); NotFoundError for none. */
export async function getExpiryRun(deps: Pick<LifecycleJobDeps, 'jobs'>, runId: string): Promise<ExpiryRun> {
  return expiryRunOf(await getOfKind(deps.jobs, EXPIRE_JOB_KIND, runId));
}

/** The expiry job of a plan run has a fixed id, so a repeated event delivery finds the first. */
export function expiryRunIdOf(planRunId: string): string {
  return `expire-${planRunId}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, MAX_LIFECYCLE_RUN_ID_CHARS);
}

/**
 * Applies retention to the servers of a finished plan run (the plan's rules, else each server's
 * stored default) and records what it deleted. EventBridge delivers at least once: a second
 * delivery of the same run finds its record finished and does nothing.
 */
export async function runExpireJob(
  deps: LifecycleRunDeps,
  event: z.output<typeof expireEventSchema>,
): Promise<LifecycleJobOutcome> {
  const now = deps.clock.now().toISOString();
  const runId =
    event.runId ??
    (event.planRunId === undefined ? deps.newRunId(EXPIRE_JOB_KIND) : expiryRunIdOf(event.planRunId));
  const params = {
    plan: event.plan,
    ...(event.planRunId === undefined ? {} : { planRunId: event.planRunId }),
    ...(event.servers === undefined ? {} : { servers: event.servers }),
  };
  let record: JobRecord;
  try {
    record = await deps.jobs.get(runId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    record = newRecord(EXPIRE_JOB_KIND, runId, params, now);
    await deps.jobs.create(record);
  }
  if (record.kind !== EXPIRE_JOB_KIND) {
    throw new ValidationError(`run ${runId} is not an expiry`, { context: { runId } });
  }
  const done = await runToEnd(deps, record, async () => {
    if (deps.retention === undefined) {
      throw new ValidationError('expiry after plan runs is not configured in this deployment', {
        context: { plan: event.plan },
      });
    }
    return { ...(await expireAfterPlanRun(deps.retention, event)) };
  });
  return { kind: EXPIRE_JOB_KIND, run: expiryRunOf(done), continue: false };
}

/**
 * Ends a job with `status` and `extra`. With `dropProgress` the finished record leaves out the
 * progress: a restore test's result repeats its progress's results, and the job store keeps the
 * whole record in one DynamoDB item of at most 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
 */
async function finish(
  deps: LifecycleJobDeps,
  runId: string,
  status: JobStatus,
  extra: Partial<Pick<JobRecord, 'result' | 'failure'>>,
  dropProgress = false,
): Promise<JobRecord> {
  const { progress, ...rest } = await deps.jobs.get(runId);
  const record: JobRecord = dropProgress || progress === undefined ? rest : { ...rest, progress };
  const now = deps.clock.now().toISOString();
  const done: JobRecord = {
    ...record,
    status,
    ...extra,
    updatedAt: now,
    expiresAtEpochSeconds: jobExpiry(now),
  };
  await deps.jobs.update(done, ['PENDING', 'RUNNING']);
  return done;
}

/**
 * A retryable error is thrown again (the job stays running and the invocation is retried from its
 * checkpoint); any other ends the job as failed, and the failed record is returned.
 */
async function finishFailed(deps: LifecycleJobDeps, runId: string, error: unknown): Promise<JobRecord> {
  if (isRetryable(error)) throw error;
  return finish(deps, runId, 'FAILED', { failure: jobFailureOf(error) });
}

/**
 * Runs a collection until it is done or `deadline` (epoch ms) is near; `continue` asks the caller
 * for another invocation. A permanent failure ends the job as failed; a retryable one is thrown
 * (the job stays running and resumes from its checkpoint).
 */
export async function runGcJob(
  deps: LifecycleRunDeps,
  runId: string,
  deadline: number,
): Promise<LifecycleJobOutcome> {
  const record = await getOfKind(deps.jobs, GC_JOB_KIND, runId);
  if (FINAL_JOB_STATUSES.includes(record.status))
    return { kind: GC_JOB_KIND, run: gcRunOf(record), continue: false };
  const checkpoints = new JobCheckpoints(deps.jobs, deps.clock);
  try {
    for (;;) {
      const result = await runGc(
        { ...deps.gc, checkpoints },
        { runId, dryRun: record.params.dryRun === true, maxSteps: GC_STEPS_PER_CHECK },
      );
      if (result.status !== 'running') {
        const done = await finish(deps, runId, 'SUCCEEDED', { result: { ...result } });
        return { kind: GC_JOB_KIND, run: gcRunOf(done), continue: false };
      }
      if (deps.clock.now().getTime() >= deadline - GC_HANDOVER_MARGIN_MS) {
        const { handed, handover } = await recordHandover(deps, runId);
        return { kind: GC_JOB_KIND, run: gcRunOf(handed), continue: true, handover };
      }
    }
  } catch (error) {
    const failed = await finishFailed(deps, runId, error);
    return { kind: GC_JOB_KIND, run: gcRunOf(failed), continue: false };
  }
}

/**
 * Records a handover in the job before the next invocation starts, so a late failure record of
 * this invocation (or an older one) is told apart from one of the invocation now running.
 */
async function recordHandover(
  deps: LifecycleJobDeps,
  runId: string,
): Promise<{ readonly handed: JobRecord; readonly handover: number }> {
  const current = await deps.jobs.get(runId);
  const handover = handoversOf(current) + 1;
  const now = deps.clock.now().toISOString();
  const handed = { ...current, params: { ...current.params, handovers: handover }, updatedAt: now };
  await deps.jobs.update(handed, ['RUNNING']);
  return { handed, handover };
}

/**
 * Runs a job that ends in one invocation: marks it running, records what `work` returns as its
 * result, then calls `succeeded` with the finished record. A permanent failure ends the job as
 * failed; a retryable one is thrown (the job stays running; Lambda's retry runs it again). A job
 * already finished is returned as it is.
 */
async function runToEnd(
  deps: LifecycleJobDeps,
  record: JobRecord,
  work: () => Promise<Record<string, unknown>>,
  succeeded: (done: JobRecord) => Promise<void> = () => Promise.resolve(),
): Promise<JobRecord> {
  if (FINAL_JOB_STATUSES.includes(record.status)) return record;
  try {
    const now = deps.clock.now().toISOString();
    await deps.jobs.update(
      { ...record, status: 'RUNNING', updatedAt: now, expiresAtEpochSeconds: jobExpiry(now) },
      ['PENDING', 'RUNNING'],
    );
    const done = await finish(deps, record.jobId, 'SUCCEEDED', { result: await work() });
    await succeeded(done);
    return done;
  } catch (error) {
    return finishFailed(deps, record.jobId, error);
  }
}

/** Saves a scrub's or a restore test's progress in its job (the job is running from its first save). */
async function saveRunProgress(
  deps: LifecycleJobDeps,
  runId: string,
  progress: ScrubProgress | RestoreTestProgress,
): Promise<void> {
  const record = await deps.jobs.get(runId);
  const now = deps.clock.now().toISOString();
  await deps.jobs.update(
    { ...record, status: 'RUNNING', progress, updatedAt: now, expiresAtEpochSeconds: jobExpiry(now) },
    ['PENDING', 'RUNNING'],
  );
}

/** What a new scrub run checks: its share from the stored cursor, or everything (`all`). */
async function startScrub(deps: LifecycleRunDeps, record: JobRecord): Promise<ScrubProgress> {
  const all = record.params.all === true;
  const cursor = all || deps.scrubCursor === undefined ? undefined : await deps.scrubCursor.get();
  // The schedule's configured cycle, else the cycle the cursor is in (a run started from the API).
  const coverRuns =
    typeof record.params.coverRuns === 'number'
      ? record.params.coverRuns
      : (deps.scrubCoverRuns ?? cursor?.coverRuns ?? SCRUB_COVER_RUNS);
  const runNumber =
    deps.scrubCursor === undefined
      ? Number(record.params.runNumber ?? 0)
      : scrubRunNumberOf(cursor, coverRuns);
  return startScrubProgress({
    all,
    runNumber,
    coverRuns,
    ...(all || deps.scrubCursor === undefined ? {} : { cursorFrom: cursor ?? null }),
  });
}

/**
 * Runs a scrub from the progress its job holds until its share is checked or `deadline` (epoch ms)
 * is near: then it hands over (`continue`), having saved its progress after every step. At the
 * end it moves the rolling cursor on, records the result and publishes any finding. A permanent
 * failure ends the job as failed; a retryable one is thrown (the job stays running and resumes
 * from its saved progress, the cursor where it was).
 */
export async function runScrubJob(
  deps: LifecycleRunDeps,
  runId: string,
  deadline: number = Number.MAX_SAFE_INTEGER,
): Promise<LifecycleJobOutcome> {
  const record = await getOfKind(deps.jobs, SCRUB_JOB_KIND, runId);
  if (FINAL_JOB_STATUSES.includes(record.status))
    return { kind: SCRUB_JOB_KIND, run: scrubRunOf(record), continue: false };
  let result: ScrubResult;
  try {
    const saved = scrubProgressSchema.safeParse(record.progress);
    let progress = saved.success ? saved.data : await startScrub(deps, record);
    if (!saved.success) await saveRunProgress(deps, runId, progress);
    progress = await scrubSlice({ now: () => deps.clock.now(), ...deps.scrub }, progress, {
      runId,
      ...(deps.scrubChunksPerStep === undefined ? {} : { chunksPerStep: deps.scrubChunksPerStep }),
      saved: (step) => saveRunProgress(deps, runId, step),
      stop: () => deps.clock.now().getTime() >= deadline - SCRUB_HANDOVER_MARGIN_MS,
    });
    if (!progress.done) {
      const { handed, handover } = await recordHandover(deps, runId);
      return { kind: SCRUB_JOB_KIND, run: scrubRunOf(handed), continue: true, handover };
    }
    // The share is checked (findings or not): the next run takes the next one. A run that failed
    // or is still under way leaves the cursor, so its share is checked again.
    if (progress.cursorFrom !== undefined && deps.scrubCursor !== undefined) {
      await deps.scrubCursor.advance(progress.cursorFrom ?? undefined, {
        runNumber: (progress.runNumber + 1) % progress.coverRuns,
        coverRuns: progress.coverRuns,
      });
    }
    result = scrubResultOf(progress);
  } catch (error) {
    const failed = await finishFailed(deps, runId, error);
    return { kind: SCRUB_JOB_KIND, run: scrubRunOf(failed), continue: false };
  }
  // The result holds the progress's findings: the finished record keeps them once.
  const done = await finish(deps, runId, 'SUCCEEDED', { result: { ...result } }, true);
  // The metric and the event count every finding, not only the ones the result keeps.
  const findings = result.corruptCount + result.missingCount;
  deps.recordFindings(findings);
  if (findings > 0) {
    await deps.events.publish(SCRUB_FINDINGS_EVENT, {
      runId,
      corrupt: result.corrupt,
      missing: result.missing,
      corruptCount: result.corruptCount,
      missingCount: result.missingCount,
      chunksVerified: result.chunksVerified,
    });
  }
  return { kind: SCRUB_JOB_KIND, run: scrubRunOf(done), continue: false };
}

/**
 * Runs a restore test step by step from the progress its job holds (the seed of its sample is the
 * run id, so a retried or resumed invocation checks the same files), saving the progress after
 * every step; when `deadline` (epoch ms) is near it hands over (`continue`). At the end it records
 * the result and publishes the failed servers. A permanent failure ends the job as failed; a
 * retryable one is thrown (the job stays running and resumes from its saved progress).
 */
export async function runRestoreTestJob(
  deps: LifecycleRunDeps,
  runId: string,
  deadline: number,
): Promise<LifecycleJobOutcome> {
  const record = await getOfKind(deps.jobs, RESTORE_TEST_JOB_KIND, runId);
  const outcome = (done: JobRecord): LifecycleJobOutcome => ({
    kind: RESTORE_TEST_JOB_KIND,
    run: restoreTestRunOf(done),
    continue: false,
  });
  if (FINAL_JOB_STATUSES.includes(record.status)) return outcome(record);
  let result: RestoreTestResult;
  try {
    const tests = deps.restoreTest;
    if (tests === undefined) {
      throw new ValidationError('restore tests are not configured in this deployment', {
        context: { runId },
      });
    }
    const options = { runId, ...restoreTestParamsOf(record) };
    const saved = restoreTestProgressSchema.safeParse(record.progress);
    let progress = saved.success ? saved.data : await startRestoreTestProgress(tests, options);
    if (!saved.success) await saveRunProgress(deps, runId, progress);
    const points = pointsOnce(tests);
    while (!restoreTestDone(progress)) {
      progress = await restoreTestStep(tests, options, progress, points);
      await saveRunProgress(deps, runId, progress);
      // A step before every check: each invocation moves the test on, however little time it got.
      const late = deps.clock.now().getTime() >= deadline - RESTORE_TEST_HANDOVER_MARGIN_MS;
      if (late && !restoreTestDone(progress)) {
        const { handed, handover } = await recordHandover(deps, runId);
        return { kind: RESTORE_TEST_JOB_KIND, run: restoreTestRunOf(handed), continue: true, handover };
      }
    }
    result = restoreTestResultOf(progress);
  } catch (error) {
    const failed = await finishFailed(deps, runId, error);
    // A test that could not run at all (no such server, not configured) counts as a failure too.
    deps.recordRestoreTestFailures?.(1);
    return outcome(failed);
  }
  // The result holds the progress's results: the finished record keeps them once.
  const done = await finish(deps, runId, 'SUCCEEDED', { result: { ...result } }, true);
  const failed = result.servers.filter((server) => server.result === 'Failed');
  deps.recordRestoreTestFailures?.(failed.length);
  if (failed.length > 0) {
    await deps.events.publish(RESTORE_TEST_FAILED_EVENT, {
      runId,
      servers: failed.map((server) => ({
        server: server.server,
        imageId: server.imageId,
        images: server.images,
        failures: server.failures,
      })),
    });
  }
  return outcome(done);
}

/**
 * One invocation of the lifecycle job Lambda: a launched run (`runId`), or a scheduled one (no
 * run id: a new run is created first).
 */
export async function runLifecycleJob(
  deps: LifecycleRunDeps,
  event: LifecycleJobEvent,
  deadline: number,
  invocationId?: string,
): Promise<LifecycleJobOutcome> {
  if (event.kind === EXPIRE_JOB_KIND) return runExpireJob(deps, event);
  let runId = event.runId;
  if (runId === undefined) {
    const now = deps.clock.now();
    const params =
      event.kind === GC_JOB_KIND
        ? { dryRun: event.dryRun === true }
        : event.kind === RESTORE_TEST_JOB_KIND
          ? {
              ...(event.server === undefined ? {} : { server: event.server }),
              files: event.files ?? RESTORE_TEST_FILES_PER_SERVER,
              wholeVolume: event.wholeVolume === true,
            }
          : {
              all: event.all === true,
              runNumber: scrubRunNumber(now),
              ...(event.coverRuns === undefined ? {} : { coverRuns: event.coverRuns }),
            };
    if (event.kind === GC_JOB_KIND && event.dryRun !== true) {
      // A scheduled collection resumes the one holding the fence instead of failing on it.
      runId = await heldCollectionRun(deps.gc.coordination);
    }
    if (runId === undefined && invocationId !== undefined) {
      // Named by the invocation: Lambda's retries of this event resume this run, not a new one,
      // and the record of an invocation that died names its job (failDeadLifecycleJob).
      runId = scheduledRunId(event.kind, invocationId);
      try {
        await deps.jobs.get(runId);
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        await deps.jobs.create(newRecord(event.kind, runId, params, now.toISOString()));
      }
    }
    if (runId === undefined) {
      const record = newRecord(event.kind, deps.newRunId(event.kind), params, now.toISOString());
      await deps.jobs.create(record);
      runId = record.jobId;
    }
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) {
    throw new ValidationError(`invalid run id ${JSON.stringify(runId)}`, { context: { runId } });
  }
  await recordStartedHandover(deps, runId, event.handover);
  if (event.kind === RESTORE_TEST_JOB_KIND) return runRestoreTestJob(deps, runId, deadline);
  return event.kind === GC_JOB_KIND ? runGcJob(deps, runId, deadline) : runScrubJob(deps, runId, deadline);
}

// ---- an invocation that died ----

/** The run id of a scheduled run (an event without one), from the id of its invocation. */
export function scheduledRunId(kind: string, invocationId: string): string {
  return `${kind}-${invocationId}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, MAX_LIFECYCLE_RUN_ID_CHARS);
}

function handoversOf(record: JobRecord): number {
  const handovers = record.params.handovers;
  return typeof handovers === 'number' ? handovers : 0;
}

/** The newest handover whose invocation has started (`params.startedHandover`; 0: none yet). */
function startedHandoverOf(record: JobRecord): number {
  const started = record.params.startedHandover;
  return typeof started === 'number' ? started : 0;
}

/**
 * Records in a running job that the invocation of `handover` has started. A handover is recorded
 * before its launch, which may fail on every attempt (throttled, denied); only a started successor
 * makes an older invocation's death record stale (failDeadLifecycleJob).
 */
async function recordStartedHandover(
  deps: LifecycleJobDeps,
  runId: string,
  handover: number | undefined,
): Promise<void> {
  if (handover === undefined) return;
  const job = await deps.jobs.get(runId);
  if (job.status !== 'RUNNING' || startedHandoverOf(job) >= handover) return;
  const now = deps.clock.now().toISOString();
  const started = { ...job, params: { ...job.params, startedHandover: handover }, updatedAt: now };
  await deps.jobs.update(started, ['RUNNING']);
}

/**
 * The record Lambda sends to the lifecycle job function's on-failure destination (the function
 * itself) when every attempt of an invocation died. The payload is kept unparsed: the record of a
 * destination invocation that failed in turn carries a record, not a run, and is ignored.
 */
export const deadLifecycleJobSchema = deadInvocationRecordSchema(z.unknown());
export type DeadLifecycleJob = z.infer<typeof deadLifecycleJobSchema>;

/** What became of a dead invocation's job. */
export interface DeadLifecycleJobOutcome {
  readonly runId?: string;
  /** The job's status now; absent when the record names no job of this function. */
  readonly status?: JobStatus;
  /** True when this record ended the job. */
  readonly failed: boolean;
}

/**
 * Ends the job of a lifecycle invocation that died (timeout, out of memory) FAILED with the
 * reason, and counts a failed restore test or scrub in its alarm metric. The write is conditional
 * on the job still running; a job that finished, or a collection or restore test whose later
 * invocation has started, is left as it is.
 */
export async function failDeadLifecycleJob(
  deps: LifecycleRunDeps,
  record: DeadLifecycleJob,
): Promise<DeadLifecycleJobOutcome> {
  const parsed = lifecycleJobEventSchema.safeParse(record.requestPayload);
  if (!parsed.success) return { failed: false };
  const event = parsed.data;
  const runId =
    event.runId ??
    (event.kind === EXPIRE_JOB_KIND && event.planRunId !== undefined
      ? expiryRunIdOf(event.planRunId)
      : record.requestContext.requestId === undefined
        ? undefined
        : scheduledRunId(event.kind, record.requestContext.requestId));
  if (runId === undefined) return { failed: false };
  let job: JobRecord;
  try {
    job = await deps.jobs.get(runId);
  } catch (error) {
    if (error instanceof NotFoundError) return { runId, failed: false };
    throw error;
  }
  // Stale: a later invocation of the job has started (not merely been handed over to: its launch
  // may have failed, and then nothing else would end the job).
  const handover = 'handover' in event ? event.handover : undefined;
  const stale = (handover ?? 0) < startedHandoverOf(job);
  if (job.kind !== event.kind || stale || FINAL_JOB_STATUSES.includes(job.status)) {
    return { runId, status: job.status, failed: false };
  }
  const now = deps.clock.now().toISOString();
  const failed: JobRecord = {
    ...job,
    status: 'FAILED',
    failure: deadInvocationFailure(record, `the ${event.kind} job`, 'LifecycleJobDied'),
    updatedAt: now,
    expiresAtEpochSeconds: jobExpiry(now),
  };
  try {
    await deps.jobs.update(failed, ['PENDING', 'RUNNING']);
  } catch (error) {
    // It finished between the read and the write.
    if (error instanceof ConflictError)
      return { runId, status: (await deps.jobs.get(runId)).status, failed: false };
    throw error;
  }
  if (event.kind === RESTORE_TEST_JOB_KIND) deps.recordRestoreTestFailures?.(1);
  if (event.kind === SCRUB_JOB_KIND) deps.recordFindings(1);
  return { runId, status: 'FAILED', failed: true };
}
