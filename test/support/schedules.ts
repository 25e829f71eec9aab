/** EventBridge Scheduler schedules in tests: created as the product would, and read back. */
import {
  CreateScheduleCommand,
  type GetScheduleCommandOutput,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';

/** A schedule of the default group with no flexible window, aimed at `target` (an ARN) with `input`. */
export interface TestSchedule {
  readonly name: string;
  readonly expression: string;
  readonly timeZone?: string;
  readonly target: string;
  readonly roleArn: string;
  /** The target's input, as the schedule carries it (JSON text). */
  readonly input: string;
}

/** Creates the schedule in the default group. */
export async function createSchedule(scheduler: SchedulerClient, schedule: TestSchedule): Promise<void> {
  await scheduler.send(
    new CreateScheduleCommand({
      Name: schedule.name,
      ScheduleExpression: schedule.expression,
      ...(schedule.timeZone === undefined ? {} : { ScheduleExpressionTimezone: schedule.timeZone }),
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: schedule.target, RoleArn: schedule.roleArn, Input: schedule.input },
    }),
  );
}

/** What a schedule does: its expression, time zone, state, target and the target's input (parsed). */
export interface ScheduleSummary {
  readonly expression: string | undefined;
  readonly timeZone: string | undefined;
  readonly state: string | undefined;
  readonly target: string | undefined;
  readonly input: unknown;
}

/** The schedule's summary, its target's input parsed as JSON (undefined when it has none). */
export function scheduleSummary(schedule: GetScheduleCommandOutput): ScheduleSummary {
  const input = schedule.Target?.Input;
  return {
    expression: schedule.ScheduleExpression,
    timeZone: schedule.ScheduleExpressionTimezone,
    state: schedule.State,
    target: schedule.Target?.Arn,
    input: input === undefined ? undefined : (JSON.parse(input) as unknown),
  };
}
