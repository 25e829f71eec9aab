/**
 * The local stack's EventBridge Scheduler: moto stores schedules (CreateSchedule, UpdateSchedule,
 * ...) but never fires them, so the gateway runs this small scheduler over the schedules moto
 * holds. Every tick it lists them, works out from the expression and its time zone whether a
 * firing is due (the core's `nextFireTime`, with Scheduler's daylight-saving rules), and invokes
 * the schedule's target with its `Input`:
 *
 * - a state machine (`arn:aws:states:...:stateMachine:NAME`): Step Functions StartExecution;
 * - a Lambda function (`arn:aws:lambda:...:function:NAME`): Lambda Invoke, asynchronous
 *   (`Event`), as Scheduler's templated Lambda target does
 *   (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html).
 *
 * The context attributes `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
 * `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` in the input are replaced
 * as Scheduler replaces them
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
 *
 * What it does not do: one-time `at(...)` schedules, flexible time windows (a schedule fires at the
 * start of its window), retry policies and dead-letter queues (a failed firing is recorded in
 * `firings()` and logged, not retried), universal targets. Firings missed while the clock jumped
 * (a test's clock, a suspended machine) are fired once, for the latest missed time.
 *
 * Schedules are read from moto directly (not through the gateway), so the gateway's request
 * statistics count only what the product does; the targets are called through the gateway, so a
 * firing shows up there (and hits the in-process Lambda handlers) like any other caller's.
 */
import { randomBytes } from 'node:crypto';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  GetScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
  type GetScheduleCommandOutput,
  type ScheduleSummary,
} from '@aws-sdk/client-scheduler';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Clock } from '../../lambdas/core/ports.ts';
import {
  parseScheduleExpression,
  type ScheduleExpression,
} from '../../lambdas/core/plans/schedule-expression.ts';
import { nextFireTime } from '../../lambdas/core/plans/schedule-times.ts';
import { FUNCTION_ARN_PATTERN, localClientConfig } from './local-account.ts';
import { sdkErrorName } from '../../lambdas/aws/sdk-errors.ts';

/**
 * How often the schedules are looked at: Scheduler fires at minute precision, so a second keeps a
 * local `rate(1 minute)` on time; one ListSchedules a second is nothing for moto.
 */
export const SCHEDULER_TICK_MS = 1_000;
/** Firings kept for `firings()` and `GET /_local/schedules`: enough for any test or demo, bounded for a long `serve`. */
export const MAX_RECORDED_FIRINGS = 1_000;
/** Missed firings counted after a clock jump before the rest are skipped uncounted (a minute rate over a week). */
const MAX_CATCH_UP_STEPS = 10_080;
/** Bytes of the random `<aws.scheduler.execution-id>`: 16 hex digits, as in Scheduler's example. */
const EXECUTION_ID_BYTES = 8;

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/;

/** One firing of a schedule, as the local scheduler did it. */
export interface SchedulerFiring {
  /** `group/name`. */
  readonly schedule: string;
  readonly scheduleArn: string;
  readonly targetArn: string;
  /** The time the schedule was due (the `<aws.scheduler.scheduled-time>`), ISO 8601. */
  readonly scheduledTime: string;
  /** The clock's time when it fired, ISO 8601. */
  readonly firedAt: string;
  /** Due times skipped because the clock jumped past them (0 normally). */
  readonly missed: number;
  readonly outcome: 'started' | 'failed';
  /** The execution ARN (state machine), the Lambda request id, or why it failed. */
  readonly detail: string;
}

export interface LocalSchedulerOptions {
  /** Where schedules are read: moto itself. */
  readonly motoEndpoint: string;
  /** Where targets are called: the gateway. */
  readonly gatewayEndpoint: string;
  /** Default: the system clock. */
  readonly clock: Clock;
  /** Default SCHEDULER_TICK_MS. */
  readonly tickMs?: number;
}

interface TrackedSchedule {
  readonly modified: number;
  readonly expression: ScheduleExpression | undefined;
  /** Why the schedule cannot fire locally (an `at(...)` expression, a bad target). */
  readonly unsupported: string | undefined;
  readonly timeZone: string;
  readonly enabled: boolean;
  readonly startedAt: Date;
  readonly endDate: Date | undefined;
  readonly targetArn: string;
  readonly input: string;
  /** Firings at or before this time are done (or were never due). */
  cursor: Date;
}

/** ISO 8601 without milliseconds, the form Scheduler gives `<aws.scheduler.scheduled-time>`. */
function scheduledTimeText(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The input with Scheduler's context attributes replaced. */
export function withContextAttributes(
  input: string,
  values: { scheduleArn: string; scheduledTime: Date; executionId: string; attempt: number },
): string {
  return input
    .replaceAll('<aws.scheduler.schedule-arn>', values.scheduleArn)
    .replaceAll('<aws.scheduler.scheduled-time>', scheduledTimeText(values.scheduledTime))
    .replaceAll('<aws.scheduler.execution-id>', values.executionId)
    .replaceAll('<aws.scheduler.attempt-number>', String(values.attempt));
}

export class LocalScheduler {
  private readonly listing: SchedulerClient;
  private readonly sfn: SFNClient;
  private readonly lambda: LambdaClient;
  private readonly tracked = new Map<string, TrackedSchedule>();
  private readonly recorded: SchedulerFiring[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<SchedulerFiring[]> | undefined;
  private readonly clock: Clock;
  private readonly tickMs: number;

  constructor(options: LocalSchedulerOptions) {
    this.listing = new SchedulerClient(localClientConfig(options.motoEndpoint));
    this.sfn = new SFNClient(localClientConfig(options.gatewayEndpoint));
    this.lambda = new LambdaClient(localClientConfig(options.gatewayEndpoint));
    this.clock = options.clock;
    this.tickMs = options.tickMs ?? SCHEDULER_TICK_MS;
  }

  /** Ticks every `tickMs` until stop(); the timer does not keep the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) => {
        console.error(`[local scheduler] tick failed: ${String(error)}`);
      });
    }, this.tickMs);
    this.timer.unref();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Stops the timer (tick() still works when called) and waits for a tick in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight?.catch(() => undefined);
  }

  /** Stops and releases the SDK clients. */
  async close(): Promise<void> {
    await this.stop();
    this.listing.destroy();
    this.sfn.destroy();
    this.lambda.destroy();
  }

  /** Every firing so far, oldest first (at most MAX_RECORDED_FIRINGS). */
  firings(): readonly SchedulerFiring[] {
    return [...this.recorded];
  }

  /**
   * Looks at every schedule once and fires those due at the clock's time; returns this tick's
   * firings. Ticks never overlap: a call during a tick waits for it and then ticks again.
   */
  async tick(): Promise<SchedulerFiring[]> {
    while (this.inFlight !== undefined) await this.inFlight.catch(() => undefined);
    const run = this.tickOnce();
    this.inFlight = run;
    try {
      return await run;
    } finally {
      this.inFlight = undefined;
    }
  }

  private async tickOnce(): Promise<SchedulerFiring[]> {
    const now = this.clock.now();
    const summaries = await this.listSchedules();
    const seen = new Set<string>();
    const fired: SchedulerFiring[] = [];
    for (const summary of summaries) {
      const arn = summary.Arn;
      if (arn === undefined || summary.Name === undefined) continue;
      seen.add(arn);
      const schedule = await this.track(summary, now);
      if (schedule === undefined) continue;
      const due = this.due(schedule, now);
      if (due === undefined) continue;
      schedule.cursor = due.cursor;
      const firing = await this.fire(summary, schedule, due.time, due.missed, now);
      fired.push(firing);
    }
    for (const arn of [...this.tracked.keys()]) if (!seen.has(arn)) this.tracked.delete(arn);
    return fired;
  }

  private async listSchedules(): Promise<ScheduleSummary[]> {
    const summaries: ScheduleSummary[] = [];
    let token: string | undefined;
    do {
      const page = await this.listing.send(
        new ListSchedulesCommand(token === undefined ? {} : { NextToken: token }),
      );
      summaries.push(...(page.Schedules ?? []));
      token = page.NextToken;
    } while (token !== undefined);
    return summaries;
  }

  /** The tracked state of a schedule, re-read from moto when it was created or modified. */
  private async track(summary: ScheduleSummary, now: Date): Promise<TrackedSchedule | undefined> {
    const arn = summary.Arn!;
    const modified = (summary.LastModificationDate ?? summary.CreationDate ?? now).getTime();
    const known = this.tracked.get(arn);
    if (known !== undefined && known.modified === modified) return known;
    let detail: GetScheduleCommandOutput;
    try {
      detail = await this.listing.send(
        new GetScheduleCommand({ Name: summary.Name!, GroupName: summary.GroupName ?? 'default' }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ResourceNotFoundException') return undefined; // deleted meanwhile
      throw error;
    }
    const text = detail.ScheduleExpression ?? '';
    const parsed = parseScheduleExpression(text);
    const targetArn = detail.Target?.Arn ?? '';
    let unsupported: string | undefined;
    if (!parsed.ok) unsupported = `expression ${text} is not a rate or cron the local scheduler runs`;
    else if (!STATE_MACHINE_ARN.test(targetArn) && !FUNCTION_ARN_PATTERN.test(targetArn))
      unsupported = `target ${targetArn} is neither a state machine nor a Lambda function`;
    if (unsupported !== undefined && known?.unsupported !== unsupported)
      console.error(`[local scheduler] ${summary.GroupName ?? 'default'}/${summary.Name}: ${unsupported}`);
    const created = detail.CreationDate ?? summary.CreationDate ?? now;
    const startedAt = detail.StartDate ?? created;
    // A new schedule counts from its creation (a rate fires at its start, as Scheduler's does); a
    // modified one from the moment the change is seen, so an update never fires a time that has passed.
    const anchor = known === undefined ? created : new Date(now.getTime() + 1);
    const schedule: TrackedSchedule = {
      modified,
      expression: parsed.ok ? parsed.expression : undefined,
      unsupported,
      timeZone: detail.ScheduleExpressionTimezone ?? 'UTC',
      enabled: (detail.State ?? 'ENABLED') === 'ENABLED',
      startedAt,
      endDate: detail.EndDate,
      targetArn,
      input: detail.Target?.Input ?? '{}',
      cursor: new Date(Math.max(anchor.getTime(), startedAt.getTime()) - 1),
    };
    this.tracked.set(arn, schedule);
    return schedule;
  }

  /** The latest due firing time at `now` and how many earlier ones were missed; undefined when none is due. */
  private due(
    schedule: TrackedSchedule,
    now: Date,
  ): { time: Date; missed: number; cursor: Date } | undefined {
    if (schedule.expression === undefined || schedule.unsupported !== undefined) return undefined;
    if (!schedule.enabled) {
      // A disabled schedule does not catch up when it is enabled again.
      schedule.cursor = now;
      return undefined;
    }
    const limit =
      schedule.endDate !== undefined && schedule.endDate.getTime() < now.getTime() ? schedule.endDate : now;
    let latest: Date | undefined;
    let count = 0;
    let after = schedule.cursor;
    for (let step = 0; step < MAX_CATCH_UP_STEPS; step += 1) {
      const next = nextFireTime(schedule.expression, schedule.timeZone, after, schedule.startedAt);
      if (next === undefined || next.getTime() > limit.getTime()) break;
      latest = next;
      count += 1;
      after = next;
    }
    if (latest === undefined) return undefined;
    // Past the cap the remaining missed times are skipped: the next look starts at `limit`.
    return { time: latest, missed: count - 1, cursor: count === MAX_CATCH_UP_STEPS ? limit : latest };
  }

  private async fire(
    summary: ScheduleSummary,
    schedule: TrackedSchedule,
    scheduledTime: Date,
    missed: number,
    now: Date,
  ): Promise<SchedulerFiring> {
    const scheduleArn = summary.Arn!;
    const executionId = randomBytes(EXECUTION_ID_BYTES).toString('hex');
    const input = withContextAttributes(schedule.input, {
      scheduleArn,
      scheduledTime,
      executionId,
      attempt: 1,
    });
    const base = {
      schedule: `${summary.GroupName ?? 'default'}/${summary.Name!}`,
      scheduleArn,
      targetArn: schedule.targetArn,
      scheduledTime: scheduledTime.toISOString(),
      firedAt: now.toISOString(),
      missed,
    };
    let firing: SchedulerFiring;
    try {
      if (STATE_MACHINE_ARN.test(schedule.targetArn)) {
        const started = await this.sfn.send(
          // Named by the invocation's execution id: unique per firing (moto needs a name).
          new StartExecutionCommand({ stateMachineArn: schedule.targetArn, name: executionId, input }),
        );
        firing = { ...base, outcome: 'started', detail: started.executionArn ?? '' };
      } else {
        const invoked = await this.lambda.send(
          new InvokeCommand({
            FunctionName: schedule.targetArn,
            InvocationType: 'Event',
            Payload: Buffer.from(input),
          }),
        );
        firing = { ...base, outcome: 'started', detail: invoked.$metadata.requestId ?? '' };
      }
    } catch (error) {
      const name = sdkErrorName(error) ?? 'Error';
      firing = { ...base, outcome: 'failed', detail: `${name}: ${(error as Error).message}` };
      console.error(`[local scheduler] ${base.schedule} failed to start ${base.targetArn}: ${firing.detail}`);
    }
    this.recorded.push(firing);
    if (this.recorded.length > MAX_RECORDED_FIRINGS)
      this.recorded.splice(0, this.recorded.length - MAX_RECORDED_FIRINGS);
    return firing;
  }
}
