/**
 * The executions of the run state machines in memory (plan runs, workflow runs, volume restores),
 * named by the run or restore id, with Step Functions' rule for a name: StartExecution with the
 * name and input of a running execution is that execution again; with another input, or once it
 * ended, it is ExecutionAlreadyExists
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
 */
import { ConflictError, type RbpError } from '../../lambdas/core/errors.ts';
import type { PlanRunExecutions, PlanRunInput } from '../../lambdas/core/plans/run-service.ts';
import type { RestoreLauncher, RestoreWorkerEvent } from '../../lambdas/core/api/restore-service.ts';
import type { WorkflowRunExecutions } from '../../lambdas/core/workflows/workflow-run-ports.ts';

export interface MemoryExecution {
  /** The input as Step Functions keeps it: JSON text. */
  readonly input: string;
  running: boolean;
}

/** Executions by name; `refusal` is the error a refused start rejects with. */
export class MemoryNamedExecutions {
  readonly executions = new Map<string, MemoryExecution>();
  /** Every start asked for, refused or not. */
  starts = 0;

  constructor(private readonly refusal: (name: string) => RbpError) {}

  start(name: string, input: unknown): Promise<void> {
    this.starts += 1;
    const text = JSON.stringify(input);
    const existing = this.executions.get(name);
    if (existing === undefined) this.executions.set(name, { input: text, running: true });
    else if (!existing.running || existing.input !== text) return Promise.reject(this.refusal(name));
    return Promise.resolve();
  }

  /** The execution ended (succeeded, failed or stopped). */
  end(name: string): void {
    const execution = this.executions.get(name);
    if (execution === undefined) throw new Error(`no execution ${name}`);
    execution.running = false;
  }
}

/** SfnPlanRunExecutions in memory: the input is the run's `{plan, trigger}`. */
export class MemoryPlanRunExecutions extends MemoryNamedExecutions implements PlanRunExecutions {
  constructor() {
    super((runId) => new ConflictError(`plan run ${runId} already exists`, { context: { runId } }));
  }

  override start(runId: string, input: PlanRunInput): Promise<void> {
    return super.start(runId, input);
  }
}

/** SfnWorkflowRunExecutions in memory: the input is `{runId}`. */
export class MemoryWorkflowRunExecutions extends MemoryNamedExecutions implements WorkflowRunExecutions {
  constructor() {
    super(
      (runId) => new ConflictError(`workflow run ${runId} already has an execution`, { context: { runId } }),
    );
  }

  override start(runId: string): Promise<void> {
    return super.start(runId, { runId });
  }
}

/**
 * StateMachineVolumeRestoreLauncher in memory: the input is `{restoreId}`; a refused start is a
 * ConflictError, as for plan and workflow runs.
 */
export class MemoryVolumeRestoreExecutions extends MemoryNamedExecutions implements RestoreLauncher {
  constructor() {
    super(
      (restoreId) =>
        new ConflictError(`volume restore ${restoreId} already has an execution`, { context: { restoreId } }),
    );
  }

  launch(event: RestoreWorkerEvent): Promise<void> {
    return this.start(event.restoreId, { restoreId: event.restoreId });
  }

  /** StopExecution (a cancel): a running execution ends; an ended or never started one is left. */
  stop(event: RestoreWorkerEvent): Promise<void> {
    if (this.executions.get(event.restoreId)?.running === true) this.end(event.restoreId);
    return Promise.resolve();
  }
}

/**
 * The API's restore launcher in memory (RoutingRestoreLauncher's routing): file restores are
 * kept as the worker's events, volume restores start a MemoryVolumeRestoreExecutions execution.
 */
export class MemoryRestoreLaunches implements RestoreLauncher {
  /** The events the restore worker received, in order. */
  readonly workerEvents: RestoreWorkerEvent[] = [];
  readonly volumes = new MemoryVolumeRestoreExecutions();

  launch(event: RestoreWorkerEvent): Promise<void> {
    if (event.kind === 'volume') return this.volumes.launch(event);
    this.workerEvents.push({ ...event });
    return Promise.resolve();
  }

  stop(event: RestoreWorkerEvent): Promise<void> {
    return event.kind === 'volume' ? this.volumes.stop(event) : Promise.resolve();
  }
}
