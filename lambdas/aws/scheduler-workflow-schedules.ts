/**
 * EventBridge Scheduler adapter of the workflow schedules (core/workflows/workflow-service.ts).
 * Every workflow schedule lives in the workflows' schedule group and starts the workflow-run state
 * machine with the input `{workflow, trigger: "schedule:wf-<name>"}`, as plan schedules start the
 * plan-run state machine (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 * A put is CreateSchedule, and UpdateSchedule when the name exists (CreateSchedule answers
 * ConflictException); UpdateSchedule replaces every field, so it sends the whole schedule
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import { IntegrityError } from '../core/errors.ts';
import {
  workflowScheduleTrigger,
  type WorkflowSchedule,
  type WorkflowScheduler,
} from '../core/workflows/workflow-service.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/** Where the workflow schedules live and what they start. */
export interface WorkflowScheduleTarget {
  readonly groupName: string;
  /** The workflow-run state machine. */
  readonly stateMachineArn: string;
  /** The role Scheduler assumes to call states:StartExecution on it. */
  readonly roleArn: string;
}

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
    const parsed = workflowScheduleInputSchema.safeParse(input);
    if (!parsed.success || answer.ScheduleExpression === undefined) {
      throw new IntegrityError(`schedule ${name} is not a workflow schedule (input or expression missing)`, {
        context: { schedule: name },
      });
    }
    return {
      name,
      workflow: parsed.data.workflow,
      expression: answer.ScheduleExpression,
      timeZone: answer.ScheduleExpressionTimezone ?? 'UTC',
      enabled: answer.State !== 'DISABLED',
    };
  }

  async put(schedule: WorkflowSchedule): Promise<void> {
    const input: CreateScheduleCommandInput = {
      Name: schedule.name,
      GroupName: this.target.groupName,
      ScheduleExpression: schedule.expression,
      ScheduleExpressionTimezone: schedule.timeZone,
      State: schedule.enabled ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Description: `Runs workflow ${schedule.workflow}`,
      Target: {
        Arn: this.target.stateMachineArn,
        RoleArn: this.target.roleArn,
        Input: workflowScheduleInput(schedule.workflow),
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
