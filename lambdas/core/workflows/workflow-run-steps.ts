/**
 * The steps of the workflow-run state machine (statemachines/workflow-run.asl.json) over the run
 * store: `begin` makes sure the run record exists (the API writes it before it starts the
 * execution; a schedule's execution is named by the scheduler, and its record is written here
 * after the same checks), `advance` moves the run as far as it can go now and says how long to
 * wait, `fail` records a failure that escaped the retries. The state machine carries only the run
 * id, so the record is the one truth about a run.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { advanceWorkflowRun, failWorkflowRunNow, type AdvanceResult } from './workflow-run-engine.ts';
import { createPlannedRun, getWorkflowRun } from './workflow-run-service.ts';
import type { WORKFLOW_RUN_STATUSES } from './workflow-run.ts';
import { WORKFLOW_RUN_ACTIONS, WORKFLOW_RUN_ID_PATTERN, workflowRunIdOf } from './workflow-run.ts';
import type { WorkflowRunPorts } from './workflow-run-ports.ts';

const runIdSchema = z.string().regex(WORKFLOW_RUN_ID_PATTERN);
/** Phases one advance may go through before it hands back to the state machine (there are eight). */
const MAX_STEPS_PER_INVOCATION = 10;
/** Hex digits of the execution-name digest in a scheduled run's id (64 bits). */
const RUN_ID_DIGEST_HEX_CHARS = 16;

/** The event of the run state machine's one Lambda. */
export const workflowRunEventSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('begin'),
    /** The execution's name: the run id when the API started it; the scheduler's own name otherwise. */
    executionName: z.string().min(1).max(80),
    /** The execution's start time (`$$.Execution.StartTime`). */
    startTime: z.string().min(1),
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

/**
 * The run id of an execution: the API names its executions by run id; a schedule's execution gets
 * a run id made from its start time and a digest of its name, the same on every retry of the step.
 */
export function runIdOfExecution(executionName: string, startTime: string): string {
  if (WORKFLOW_RUN_ID_PATTERN.test(executionName)) return executionName;
  const started = new Date(startTime);
  const digest = createHash('sha256').update(executionName).digest('hex').slice(0, RUN_ID_DIGEST_HEX_CHARS);
  return workflowRunIdOf(Number.isNaN(started.getTime()) ? new Date(0) : started, digest);
}

export async function beginWorkflowRun(
  ports: WorkflowRunFunctionPorts,
  event: Extract<WorkflowRunEvent, { action: 'begin' }>,
): Promise<WorkflowRunStep> {
  const runId =
    'runId' in event.input ? event.input.runId : runIdOfExecution(event.executionName, event.startTime);
  const existing = await ports.runs.get(runId);
  if (existing !== undefined) return { runId: existing.runId, status: existing.status };
  if ('runId' in event.input) {
    throw new NotFoundError(`workflow run ${runId} has no record`, { context: { runId } });
  }
  const run = await createPlannedRun(
    ports,
    runId,
    event.input.workflow,
    event.input.runAction,
    event.input.trigger,
  );
  return { runId: run.runId, status: run.status };
}

/**
 * Load, advance, save (conditional on the revision read: two steps never overwrite each other);
 * a step that moved the run on without anything to wait for is followed at once by the next,
 * up to MAX_STEPS_PER_INVOCATION, so the state machine loops only to wait.
 */
export async function advanceStoredWorkflowRun(
  ports: WorkflowRunFunctionPorts,
  runId: string,
): Promise<WorkflowRunStep> {
  let run = await getWorkflowRun(ports, runId);
  for (let step = 1; ; step += 1) {
    const result = await advanceWorkflowRun(ports, run);
    if (result.run !== run) {
      const saved = { ...result.run, revision: run.revision + 1 };
      await ports.runs.replace(saved, run.revision);
      run = saved;
    }
    const done = result.waitSeconds !== undefined || run.status !== 'Running';
    if (done)
      return stepOf(ports, {
        run,
        ...(result.waitSeconds === undefined ? {} : { waitSeconds: result.waitSeconds }),
      });
    if (step >= MAX_STEPS_PER_INVOCATION) return stepOf(ports, { run, waitSeconds: 1 });
  }
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
