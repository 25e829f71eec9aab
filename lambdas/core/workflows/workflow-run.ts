/**
 * The workflow-run record (format version 1, docs/workflows.md): one zod schema for what the run
 * store keeps and what `GET /workflow-runs/{runId}` answers, the run ids, and the summary
 * `rbp workflows run --json` prints. A run record is a named record (name = run id), with the
 * NamedRecordStore operations the workflows themselves have, and is also read a workflow at a time
 * (WorkflowRunStore); the state machine carries only the run id. The record format is the same in
 * both places the DynamoDB store keeps it (lambdas/aws/workflow-run-store.ts).
 */
import { z } from 'zod';
import type { PageRequest, StorePage } from '../api/api-ports.ts';
import { ConflictError } from '../errors.ts';
import type { NamedRecordStore } from '../store/named-records.ts';
import { WORKFLOW_TYPES, workflowDocumentSchema } from './workflow-document.ts';

export const WORKFLOW_RUN_FORMAT_VERSION = 1;

/**
 * Run ids `wr-<UTC time>-<random hex>`: time-ordered as text, and short enough that the run's
 * volume restore ids (`<runId>-v<index>`) stay within a Step Functions execution name (80).
 */
export const WORKFLOW_RUN_ID_PATTERN = /^wr-[0-9a-z]{1,24}-[0-9a-f]{1,16}$/;

export const WORKFLOW_RUN_STATUSES = ['Running', 'Succeeded', 'Failed'] as const;
export type WorkflowRunStatus = (typeof WORKFLOW_RUN_STATUSES)[number];

/** `run`: make (or refresh) the clone or mount; `unmount`: detach and delete what the workflow mounted. */
export const WORKFLOW_RUN_ACTIONS = ['run', 'unmount'] as const;
export type WorkflowRunAction = (typeof WORKFLOW_RUN_ACTIONS)[number];

/** The steps of a run, in the order they happen (a run skips those its workflow does not need). */
export const WORKFLOW_RUN_PHASES = [
  'Restore',
  'Mask',
  'Tag',
  'CreateVolume',
  'Attach',
  'Replace',
  'Unmount',
  'Finished',
] as const;
export type WorkflowRunPhase = (typeof WORKFLOW_RUN_PHASES)[number];

const isoInstant = z.iso.datetime();

/** What the run did for one of the workflow's (replica) volumes. */
export const workflowRunVolumeSchema = z.strictObject({
  /** The replica volume whose image is presented. */
  sourceVolumeId: z.string().min(1),
  imageId: z.string().min(1),
  /** The volume restore that wrote the clone snapshot (`<runId>-v<index>`). */
  restoreId: z.string().min(1).optional(),
  /** A refresh: the previous clone's restore, so only the changed blocks are written. */
  parentRestoreId: z.string().min(1).optional(),
  /** The restore's snapshot (unmasked). */
  restoredSnapshotId: z.string().min(1).optional(),
  /** Blocks the restore wrote (all of the image's, or only the changed ones of a refresh). */
  changedBlocksCount: z.number().int().min(0).optional(),
  /** The clone: the restored snapshot, or the masking hook's snapshot of it. */
  snapshotId: z.string().min(1).optional(),
  /** createVolume / DirectMount: the volume made from the clone. */
  volumeId: z.string().min(1).optional(),
  /** DirectMount: where the volume is attached on the target instance. */
  device: z.string().min(1).optional(),
  attached: z.boolean().optional(),
});
export type WorkflowRunVolume = z.infer<typeof workflowRunVolumeSchema>;

export const workflowRunSchema = z.strictObject({
  formatVersion: z.literal(WORKFLOW_RUN_FORMAT_VERSION),
  /** The run id (the named-record store's name). */
  name: z.string().regex(WORKFLOW_RUN_ID_PATTERN),
  revision: z.number().int().min(1),
  runId: z.string().regex(WORKFLOW_RUN_ID_PATTERN),
  workflow: z.string().min(1),
  type: z.enum(WORKFLOW_TYPES),
  action: z.enum(WORKFLOW_RUN_ACTIONS),
  /** `api`, `schedule:<name>` or `manual`. */
  trigger: z.string().min(1).max(256),
  status: z.enum(WORKFLOW_RUN_STATUSES),
  phase: z.enum(WORKFLOW_RUN_PHASES),
  /** Why the run failed. */
  reason: z.string().optional(),
  startedAt: isoInstant,
  endedAt: isoInstant.optional(),
  /** The workflow as it was when the run started: a later update does not change a running run. */
  document: workflowDocumentSchema,
  volumes: z.array(workflowRunVolumeSchema),
  /** rbp:non-sensitive=true was put on the clone (masking succeeded, or the workflow declared it). */
  nonSensitive: z.boolean(),
  /** The earlier run whose clone (or mount) this run replaces or removes once its own is complete. */
  replacesRunId: z.string().regex(WORKFLOW_RUN_ID_PATTERN).optional(),
  /** Set on a run whose clone (or mount) a later run replaced or removed: it no longer exists. */
  replacedByRunId: z.string().regex(WORKFLOW_RUN_ID_PATTERN).optional(),
});
export type WorkflowRun = z.infer<typeof workflowRunSchema>;

/**
 * Run records: named records (name = run id), also readable per workflow, newest first, one page
 * at a time, so that nothing reads the runs of every workflow to find one workflow's.
 */
export interface WorkflowRunStore extends NamedRecordStore<WorkflowRun> {
  /**
   * One page of the runs of `workflow`, newest first (run ids are time-ordered as text): at most
   * `limit` runs after the position in `pageToken` (a token of an earlier page of the same
   * workflow); `nextToken` only when more may follow.
   */
  pageOfWorkflow(workflow: string, request: PageRequest): Promise<StorePage<WorkflowRun>>;
  /**
   * Where the starts of `workflow` stand: the id of the run createStarted wrote last for it, or
   * undefined before its first. Read (strongly consistent) before a start checks the workflow's
   * runs, and handed back to createStarted.
   */
  lastStart(workflow: string): Promise<string | undefined>;
  /**
   * Creates `run` (as `create`) together with its workflow's start position, only when no other
   * run of the workflow was created by createStarted since `lastStart` was read, so of two starts
   * that passed the check at the same time one is written and the other refused:
   * ConflictError `workflow <name> is already running (run <the other run>)`.
   */
  createStarted(run: WorkflowRun, lastStart: string | undefined): Promise<void>;
}

/** The ConflictError of a start refused because another run of the workflow is running or was just started. */
export function alreadyRunningError(workflow: string, runId: string): ConflictError {
  return new ConflictError(`workflow ${workflow} is already running (run ${runId})`, {
    context: { workflow, runId },
  });
}

/** Run ids `wr-<time>-<hex>`, time-ordered as text. */
export function workflowRunIdOf(now: Date, randomHex: string): string {
  const time = now.toISOString().replace(/[-:.]/g, '').replace('T', 't').replace('Z', 'z');
  return `wr-${time}-${randomHex}`;
}

/** The volume restore id of a run's `index`-th volume. */
export function runRestoreId(runId: string, index: number): string {
  return `${runId}-v${index}`;
}

export const workflowRunSummarySchema = z.strictObject({
  runId: z.string(),
  workflow: z.string(),
  status: z.enum(WORKFLOW_RUN_STATUSES),
  reason: z.string().optional(),
  imageIds: z.array(z.string()),
  snapshotIds: z.array(z.string()),
  volumeIds: z.array(z.string()).optional(),
});
/** What `rbp workflows run NAME --json` prints (the interface, exactly these fields). */
export type WorkflowRunSummary = z.infer<typeof workflowRunSummarySchema>;

export function summariseWorkflowRun(run: WorkflowRun): WorkflowRunSummary {
  const volumeIds = run.volumes.flatMap((v) => (v.volumeId === undefined ? [] : [v.volumeId]));
  return {
    runId: run.runId,
    workflow: run.workflow,
    status: run.status,
    ...(run.reason === undefined ? {} : { reason: run.reason }),
    imageIds: run.volumes.map((v) => v.imageId),
    snapshotIds: run.volumes.flatMap((v) => (v.snapshotId === undefined ? [] : [v.snapshotId])),
    ...(volumeIds.length === 0 ? {} : { volumeIds }),
  };
}

/** `GET /workflow-runs/{runId}` and the items of `GET /workflows/{name}/runs`. */
export const workflowRunViewSchema = z.strictObject({
  runId: z.string(),
  workflow: z.string(),
  type: z.enum(WORKFLOW_TYPES),
  action: z.enum(WORKFLOW_RUN_ACTIONS),
  trigger: z.string(),
  status: z.enum(WORKFLOW_RUN_STATUSES),
  phase: z.enum(WORKFLOW_RUN_PHASES),
  reason: z.string().optional(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  nonSensitive: z.boolean(),
  imageIds: z.array(z.string()),
  snapshotIds: z.array(z.string()),
  volumeIds: z.array(z.string()),
  replacesRunId: z.string().optional(),
  replacedByRunId: z.string().optional(),
  volumes: z.array(workflowRunVolumeSchema),
});
export type WorkflowRunView = z.infer<typeof workflowRunViewSchema>;

export function workflowRunViewOf(run: WorkflowRun): WorkflowRunView {
  const summary = summariseWorkflowRun(run);
  return {
    runId: run.runId,
    workflow: run.workflow,
    type: run.type,
    action: run.action,
    trigger: run.trigger,
    status: run.status,
    phase: run.phase,
    ...(run.reason === undefined ? {} : { reason: run.reason }),
    startedAt: run.startedAt,
    ...(run.endedAt === undefined ? {} : { endedAt: run.endedAt }),
    nonSensitive: run.nonSensitive,
    imageIds: summary.imageIds,
    snapshotIds: summary.snapshotIds,
    volumeIds: summary.volumeIds ?? [],
    ...(run.replacesRunId === undefined ? {} : { replacesRunId: run.replacesRunId }),
    ...(run.replacedByRunId === undefined ? {} : { replacedByRunId: run.replacedByRunId }),
    volumes: run.volumes,
  };
}
