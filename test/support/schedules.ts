/** Reading EventBridge Scheduler schedules back in the tests that create them through the product. */
import type { GetScheduleCommandOutput } from '@aws-sdk/client-scheduler';

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
