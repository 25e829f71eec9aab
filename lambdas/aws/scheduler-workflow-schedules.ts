/**
 * EventBridge Scheduler adapter of the workflow schedules (core/workflows/workflow-service.ts).
 * Every workflow schedule lives in the workflows' schedule group and starts the workflow-run state
 * machine with the input `{workflow, trigger: "schedule:wf-<name>"}`, as plan schedules start the
 * plan-run state machine (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 * The Get/put/delete calls are shared with plan schedules (scheduler-state-machine-schedules.ts).
 */
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import {
  workflowScheduleTrigger,
  type WorkflowSchedule,
  type WorkflowScheduler,
} from '../core/workflows/workflow-service.ts';
import {
  deleteStateMachineSchedule,
  getStateMachineSchedule,
  putStateMachineSchedule,
  type StateMachineScheduleTarget,
} from './scheduler-state-machine-schedules.ts';

/** Where the workflow schedules live and what they start (the workflow-run state machine). */
export type WorkflowScheduleTarget = StateMachineScheduleTarget;

/** The input a workflow schedule gives the workflow-run state machine. */
export const workflowScheduleInputSchema = z.strictObject({
  workflow: z.string().min(1),
  trigger: z.string().min(1),
});

export function workflowScheduleInput(workflow: string): string {
  return JSON.stringify({ workflow, trigger: workflowScheduleTrigger(workflow) });
}

export class SchedulerWorkflowSchedules implements WorkflowScheduler {
  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly target: WorkflowScheduleTarget,
  ) {}

  async get(name: string): Promise<WorkflowSchedule | undefined> {
    const stored = await getStateMachineSchedule(
      this.scheduler,
      this.target,
      name,
      workflowScheduleInputSchema,
      'workflow',
    );
    if (stored === undefined) return undefined;
    const { input, ...timing } = stored;
    return { name, workflow: input.workflow, ...timing };
  }

  put(schedule: WorkflowSchedule): Promise<void> {
    return putStateMachineSchedule(this.scheduler, this.target, {
      name: schedule.name,
      expression: schedule.expression,
      timeZone: schedule.timeZone,
      enabled: schedule.enabled,
      description: `Runs workflow ${schedule.workflow}`,
      input: workflowScheduleInput(schedule.workflow),
    });
  }

  delete(name: string): Promise<void> {
    return deleteStateMachineSchedule(this.scheduler, this.target, name);
  }
}
