/**
 * EventBridge Scheduler adapter of the plan scheduler (core/plans/plan-service.ts). Every plan
 * schedule lives in the product's schedule group and starts the plan-run state machine with the
 * input `{plan, trigger: "schedule:<schedule name>"}`
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 * The Get/put/delete calls are shared with workflow schedules (scheduler-state-machine-schedules.ts).
 */
import { ListSchedulesCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import type { PlanSchedule, PlanScheduler } from '../core/plans/plan-service.ts';
import {
  deleteStateMachineSchedule,
  getStateMachineSchedule,
  putStateMachineSchedule,
  type StateMachineScheduleTarget,
} from './scheduler-state-machine-schedules.ts';
import { callSdk } from './sdk-errors.ts';

/** Where the schedules live and what they start (the plan-run state machine). */
export type PlanScheduleTarget = StateMachineScheduleTarget;

/** The input a schedule gives the plan-run state machine. */
export const scheduleInputSchema = z.strictObject({
  plan: z.string().min(1),
  trigger: z.string().min(1),
});

export function scheduleTriggerOf(scheduleName: string): string {
  return `schedule:${scheduleName}`;
}

/** The target input of a plan schedule (also the deployment's schedules of configured plans). */
export function scheduleTargetInput(schedule: Pick<PlanSchedule, 'name' | 'plan'>): string {
  return JSON.stringify({ plan: schedule.plan, trigger: scheduleTriggerOf(schedule.name) });
}

export class SchedulerPlanSchedules implements PlanScheduler {
  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly target: PlanScheduleTarget,
  ) {}

  async list(): Promise<readonly PlanSchedule[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await callSdk('ListSchedules', { group: this.target.groupName }, () =>
        this.scheduler.send(
          new ListSchedulesCommand({
            GroupName: this.target.groupName,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
        ),
      );
      for (const summary of page.Schedules ?? []) if (summary.Name !== undefined) names.push(summary.Name);
      token = page.NextToken;
    } while (token !== undefined);
    const schedules: PlanSchedule[] = [];
    for (const name of names) {
      const schedule = await this.get(name);
      if (schedule !== undefined) schedules.push(schedule);
    }
    return schedules;
  }

  /** Undefined when the schedule was deleted between the list and the get. */
  private async get(name: string): Promise<PlanSchedule | undefined> {
    const stored = await getStateMachineSchedule(
      this.scheduler,
      this.target,
      name,
      scheduleInputSchema,
      'plan',
    );
    if (stored === undefined) return undefined;
    const { input, ...timing } = stored;
    return { name, plan: input.plan, ...timing };
  }

  put(schedule: PlanSchedule): Promise<void> {
    return putStateMachineSchedule(this.scheduler, this.target, {
      name: schedule.name,
      expression: schedule.expression,
      timeZone: schedule.timeZone,
      enabled: schedule.enabled,
      input: scheduleTargetInput(schedule),
    });
  }

  delete(name: string): Promise<void> {
    return deleteStateMachineSchedule(this.scheduler, this.target, name);
  }
}
