/**
 * Starting and advancing plan runs over a run store: what the API's `POST /plans/{name}/runs`
 * and the two steps of the run state machine (Begin Run, Advance Run) do. The step state is one
 * zod schema (`planRunStepSchema`): the run record itself lives in the store, so the state
 * machine carries only its id, and a plan of hundreds of servers never meets Step Functions'
 * 256 KiB payload limit.
 */
import { z } from 'zod';
import { NotFoundError, PermanentError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { PlanRunPorts } from './plan-ports.ts';
import { MAX_RUN_ID_CHARS, RUN_ID_PATTERN, RUN_STATUSES, summariseRun, type PlanRun } from './plan-run.ts';
import type { PlanStore } from './plan-service.ts';
import {
  checkRpo,
  type NewestRecoveryPoints,
  type RecoveryPointPages,
  type RpoCheckResult,
  type RpoStateStore,
} from './rpo.ts';
import { advancePlanRun, newPlanRun, PLAN_RUN_FINISHED, type PlanEvent } from './run-engine.ts';

export interface PlanRunStore {
  /** Creates the run unless one with its id exists; returns the stored run either way. */
  createIfAbsent(run: PlanRun): Promise<PlanRun>;
  get(runId: string): Promise<PlanRun | undefined>;
  /** Replaces the stored run. */
  save(run: PlanRun): Promise<void>;
  /** ConflictError-free removal (absent is success); used when the run could not be started. */
  delete(runId: string): Promise<void>;
}

export interface PlanEventPublisher {
  /** EventBridge (source `rbp.plans`) and SNS; throws a retryable error when it could not. */
  publish(events: readonly PlanEvent[]): Promise<void>;
}

const runIdSchema = z.string().min(1).max(MAX_RUN_ID_CHARS).regex(RUN_ID_PATTERN);

/** The input of the run state machine (from the API or an EventBridge Scheduler schedule). */
export const planRunInputSchema = z.strictObject({
  plan: z.string().min(1),
  /** `schedule:<name>`, `api:<caller>` or `manual`. */
  trigger: z.string().min(1).max(256),
});
export type PlanRunInput = z.infer<typeof planRunInputSchema>;

/** What the run state machine carries between its steps. */
export const planRunStepSchema = z.strictObject({
  runId: runIdSchema,
  status: z.enum(RUN_STATUSES),
  /** Present while the run goes on: the Wait state's SecondsPath. */
  waitSeconds: z.number().int().min(1).optional(),
});
export type PlanRunStep = z.infer<typeof planRunStepSchema>;

/** Plan-run ids: `pr-<UTC time>-<random hex>`, time-ordered as text, within MAX_RUN_ID_CHARS. */
export function planRunIdOf(now: Date, randomHex: string): string {
  const time = now.toISOString().replace(/[-:.]/g, '').replace('T', 't').replace('Z', 'z');
  return `pr-${time}-${randomHex}`.slice(0, MAX_RUN_ID_CHARS);
}

export interface BeginRunPorts {
  readonly plans: PlanStore;
  readonly runs: PlanRunStore;
  readonly clock: Clock;
}

/**
 * Creates the run record for `runId` from the plan as it is now, or returns the one that exists
 * (the API creates it before starting the execution; a scheduled execution creates it here).
 */
export async function beginPlanRun(
  ports: BeginRunPorts,
  runId: string,
  input: PlanRunInput,
): Promise<PlanRunStep> {
  const id = runIdSchema.parse(runId);
  const existing = await ports.runs.get(id);
  if (existing !== undefined) return { runId: id, status: existing.status };
  const plan = await ports.plans.get(input.plan);
  if (plan === undefined)
    throw new NotFoundError(`plan ${input.plan} does not exist`, { context: { plan: input.plan } });
  const run = await ports.runs.createIfAbsent(
    newPlanRun({ runId: id, plan: plan.document, trigger: input.trigger, startedAt: ports.clock.now() }),
  );
  return { runId: id, status: run.status };
}

export interface AdvanceRunPorts extends PlanRunPorts {
  /** The servers' recovery points: a task that committed one records the RPO it achieved. */
  readonly recoveryPoints?: RecoveryPointPages;
  readonly runs: PlanRunStore;
  readonly events: PlanEventPublisher;
}

/**
 * One Advance Run step: load, advance, publish the events, save. Events go out before the save,
 * so a step that fails in between repeats them (duplicates are possible, lost events are not).
 */
export async function advanceStoredRun(ports: AdvanceRunPorts, runId: string): Promise<PlanRunStep> {
  const run = await ports.runs.get(runId);
  if (run === undefined) throw new NotFoundError(`plan run ${runId} does not exist`, { context: { runId } });
  const result = await advancePlanRun(run, ports);
  if (result.events.length > 0) await ports.events.publish(result.events);
  await ports.runs.save(result.run);
  return {
    runId,
    status: result.run.status,
    ...(result.waitSeconds === undefined ? {} : { waitSeconds: result.waitSeconds }),
  };
}

/** Longest failure cause kept on a run: a sentence or two, never a stack. */
export const MAX_FAILURE_CAUSE_CHARS = 1_000;

/**
 * Records that the run failed inside the service (the Advance Run step threw past its retries):
 * status Failed, every unfinished task Failed with the cause, the outcome published. Idempotent.
 */
export async function failStoredRun(
  ports: { readonly runs: PlanRunStore; readonly events: PlanEventPublisher; readonly clock: Clock },
  runId: string,
  cause: string,
): Promise<void> {
  const run = await ports.runs.get(runId);
  if (run === undefined || run.phase === 'Finished') return;
  const now = ports.clock.now().toISOString();
  const reason = `the run failed inside the service: ${cause.slice(0, MAX_FAILURE_CAUSE_CHARS)}`;
  const failed: PlanRun = {
    ...run,
    status: 'Failed',
    phase: 'Finished',
    reason,
    finishedAt: now,
    tasks: run.tasks.map((task) =>
      task.status === 'Pending' || task.status === 'Running'
        ? { ...task, status: 'Failed', step: 'Done', reason: `not finished: ${reason}`, finishedAt: now }
        : task,
    ),
  };
  await ports.events.publish([
    {
      detailType: PLAN_RUN_FINISHED,
      detail: {
        ...summariseRun(failed),
        trigger: failed.trigger,
        startedAt: failed.startedAt,
        finishedAt: now,
      },
    },
  ]);
  await ports.runs.save(failed);
}

/** Starts an execution of the run state machine named by the run id. */
export interface PlanRunExecutions {
  /**
   * Starting a run id that already has an execution is a ConflictError, except a retry with the
   * same input while that execution runs: Step Functions answers it as the same start
   * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
   */
  start(runId: string, input: PlanRunInput): Promise<void>;
}

export interface StartRunPorts extends BeginRunPorts {
  readonly executions: PlanRunExecutions;
  /** Random hex for the run id. */
  readonly randomHex: () => string;
}

/**
 * `POST /plans/{name}/runs`: the run record first (so `GET /plan-runs/{runId}` answers at once),
 * then the execution; when the execution cannot start, the record is removed again.
 */
export async function startPlanRun(ports: StartRunPorts, input: PlanRunInput): Promise<PlanRunStep> {
  const runId = planRunIdOf(ports.clock.now(), ports.randomHex());
  const step = await beginPlanRun(ports, runId, input);
  try {
    await ports.executions.start(runId, input);
  } catch (error) {
    await ports.runs.delete(runId);
    throw error;
  }
  return step;
}

/** The event of the run state machine's one Lambda (statemachines/plan-run.asl.json). */
export const planRunEventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('begin'), runId: runIdSchema, input: planRunInputSchema }),
  z.strictObject({ action: z.literal('advance'), runId: runIdSchema }),
  /** The RPO check (rpo.ts), fired by its own schedule every RPO_CHECK_MINUTES. */
  z.strictObject({ action: z.literal('checkRpo') }),
  z.strictObject({
    action: z.literal('fail'),
    runId: runIdSchema,
    /** The Catch's `$.error`: `{Error, Cause}`. */
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
]);
export type PlanRunEvent = z.infer<typeof planRunEventSchema>;

/** What the run state machine's Lambda works over. */
export interface PlanRunFunctionPorts extends AdvanceRunPorts, BeginRunPorts {
  /** The newest live recovery point per server, for the RPO check; absent: the check is not wired. */
  readonly newestPoints?: NewestRecoveryPoints;
  /** The servers in breach, remembered between RPO checks. */
  readonly rpoState?: RpoStateStore;
  /**
   * The longest Wait the run asks for. Unset in AWS; the local stack sets a second so that its
   * tests move an injected clock instead of sleeping through real waits.
   */
  readonly maxWaitSeconds?: number;
}

/**
 * The `checkRpo` action of the plan-run function: one RPO check over the function's ports. A
 * deployment without the recovery points or the state store fails it (a wiring defect).
 */
export async function checkStoredRpo(ports: PlanRunFunctionPorts): Promise<RpoCheckResult> {
  const { newestPoints, rpoState } = ports;
  if (newestPoints === undefined || rpoState === undefined)
    throw new PermanentError(
      'the RPO check needs the recovery points and the RPO state store (plan-wiring.ts)',
    );
  return checkRpo({
    clock: ports.clock,
    plans: ports.plans,
    servers: ports.servers,
    points: newestPoints,
    state: rpoState,
    publish: (events) => ports.events.publish(events),
  });
}
