/**
 * The EventBridge Scheduler calls that plan and workflow schedules share: each schedule lives in a
 * schedule group and starts a state machine with a JSON input
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 * A put is CreateSchedule, and UpdateSchedule when the name exists (CreateSchedule answers
 * ConflictException); UpdateSchedule replaces every field, so it sends the whole schedule
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 * Every schedule carries the retry policy below and, when the deployment has one, the schedules'
 * dead-letter queue: a firing whose StartExecution still fails after the retries (the role lost its
 * grant, the state machine is gone, throttling that outlasts the retries) lands there and the queue's
 * alarm tells the operator, instead of the run silently not happening
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import type { z } from 'zod';
import { IntegrityError } from '../core/errors.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/**
 * Retries of a firing whose target call failed. Scheduler allows 0 to 185 and defaults to 185 over
 * 24 hours (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html); a
 * StartExecution that fails three times with backoff is not a passing throttle, and the operator
 * should hear of it within the hour, not a day later. The lifecycle and RPO-check schedules use it too.
 */
export const SCHEDULE_RETRY_ATTEMPTS = 3;
/**
 * How long Scheduler keeps retrying a firing (60 s to 86 400 s, default 86 400 s): a plan run or a
 * workflow refresh started more than an hour late would run well outside the time it was scheduled
 * for, so after an hour the firing goes to the dead-letter queue and the next firing is the fallback.
 */
export const SCHEDULE_MAX_EVENT_AGE_SECONDS = 3_600;

/** The RetryPolicy of every schedule the product writes. */
export const SCHEDULE_RETRY_POLICY = {
  MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS,
  MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE_SECONDS,
} as const;

/** Where a kind of schedule lives and what it starts. */
export interface StateMachineScheduleTarget {
  readonly groupName: string;
  /** The state machine a firing starts. */
  readonly stateMachineArn: string;
  /** The role Scheduler assumes to call states:StartExecution on it. */
  readonly roleArn: string;
  /**
   * The SQS queue a firing goes to once its retries are spent (SCHEDULE_DEAD_LETTER_QUEUE_ARN);
   * absent: no dead-letter queue (a deployment without one).
   */
  readonly deadLetterArn?: string | undefined;
}

/** A schedule as read back: its timing and its parsed input. */
export interface StoredSchedule<I> {
  readonly expression: string;
  readonly timeZone: string;
  readonly enabled: boolean;
  readonly input: I;
}

/** What a put writes. */
export interface ScheduleToPut {
  readonly name: string;
  readonly expression: string;
  readonly timeZone: string;
  readonly enabled: boolean;
  readonly input: string;
  readonly description?: string;
}

/**
 * One schedule of the group, or undefined when it does not exist; `kind` names what the input
 * must be ("plan", "workflow") in the IntegrityError of a schedule that is not one.
 */
export async function getStateMachineSchedule<I>(
  scheduler: SchedulerClient,
  target: StateMachineScheduleTarget,
  name: string,
  inputSchema: z.ZodType<I>,
  kind: string,
): Promise<StoredSchedule<I> | undefined> {
  let answer;
  try {
    answer = await scheduler.send(new GetScheduleCommand({ Name: name, GroupName: target.groupName }));
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
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success || answer.ScheduleExpression === undefined) {
    throw new IntegrityError(`schedule ${name} is not a ${kind} schedule (input or expression missing)`, {
      context: { schedule: name },
    });
  }
  return {
    expression: answer.ScheduleExpression,
    timeZone: answer.ScheduleExpressionTimezone ?? 'UTC',
    enabled: answer.State !== 'DISABLED',
    input: parsed.data,
  };
}

/** Creates the schedule, or replaces it whole when the name exists. */
export async function putStateMachineSchedule(
  scheduler: SchedulerClient,
  target: StateMachineScheduleTarget,
  schedule: ScheduleToPut,
): Promise<void> {
  const input: CreateScheduleCommandInput = {
    Name: schedule.name,
    GroupName: target.groupName,
    ScheduleExpression: schedule.expression,
    ScheduleExpressionTimezone: schedule.timeZone,
    State: schedule.enabled ? 'ENABLED' : 'DISABLED',
    FlexibleTimeWindow: { Mode: 'OFF' },
    ...(schedule.description === undefined ? {} : { Description: schedule.description }),
    Target: {
      Arn: target.stateMachineArn,
      RoleArn: target.roleArn,
      Input: schedule.input,
      RetryPolicy: SCHEDULE_RETRY_POLICY,
      ...(target.deadLetterArn === undefined ? {} : { DeadLetterConfig: { Arn: target.deadLetterArn } }),
    },
  };
  try {
    await scheduler.send(new CreateScheduleCommand(input));
  } catch (error) {
    if (sdkErrorName(error) !== 'ConflictException') {
      throw translateSdkError(error, 'CreateSchedule', { schedule: schedule.name });
    }
    await callSdk('UpdateSchedule', { schedule: schedule.name }, () =>
      scheduler.send(new UpdateScheduleCommand(input)),
    );
  }
}

/** Deletes the schedule; one that is already gone is not an error. */
export async function deleteStateMachineSchedule(
  scheduler: SchedulerClient,
  target: StateMachineScheduleTarget,
  name: string,
): Promise<void> {
  try {
    await scheduler.send(new DeleteScheduleCommand({ Name: name, GroupName: target.groupName }));
  } catch (error) {
    if (sdkErrorName(error) === 'ResourceNotFoundException') return;
    throw translateSdkError(error, 'DeleteSchedule', { schedule: name });
  }
}
