/**
 * EventBridge Scheduler adapter of the plan scheduler (core/plans/plan-service.ts). Every plan
 * schedule lives in the product's schedule group and starts the plan-run state machine with the
 * input `{plan, trigger: "schedule:<schedule name>"}`
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 * A put is CreateSchedule, and UpdateSchedule when the name exists (CreateSchedule answers
 * ConflictException); UpdateSchedule replaces every field, so it sends the whole schedule
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import { IntegrityError } from '../core/errors.ts';
import type { PlanSchedule, PlanScheduler } from '../core/plans/plan-service.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/** Where the schedules live and what they start. */
export interface PlanScheduleTarget {
  readonly groupName: string;
  /** The plan-run state machine. */
  readonly stateMachineArn: string;
  /** The role Scheduler assumes to call states:StartExecution on it. */
  readonly roleArn: string;
}

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
    let answer;
    try {
      answer = await this.scheduler.send(
        new GetScheduleCommand({ Name: name, GroupName: this.target.groupName }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ResourceNotFoundException') return undefined;
      throw translateSdkError(error, 'GetSchedule', { schedule: name });
    }
    let input: unknown;
    try {
      input = JSON.parse(answer.Target?.Input ?? '');
    } catch (error) {
      throw new IntegrityError(`schedule ${name} has an input that is not JSON`, {
        context: { schedule: name },
        cause: error,
      });
    }
    const parsed = scheduleInputSchema.safeParse(input);
    if (!parsed.success || answer.ScheduleExpression === undefined) {
      throw new IntegrityError(`schedule ${name} is not a plan schedule (input or expression missing)`, {
        context: { schedule: name },
      });
    }
    return {
      name,
      plan: parsed.data.plan,
      expression: answer.ScheduleExpression,
      timeZone: answer.ScheduleExpressionTimezone ?? 'UTC',
      enabled: answer.State !== 'DISABLED',
    };
  }

  async put(schedule: PlanSchedule): Promise<void> {
    const input: CreateScheduleCommandInput = {
      Name: schedule.name,
      GroupName: this.target.groupName,
      ScheduleExpression: schedule.expression,
      ScheduleExpressionTimezone: schedule.timeZone,
      State: schedule.enabled ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: this.target.stateMachineArn,
        RoleArn: this.target.roleArn,
        Input: scheduleTargetInput(schedule),
      },
    };
    try {
      await this.scheduler.send(new CreateScheduleCommand(input));
    } catch (error) {
      if (sdkErrorName(error) !== 'ConflictException') {
        throw translateSdkError(error, 'CreateSchedule', { schedule: schedule.name });
      }
      await callSdk('UpdateSchedule', { schedule: schedule.name }, () =>
        this.scheduler.send(new UpdateScheduleCommand(input)),
      );
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.scheduler.send(new DeleteScheduleCommand({ Name: name, GroupName: this.target.groupName }));
    } catch (error) {
      if (sdkErrorName(error) === 'ResourceNotFoundException') return;
      throw translateSdkError(error, 'DeleteSchedule', { schedule: name });
    }
  }
}
