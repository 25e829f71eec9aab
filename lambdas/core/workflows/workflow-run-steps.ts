/**
 * The steps of the workflow-run state machine (statemachines/workflow-run.asl.json) over the run
 * store: `begin` makes sure the run record exists (the API writes it before it starts the
 * execution; a schedule's execution is named by the scheduler, and its record is written here
 * after the same checks), `advance` moves the run as far as it can go now and says how long to
 * wait, `fail` records a failure that escaped the retries. The state machine carries only the run
 * id, so the record is the one truth about a run.
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { advanceWorkflowRun, failWorkflowRunNow, type AdvanceResult } from './workflow-run-engine.ts';
import { getWorkflowRun, plannedRun } from './workflow-run-service.ts';
import type { WORKFLOW_RUN_STATUSES } from './workflow-run.ts';
import { WORKFLOW_RUN_ACTIONS, WORKFLOW_RUN_ID_PATTERN } from './workflow-run.ts';
import type { WorkflowRunPorts } from './workflow-run-ports.ts';

const runIdSchema = z.string().regex(WORKFLOW_RUN_ID_PATTERN);

/** The event of the run state machine's one Lambda. */
export const workflowRunEventSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('begin'),
    runId: runIdSchema,
    /** `{runId}` from the API; `{workflow, trigger, runAction?}` from a schedule. */
    input: z.union([
      z.strictObject({ runId: runIdSchema }),
      z.strictObject({
        workflow: z.string().min(1),
        trigger: z.string().min(1).max(256),
        runAction: z.enum(WORKFLOW_RUN_ACTIONS).default('run'),
      }),
    ]),
  }),
  z.strictObject({ action: z.literal('advance'), runId: runIdSchema }),
  z.strictObject({
    action: z.literal('fail'),
    runId: runIdSchema,
    /** The Catch's `$.error`: `{Error, Cause}`. */
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
]);
export type WorkflowRunEvent = z.infer<typeof workflowRunEventSchema>;

/** What the state machine carries between its steps. */
export interface WorkflowRunStep {
  readonly runId: string;
  readonly status: (typeof WORKFLOW_RUN_STATUSES)[number];
  /** Present while the run goes on: the Wait state's SecondsPath. */
  readonly waitSeconds?: number;
}

export interface WorkflowRunFunctionPorts extends WorkflowRunPorts {
  /**
   * The longest Wait the run asks for. Unset in AWS; the local stack sets a second or two so
   * that its tests do not sleep through AWS-sized waits.
   */
  readonly maxWaitSeconds?: number;
}

function stepOf(ports: WorkflowRunFunctionPorts, result: AdvanceResult): WorkflowRunStep {
  const wait =
    result.waitSeconds === undefined || ports.maxWaitSeconds === undefined
      ? result.waitSeconds
      : Math.min(result.waitSeconds, ports.maxWaitSeconds);
  return {
    runId: result.run.runId,
    status: result.run.status,
    ...(wait === undefined ? {} : { waitSeconds: wait }),
  };
}

export async function beginWorkflowRun(
  ports: WorkflowRunFunctionPorts,
  event: Extract<WorkflowRunEvent, { action: 'begin' }>,
): Promise<WorkflowRunStep> {
  const existing = await ports.runs.get(event.runId);
  if (existing !== undefined) return { runId: existing.runId, status: existing.status };
  if ('runId' in event.input) {
    throw new NotFoundError(`workflow run ${event.runId} has no record`, { context: { runId: event.runId } });
  }
  const run = await plannedRun(
    ports,
    event.runId,
    event.input.workflow,
    event.input.runAction,
    event.input.trigger,
  );
  await ports.runs.create(run);
  return { runId: run.runId, status: run.status };
}

/** Load, advance, save (conditional on the revision read: two steps never overwrite each other). */
export async function advanceStoredWorkflowRun(
  ports: WorkflowRunFunctionPorts,
  runId: string,
): Promise<WorkflowRunStep> {
  const run = await getWorkflowRun(ports, runId);
  const result = await advanceWorkflowRun(ports, run);
  if (result.run !== run) {
    await ports.runs.replace({ ...result.run, revision: run.revision + 1 }, run.revision);
  }
  return stepOf(ports, result);
}

export async function failStoredWorkflowRun(
  ports: WorkflowRunFunctionPorts,
  runId: string,
  cause: string,
): Promise<WorkflowRunStep> {
  const run = await ports.runs.get(runId);
  if (run === undefined) return { runId, status: 'Failed' };
  const result = await failWorkflowRunNow(ports, run, cause);
  if (result.run !== run) {
    await ports.runs.replace({ ...result.run, revision: run.revision + 1 }, run.revision);
  }
  return stepOf(ports, result);
}
