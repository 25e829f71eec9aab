/**
 * The plan-run record (format version 1, docs/plans.md): one zod schema for what the run state
 * machine carries, what the store keeps and what `GET /plan-runs/{runId}` answers, plus the rule
 * that turns the tasks' outcomes into the run's status.
 */
import { z } from 'zod';
import { planDocumentSchema } from './plan-document.ts';

export const PLAN_RUN_FORMAT_VERSION = 1;

/** Run ids end up in backup ids (`<runId>-t<index>`), which are Step Functions execution names (≤ 80). */
export const MAX_RUN_ID_CHARS = 64;
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const TASK_STATUSES = ['Pending', 'Running', 'Succeeded', 'Skipped', 'Failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const RUN_STATUSES = ['Running', 'Succeeded', 'PartiallySucceeded', 'Failed', 'Stopped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Why a run stopped before (or instead of) running its tasks. */
export const STOP_REASONS = [
  'BackupsDisabled',
  'OutsideWindow',
  'DestinationUnavailable',
  'CapacityExceeded',
  'NothingToRun',
  'PrePlanHookFailed',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** The steps of one task, in the order they run. */
export const TASK_STEPS = [
  'Window',
  'Capacity',
  'QuiesceCheck',
  'PreTaskHook',
  'Quiesce',
  'AwaitQuiesce',
  'SelectSource',
  'Backup',
  'AwaitBackup',
  'Release',
  'AwaitRelease',
  'PostTaskHook',
  'Done',
] as const;
export type TaskStep = (typeof TASK_STEPS)[number];

export const RUN_PHASES = ['Checks', 'PrePlanHook', 'Tasks', 'Finished'] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

const isoInstant = z.iso.datetime();

const agentRequestSchema = z.strictObject({
  requestId: z.string().min(1),
  requestedAt: isoInstant,
  /** When the task stops waiting: the timeout plus the grace period. */
  giveUpAt: isoInstant,
});
export type AgentRequest = z.infer<typeof agentRequestSchema>;

export const planTaskSchema = z.strictObject({
  /** Position in creation order, from 0. */
  index: z.number().int().min(0),
  /** The activity (index in the plan) the task comes from. */
  activity: z.number().int().min(0),
  /** A server name; for a pattern that matched nothing, the pattern. */
  server: z.string().min(1),
  /** An application name; for a Skipped task, the activity's application pattern. */
  application: z.string().min(1).optional(),
  status: z.enum(TASK_STATUSES),
  step: z.enum(TASK_STEPS),
  /** Why the task was Skipped or Failed (several causes joined with `; `). */
  reason: z.string().optional(),
  source: z.enum(['replica', 'primary']).optional(),
  /** Why that source was chosen. */
  sourceReason: z.string().optional(),
  /** How many backups this task started (a replica that misses its checkpoint may fall back once). */
  backupAttempts: z.number().int().min(0),
  backupId: z.string().optional(),
  /**
   * Set when the backup found the server's previous backup still running (it overran into this
   * task): the task ends Skipped with this reason once its release and post-task hook are done.
   */
  overrunReason: z.string().optional(),
  imageIds: z.array(z.string()).optional(),
  /**
   * Seconds between the recovery point this task's backup committed and the server's point before
   * it: the RPO the task achieved (absent for the server's first point).
   */
  rpoAchievedSeconds: z.number().int().min(0).optional(),
  /** The quiesce request this task sent (present once sent). */
  quiesce: agentRequestSchema.optional(),
  /** The release request this task sent (present once sent). */
  release: agentRequestSchema.optional(),
  startedAt: isoInstant.optional(),
  finishedAt: isoInstant.optional(),
});
export type PlanTask = z.infer<typeof planTaskSchema>;

export const planRunSchema = z.strictObject({
  formatVersion: z.literal(PLAN_RUN_FORMAT_VERSION),
  runId: z.string().min(1).max(MAX_RUN_ID_CHARS).regex(RUN_ID_PATTERN),
  plan: z.string().min(1),
  /** `schedule:<schedule name>`, `api:<caller>` or `manual`. */
  trigger: z.string().min(1).max(256),
  status: z.enum(RUN_STATUSES),
  phase: z.enum(RUN_PHASES),
  stoppedBy: z.enum(STOP_REASONS).optional(),
  reason: z.string().optional(),
  startedAt: isoInstant,
  finishedAt: isoInstant.optional(),
  /** The plan as it was when the run started: a later update does not change a running run. */
  planDocument: planDocumentSchema,
  tasks: z.array(planTaskSchema),
});
export type PlanRun = z.infer<typeof planRunSchema>;

export function isTerminalTask(status: TaskStatus): boolean {
  return status === 'Succeeded' || status === 'Skipped' || status === 'Failed';
}

/**
 * The status of a run whose tasks are all finished:
 * - every task Skipped (or none at all): `Stopped`;
 * - every task Succeeded: `Succeeded`;
 * - no task Succeeded (some Failed): `Failed`;
 * - otherwise `PartiallySucceeded` — this includes Succeeded tasks next to Skipped ones: a
 *   server that was skipped was not backed up, and the run says so.
 */
export function aggregateRunStatus(statuses: readonly TaskStatus[]): Exclude<RunStatus, 'Running'> {
  if (statuses.some((s) => !isTerminalTask(s))) throw new RangeError('the run still has unfinished tasks');
  if (statuses.every((s) => s === 'Skipped')) return 'Stopped';
  if (statuses.every((s) => s === 'Succeeded')) return 'Succeeded';
  if (!statuses.includes('Succeeded')) return 'Failed';
  return 'PartiallySucceeded';
}

/** The run as the CLI prints it with `--json` (tasks in creation order). */
export interface PlanRunSummary {
  readonly runId: string;
  readonly plan: string;
  readonly status: RunStatus;
  readonly reason?: string;
  readonly tasks: readonly {
    readonly server: string;
    readonly application?: string;
    readonly status: TaskStatus;
    readonly reason?: string;
    readonly source?: 'replica' | 'primary';
    readonly backupId?: string;
    readonly imageIds?: string[];
  }[];
}

export type PlanTaskSummary = PlanRunSummary['tasks'][number];

/** A task's summary from the task or from anything that carries its summary's fields (its API view). */
export function summariseTask(t: PlanTaskSummary): PlanTaskSummary {
  return {
    server: t.server,
    ...(t.application === undefined ? {} : { application: t.application }),
    status: t.status,
    ...(t.reason === undefined ? {} : { reason: t.reason }),
    ...(t.source === undefined ? {} : { source: t.source }),
    ...(t.backupId === undefined ? {} : { backupId: t.backupId }),
    ...(t.imageIds === undefined ? {} : { imageIds: t.imageIds }),
  };
}

/** The run's summary from the run or from its API view. */
export function summariseRun(run: PlanRunSummary): PlanRunSummary {
  return {
    runId: run.runId,
    plan: run.plan,
    status: run.status,
    ...(run.reason === undefined ? {} : { reason: run.reason }),
    tasks: run.tasks.map(summariseTask),
  };
}
