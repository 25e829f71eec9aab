/**
 * The plan-run engine: a deterministic step function over the run record. `advancePlanRun` takes
 * the run as it was persisted, does everything that can be done now through the ports, and
 * returns the new record, the events to publish, and how long to wait before calling it again
 * (the run state machine's Wait state; tests call it in a loop with a fake clock).
 *
 * Order of the run (docs/plans.md):
 *   1. the global switch; 2. the plan's window; 3. destination checks (probe write, capacity);
 *   4. expansion into tasks; 5. all Skipped → Stopped; 6. the pre-plan hook;
 *   7. tasks in creation order, at most `maxConcurrentTasks` at once, never two on one server.
 * Per task: window, capacity, not already quiesced, pre-task hook, quiesce (cancelled and
 * released when not confirmed by timeout + grace), source selection, backup, release (the task
 * fails when it is not confirmed by timeout + grace; the agent keeps releasing), post-task hook.
 *
 * Every port call is safe to repeat: when the step that calls the engine is retried, the quiesce
 * and release requests and the backup start carry deterministic ids; hooks may run again.
 */
import { describeError, isRetryable } from '../errors.ts';
import type { Activity, PlanDocument } from './plan-document.ts';
import { expandActivities } from './expansion.ts';
import { runHook } from './hooks.ts';
import type { HookPayload, PlanRunPorts, QuiesceRequest } from './plan-ports.ts';
import {
  aggregateRunStatus,
  isTerminalTask,
  PLAN_RUN_FORMAT_VERSION,
  summariseRun,
  summariseTask,
  type PlanRun,
  type PlanRunSummary,
  type PlanTaskSummary,
  type PlanTask,
  type StopReason,
} from './plan-run.ts';
import { unavailableReason } from './servers.ts';
import { capacityProblem } from './settings.ts';
import { selectSource } from './source-selection.ts';
import { isInsideWindow, outsideWindowReason } from './window.ts';
import { pointGapSeconds, type RecoveryPointPages, type RpoEvent } from './rpo.ts';
import { recoveryPointIdFor } from '../recovery-points/recovery-points.ts';

/** How long after a quiesce or release timeout the run still waits for the agent: three minutes. */
export const AGENT_GRACE_SECONDS = 180;
/**
 * How often a waiting run looks again: agents confirm within seconds and backups take minutes;
 * at 15 s a run of a day stays below Step Functions' 25,000 history events (3 per look).
 */
export const RUN_POLL_SECONDS = 15;
/** Backups per task: the replica, and once the primary when the replica missed its checkpoint. */
export const MAX_BACKUP_ATTEMPTS = 2;
/** The backup state machine's error name when the replica does not reach the checkpoint in sync. */
export const REPLICA_NOT_IN_SYNC_ERROR = 'ReplicaNotInSync';
/**
 * The backup state machine's error (its Fail state "Backup Already Running") when another run holds
 * the server's volume locks. A plan task's backup (trigger `plan:<plan>`) is skipped instead
 * (progress `skipped`); this error still ends a task whose backup started before plan tasks
 * carried their trigger. Either way the overrun is reported as Skipped (the running backup covers
 * the server; a failure would page someone for nothing).
 */
export const BACKUP_ALREADY_RUNNING_ERROR = 'BackupAlreadyRunning';

/** EventBridge `source` of the plans' events: PlanEvent and the quiesce and release requests. */
export const PLAN_EVENT_SOURCE = 'rbp.plans';
/** Detail type of a plan run's outcome (the lifecycle job expires the run's servers on it). */
export const PLAN_RUN_FINISHED = 'Plan Run Finished';
/** Detail type of one failed task of a plan run. */
export const PLAN_TASK_FAILED = 'Plan Task Failed';

export type PlanEvent =
  | RpoEvent
  | {
      readonly detailType: typeof PLAN_TASK_FAILED;
      readonly detail: { readonly plan: string; readonly runId: string; readonly task: PlanTaskSummary };
    }
  | {
      readonly detailType: typeof PLAN_RUN_FINISHED;
      readonly detail: PlanRunSummary & {
        readonly trigger: string;
        readonly stoppedBy?: StopReason;
        readonly startedAt: string;
        readonly finishedAt: string;
      };
    };

/**
 * The ports of a run: those of plan-ports.ts and, optionally, the server's recovery points, from
 * which a task that committed one records the RPO it achieved (`rpoAchievedSeconds`).
 */
export type EnginePorts = PlanRunPorts & { readonly recoveryPoints?: RecoveryPointPages };

export interface AdvanceResult {
  readonly run: PlanRun;
  readonly events: readonly PlanEvent[];
  /** Seconds to wait before the next call; absent once the run is finished. */
  readonly waitSeconds?: number;
}

export interface NewPlanRun {
  readonly runId: string;
  readonly plan: PlanDocument;
  readonly trigger: string;
  readonly startedAt: Date;
}

export function newPlanRun(input: NewPlanRun): PlanRun {
  return {
    formatVersion: PLAN_RUN_FORMAT_VERSION,
    runId: input.runId,
    plan: input.plan.name,
    trigger: input.trigger,
    status: 'Running',
    phase: 'Checks',
    startedAt: input.startedAt.toISOString(),
    planDocument: input.plan,
    tasks: [],
  };
}

function addSeconds(instant: Date, seconds: number): string {
  return new Date(instant.getTime() + seconds * 1000).toISOString();
}

function withReason(task: PlanTask, reason: string): PlanTask {
  return { ...task, reason: task.reason === undefined ? reason : `${task.reason}; ${reason}` };
}

class RunContext {
  readonly events: PlanEvent[] = [];
  constructor(
    readonly ports: EnginePorts,
    readonly run: PlanRun,
  ) {}

  now(): Date {
    return this.ports.clock.now();
  }

  activityOf(task: PlanTask): Activity {
    const activity = this.run.planDocument.activities[task.activity];
    if (activity === undefined)
      throw new RangeError(`task ${task.index} names activity ${task.activity}, which the plan lacks`);
    return activity;
  }

  quiesceRequest(task: PlanTask): QuiesceRequest {
    const quiesce = this.activityOf(task).quiesce;
    return {
      requestId: `${this.run.runId}-t${task.index}-q`,
      server: task.server,
      ...(task.application === undefined ? {} : { application: task.application }),
      timeoutSeconds: quiesce?.timeoutSeconds ?? 0,
    };
  }

  hookPayload(phase: HookPayload['phase'], task?: PlanTask): HookPayload {
    return {
      version: 1,
      phase,
      plan: this.run.plan,
      run: this.run.runId,
      ...(task === undefined
        ? {}
        : { server: task.server, task: { index: task.index, ...summariseTask(task) } }),
    };
  }
}

function stopRun(run: PlanRun, now: Date, stoppedBy: StopReason, reason: string): PlanRun {
  return {
    ...run,
    status: 'Stopped',
    phase: 'Finished',
    stoppedBy,
    reason,
    finishedAt: now.toISOString(),
    tasks: run.tasks.map((task) =>
      isTerminalTask(task.status)
        ? task
        : {
            ...task,
            status: 'Skipped',
            step: 'Done',
            reason: `not run: ${reason}`,
            finishedAt: now.toISOString(),
          },
    ),
  };
}

async function runChecks(context: RunContext, run: PlanRun): Promise<PlanRun> {
  const { ports } = context;
  const plan = run.planDocument;
  const settings = await ports.settings.read();
  if (!settings.backupsEnabled) {
    return stopRun(
      run,
      context.now(),
      'BackupsDisabled',
      'backups are disabled by the global switch (settings: backupsEnabled is false)',
    );
  }
  const now = context.now();
  if (plan.window !== undefined && !isInsideWindow(plan.window, now)) {
    return stopRun(run, now, 'OutsideWindow', `the plan is ${outsideWindowReason(plan.window, now)}`);
  }
  const probe = await ports.destination.probeWritable();
  if (probe !== undefined) {
    return stopRun(
      run,
      context.now(),
      'DestinationUnavailable',
      `the image bucket is not writable: ${probe}`,
    );
  }
  const capacity = capacityProblem(settings, await ports.destination.usage());
  if (capacity !== undefined) return stopRun(run, context.now(), 'CapacityExceeded', capacity);
  const tasks = expandActivities(plan, await ports.servers.list());
  const expanded: PlanRun = { ...run, tasks };
  if (tasks.every((task) => task.status === 'Skipped')) {
    const reasons = [...new Set(tasks.map((task) => task.reason ?? 'skipped'))];
    return {
      ...stopRun(expanded, context.now(), 'NothingToRun', `every task is Skipped: ${reasons.join('; ')}`),
      tasks,
    };
  }
  return { ...expanded, phase: plan.prePlanHook === undefined ? 'Tasks' : 'PrePlanHook' };
}

async function runPrePlanHook(context: RunContext, run: PlanRun): Promise<PlanRun> {
  const hook = run.planDocument.prePlanHook;
  if (hook !== undefined) {
    const failure = await runHook(context.ports.hooks, hook, context.hookPayload('pre-plan'));
    if (failure !== undefined) return stopRun(run, context.now(), 'PrePlanHookFailed', failure);
  }
  return { ...run, phase: 'Tasks' };
}

/** A failure after the quiesce step: the release and the post-task hook still run. */
function failAfterQuiesce(task: PlanTask, reason: string): PlanTask {
  return { ...withReason(task, reason), step: 'Release' };
}

function finishTask(
  context: RunContext,
  task: PlanTask,
  status: 'Succeeded' | 'Skipped' | 'Failed',
  reason?: string,
): PlanTask {
  const finished: PlanTask = {
    ...(reason === undefined ? task : withReason(task, reason)),
    status,
    step: 'Done',
    finishedAt: context.now().toISOString(),
  };
  if (status === 'Failed') {
    context.events.push({
      detailType: PLAN_TASK_FAILED,
      detail: { plan: context.run.plan, runId: context.run.runId, task: summariseTask(finished) },
    });
  }
  return finished;
}

function backupIdOf(runId: string, task: PlanTask, attempt: number): string {
  return attempt <= 1 ? `${runId}-t${task.index}` : `${runId}-t${task.index}-a${attempt}`;
}

interface StepResult {
  readonly task: PlanTask;
  /** True when the task waits for something outside (the agent, the backup). */
  readonly blocked: boolean;
}

const go = (task: PlanTask): StepResult => ({ task, blocked: false });
const wait = (task: PlanTask): StepResult => ({ task, blocked: true });

/**
 * The RPO a task's backup achieved: the gap between its recovery point (`rp-<backupId>`) and the
 * server's point before it. Undefined without the port, for the server's first point, and when
 * the lookup fails for good (the figure is information; the backup succeeded all the same).
 */
async function achievedGap(
  points: RecoveryPointPages | undefined,
  server: string,
  backupId: string,
): Promise<number | undefined> {
  if (points === undefined) return undefined;
  try {
    return await pointGapSeconds(points, server, recoveryPointIdFor(backupId));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return undefined;
  }
}

/** One step of one running task. */
async function stepTask(context: RunContext, task: PlanTask): Promise<StepResult> {
  const { ports } = context;
  const activity = context.activityOf(task);
  const plan = context.run.planDocument;
  switch (task.step) {
    case 'Window': {
      const now = context.now();
      for (const window of [plan.window, activity.window]) {
        if (window !== undefined && !isInsideWindow(window, now)) {
          return go(finishTask(context, task, 'Skipped', `not started: ${outsideWindowReason(window, now)}`));
        }
      }
      return go({ ...task, step: 'Capacity' });
    }
    case 'Capacity': {
      const problem = capacityProblem(await ports.settings.read(), await ports.destination.usage());
      if (problem !== undefined) return go(finishTask(context, task, 'Failed', problem));
      return go({ ...task, step: 'QuiesceCheck' });
    }
    case 'QuiesceCheck': {
      if (activity.quiesce !== undefined) {
        const quiesced = await ports.quiesce.quiescedApplications(task.server);
        if (task.application !== undefined && quiesced.includes(task.application)) {
          return go(
            finishTask(
              context,
              task,
              'Failed',
              `application ${task.application} on ${task.server} is already quiesced; the task leaves it alone`,
            ),
          );
        }
        if (task.application === undefined && quiesced.length > 0) {
          return go(
            finishTask(
              context,
              task,
              'Failed',
              `${task.server} has quiesced applications (${quiesced.join(', ')}); the task leaves them alone`,
            ),
          );
        }
      }
      return go({ ...task, step: 'PreTaskHook' });
    }
    case 'PreTaskHook': {
      if (activity.preTaskHook !== undefined) {
        const failure = await runHook(
          ports.hooks,
          activity.preTaskHook,
          context.hookPayload('pre-task', task),
        );
        if (failure !== undefined) return go(finishTask(context, task, 'Failed', failure));
      }
      return go({ ...task, step: 'Quiesce' });
    }
    case 'Quiesce': {
      if (activity.quiesce === undefined) return go({ ...task, step: 'SelectSource' });
      const request = context.quiesceRequest(task);
      const now = context.now();
      await ports.quiesce.requestQuiesce(request);
      return go({
        ...task,
        step: 'AwaitQuiesce',
        quiesce: {
          requestId: request.requestId,
          requestedAt: now.toISOString(),
          giveUpAt: addSeconds(now, activity.quiesce.timeoutSeconds + AGENT_GRACE_SECONDS),
        },
      });
    }
    case 'AwaitQuiesce': {
      const quiesce = task.quiesce;
      if (quiesce === undefined) return go({ ...task, step: 'Quiesce' });
      if (await ports.quiesce.isQuiesced(quiesce.requestId)) return go({ ...task, step: 'SelectSource' });
      const now = context.now();
      if (now.getTime() < Date.parse(quiesce.giveUpAt)) return wait(task);
      const request = context.quiesceRequest(task);
      await ports.quiesce.requestRelease(request);
      const target = task.application === undefined ? task.server : `${task.application} on ${task.server}`;
      const cancelled: PlanTask = {
        ...task,
        release: {
          requestId: request.requestId,
          requestedAt: now.toISOString(),
          giveUpAt: now.toISOString(),
        },
      };
      return go(
        finishTask(
          context,
          cancelled,
          'Failed',
          `quiesce of ${target} not confirmed within ${request.timeoutSeconds} s + ${AGENT_GRACE_SECONDS} s; task cancelled and release sent`,
        ),
      );
    }
    case 'SelectSource': {
      const server = await ports.servers.get(task.server);
      const unavailable = unavailableReason(server, task.server);
      if (unavailable !== undefined || server === undefined)
        return go(failAfterQuiesce(task, unavailable ?? 'server not found'));
      const decision = selectSource(server, activity.source, activity.replica.maxLagSeconds);
      if (!decision.ok) return go(failAfterQuiesce(task, decision.reason));
      return go({ ...task, step: 'Backup', source: decision.source, sourceReason: decision.why });
    }
    case 'Backup': {
      const attempt = task.backupAttempts + 1;
      const backupId = backupIdOf(context.run.runId, task, attempt);
      if (task.source === undefined) return go({ ...task, step: 'SelectSource' });
      try {
        await ports.backups.start({
          backupId,
          plan: context.run.plan,
          runId: context.run.runId,
          taskIndex: task.index,
          server: task.server,
          ...(task.application === undefined ? {} : { application: task.application }),
          source: task.source,
        });
      } catch (error) {
        if (isRetryable(error)) throw error;
        return go(failAfterQuiesce(task, `backup ${backupId} could not start: ${describeError(error)}`));
      }
      return go({ ...task, step: 'AwaitBackup', backupAttempts: attempt, backupId });
    }
    case 'AwaitBackup': {
      const backupId = task.backupId;
      if (backupId === undefined) return go({ ...task, step: 'Backup' });
      const progress = await ports.backups.progress(backupId);
      if (progress.state === 'running') return wait(task);
      if (progress.state === 'succeeded') {
        const gap = await achievedGap(ports.recoveryPoints, task.server, backupId);
        return go({
          ...task,
          step: 'Release',
          imageIds: [...progress.imageIds],
          ...(gap === undefined ? {} : { rpoAchievedSeconds: gap }),
        });
      }
      // A skipped execution (this task's trigger is a plan's, backup-lock.ts skipsWhenLocked) or,
      // for a task started before plan tasks had their trigger, the backup's lock failure.
      if (progress.state === 'skipped' || progress.errorName === BACKUP_ALREADY_RUNNING_ERROR) {
        return go({
          ...task,
          step: 'Release',
          overrunReason: `the previous backup of ${task.server} is still running (it overran into this run); this task is skipped, not failed: ${progress.reason}`,
        });
      }
      const fallback =
        progress.errorName === REPLICA_NOT_IN_SYNC_ERROR &&
        task.source === 'replica' &&
        activity.source === 'prefer-replica' &&
        task.backupAttempts < MAX_BACKUP_ATTEMPTS &&
        (await ports.servers.get(task.server))?.hasPrimary === true;
      if (fallback) {
        return go({
          ...task,
          step: 'Backup',
          source: 'primary',
          sourceReason: `replica backup ${backupId} failed (${progress.reason}); prefer-replica falls back to the primary`,
        });
      }
      return go(failAfterQuiesce(task, `backup ${backupId} failed: ${progress.reason}`));
    }
    case 'Release': {
      if (task.quiesce === undefined || activity.quiesce === undefined)
        return go({ ...task, step: 'PostTaskHook' });
      const request = context.quiesceRequest(task);
      const now = context.now();
      await ports.quiesce.requestRelease(request);
      const timeout = activity.quiesce.releaseTimeoutSeconds ?? activity.quiesce.timeoutSeconds;
      return go({
        ...task,
        step: 'AwaitRelease',
        release: {
          requestId: request.requestId,
          requestedAt: now.toISOString(),
          giveUpAt: addSeconds(now, timeout + AGENT_GRACE_SECONDS),
        },
      });
    }
    case 'AwaitRelease': {
      const release = task.release;
      if (release === undefined) return go({ ...task, step: 'Release' });
      if (await ports.quiesce.isReleased(release.requestId)) return go({ ...task, step: 'PostTaskHook' });
      if (context.now().getTime() < Date.parse(release.giveUpAt)) return wait(task);
      const timeout = activity.quiesce?.releaseTimeoutSeconds ?? activity.quiesce?.timeoutSeconds ?? 0;
      return go({
        ...withReason(
          task,
          `release not confirmed within ${timeout} s + ${AGENT_GRACE_SECONDS} s; the agent keeps releasing on its own`,
        ),
        step: 'PostTaskHook',
      });
    }
    case 'PostTaskHook': {
      const hook = activity.postTaskHook;
      const failure =
        hook === undefined
          ? undefined
          : await runHook(ports.hooks, hook, context.hookPayload('post-task', task));
      const done = failure === undefined ? task : withReason(task, failure);
      if (done.reason === undefined && done.overrunReason !== undefined)
        return go(finishTask(context, done, 'Skipped', done.overrunReason));
      return go(finishTask(context, done, done.reason === undefined ? 'Succeeded' : 'Failed'));
    }
    case 'Done':
      return wait(task);
  }
}

async function driveTask(context: RunContext, task: PlanTask): Promise<PlanTask> {
  let current = task;
  for (;;) {
    const { task: next, blocked } = await stepTask(context, current);
    current = next;
    if (blocked || isTerminalTask(current.status)) return current;
  }
}

/** Starts Pending tasks in creation order while there is room and their server is free. */
function startTasks(run: PlanRun, now: Date): { tasks: PlanTask[]; started: boolean } {
  const tasks = [...run.tasks];
  const running = tasks.filter((t) => t.status === 'Running');
  const busy = new Set(running.map((t) => t.server));
  let slots = run.planDocument.maxConcurrentTasks - running.length;
  let started = false;
  for (let i = 0; i < tasks.length && slots > 0; i += 1) {
    const task = tasks[i] as PlanTask;
    if (task.status !== 'Pending') continue;
    if (busy.has(task.server)) break;
    tasks[i] = { ...task, status: 'Running', startedAt: now.toISOString() };
    busy.add(task.server);
    slots -= 1;
    started = true;
  }
  return { tasks, started };
}

function waitSecondsFor(run: PlanRun, now: Date): number {
  let wait = RUN_POLL_SECONDS;
  for (const task of run.tasks) {
    if (task.status !== 'Running') continue;
    const request =
      task.step === 'AwaitQuiesce' ? task.quiesce : task.step === 'AwaitRelease' ? task.release : undefined;
    if (request === undefined) continue;
    const untilGiveUp = Math.ceil((Date.parse(request.giveUpAt) - now.getTime()) / 1000);
    wait = Math.min(wait, Math.max(1, untilGiveUp));
  }
  return wait;
}

function runReason(run: PlanRun): string | undefined {
  const count = (status: PlanTask['status']) => run.tasks.filter((t) => t.status === status).length;
  const failed = count('Failed');
  const skipped = count('Skipped');
  if (failed === 0 && skipped === 0) return undefined;
  return `${count('Succeeded')} succeeded, ${failed} failed, ${skipped} skipped of ${run.tasks.length} tasks`;
}

async function runTasks(context: RunContext, initial: PlanRun): Promise<PlanRun> {
  let run = initial;
  // A task that is waiting for the outside is looked at once per advance, not again each time
  // another task makes progress.
  const waiting = new Set<number>();
  for (;;) {
    let progressed = false;
    const tasks = [...run.tasks];
    for (let i = 0; i < tasks.length; i += 1) {
      const task = tasks[i] as PlanTask;
      if (task.status !== 'Running' || waiting.has(i)) continue;
      const next = await driveTask(context, task);
      if (next !== task) progressed = true;
      if (next.status === 'Running') waiting.add(i);
      tasks[i] = next;
      run = { ...run, tasks: [...tasks] };
    }
    const { tasks: withStarted, started } = startTasks(run, context.now());
    run = { ...run, tasks: withStarted };
    if (!progressed && !started) break;
  }
  if (run.tasks.some((t) => !isTerminalTask(t.status))) return run;
  const status = aggregateRunStatus(run.tasks.map((t) => t.status));
  const reason = runReason(run);
  return {
    ...run,
    status,
    phase: 'Finished',
    ...(reason === undefined ? {} : { reason }),
    ...(status === 'Stopped' ? { stoppedBy: 'NothingToRun' as const } : {}),
    finishedAt: context.now().toISOString(),
  };
}

/**
 * Advances the run as far as it can go now. Idempotent on a finished run (returns it unchanged,
 * with no events). Throws only for errors worth retrying the whole step (a retryable RbpError
 * from a port) and for broken ports.
 */
export async function advancePlanRun(run: PlanRun, ports: EnginePorts): Promise<AdvanceResult> {
  if (run.phase === 'Finished') return { run, events: [] };
  const context = new RunContext(ports, run);
  let current = run;
  if (current.phase === 'Checks') current = await runChecks(context, current);
  if (current.phase === 'PrePlanHook') current = await runPrePlanHook(context, current);
  if (current.phase === 'Tasks') current = await runTasks(context, current);
  if (current.phase !== 'Finished') {
    return { run: current, events: context.events, waitSeconds: waitSecondsFor(current, context.now()) };
  }
  const summary = summariseRun(current);
  const finished: PlanEvent = {
    detailType: PLAN_RUN_FINISHED,
    detail: {
      ...summary,
      trigger: current.trigger,
      ...(current.stoppedBy === undefined ? {} : { stoppedBy: current.stoppedBy }),
      startedAt: current.startedAt,
      finishedAt: current.finishedAt ?? context.now().toISOString(),
    },
  };
  return { run: current, events: [...context.events, finished] };
}
