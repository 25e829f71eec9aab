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
 * A target call that fails is retried as the schedule's RetryPolicy says (MaximumRetryAttempts,
 * Scheduler's default 185 when the schedule has none), each retry with the next
 * `<aws.scheduler.attempt-number>`; when the retries are spent and the schedule has a
 * DeadLetterConfig, the firing is sent to that SQS queue in moto as Scheduler's dead-letter event:
 * the body is the input the target would have received, the message attributes say why
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).
 *
 * What it does not do: one-time `at(...)` schedules, flexible time windows (a schedule fires at the
 * start of its window), the retries' exponential backoff and MaximumEventAgeInSeconds (the retries
 * follow one another at once, so a firing never ages), universal targets. Firings missed while the
 * clock jumped (a test's clock, a suspended machine) are fired once, for the latest missed time.
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
import { FUNCTION_ARN_PATTERN, LOCAL_REGION, localClientConfig } from './local-account.ts';
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
/**
 * Retries of a schedule without a RetryPolicy: Scheduler's default
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html).
 */
export const SCHEDULER_DEFAULT_RETRY_ATTEMPTS = 185;
/** `arn:aws:sqs:<region>:<account>:<name>`, the form a DeadLetterConfig names its queue in. */
const QUEUE_ARN = /^arn:aws[a-z-]*:sqs:[a-z0-9-]+:(\d{12}):([A-Za-z0-9_-]+)$/;

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
  /** The execution ARN (state machine), the Lambda request id, or why it failed (the last attempt's error). */
  readonly detail: string;
  /** Calls of the target: 1, or 1 + the retries of a firing that failed. */
  readonly attempts: number;
  /**
   * A failed firing of a schedule with a dead-letter queue: `sent <message id>`, or `failed: <why>`
   * when the queue could not take it; absent otherwise.
   */
  readonly deadLetter?: string;
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
  /** Retries of a failed target call (the RetryPolicy's MaximumRetryAttempts). */
  readonly retryAttempts: number;
  /** The DeadLetterConfig's queue ARN; undefined without one. */
  readonly deadLetterArn: string | undefined;
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

/**
 * One SQS call to moto in the AWS JSON protocol
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html);
 * the project carries no SQS client for the one call Scheduler makes. Rejects with SQS's error type.
 */
export async function motoSqs(
  motoEndpoint: string,
  action: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const answer = await fetch(motoEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      // moto reads the service and region from the credential scope; it checks no signature.
      authorization: `AWS4-HMAC-SHA256 Credential=local/20260101/${LOCAL_REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const parsed = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
  if (!answer.ok) {
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    const type = (text(parsed['__type']) || String(answer.status)).replace(/^.*#/, '');
    throw new Error(`${type}: ${text(parsed['message']) || text(parsed['Message'])}`);
  }
  return parsed;
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
  private readonly motoEndpoint: string;

  constructor(options: LocalSchedulerOptions) {
    this.motoEndpoint = options.motoEndpoint;
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
      retryAttempts: detail.Target?.RetryPolicy?.MaximumRetryAttempts ?? SCHEDULER_DEFAULT_RETRY_ATTEMPTS,
      deadLetterArn: detail.Target?.DeadLetterConfig?.Arn,
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
    const base = {
      schedule: `${summary.GroupName ?? 'default'}/${summary.Name!}`,
      scheduleArn,
      targetArn: schedule.targetArn,
      scheduledTime: scheduledTime.toISOString(),
      firedAt: now.toISOString(),
      missed,
    };
    let firing: SchedulerFiring | undefined;
    let input = '';
    let error = '';
    let errorCode = '';
    const calls = 1 + schedule.retryAttempts;
    for (let attempt = 1; attempt <= calls && firing === undefined; attempt += 1) {
      input = withContextAttributes(schedule.input, { scheduleArn, scheduledTime, executionId, attempt });
      try {
        firing = {
          ...base,
          outcome: 'started',
          detail: await this.call(schedule, executionId, attempt, input),
          attempts: attempt,
        };
      } catch (failure) {
        errorCode = sdkErrorName(failure) ?? 'Error';
        error = `${errorCode}: ${(failure as Error).message}`;
      }
    }
    if (firing === undefined) {
      console.error(
        `[local scheduler] ${base.schedule} failed to start ${base.targetArn} (${calls} attempts): ${error}`,
      );
      const deadLetter =
        schedule.deadLetterArn === undefined
          ? undefined
          : await this.sendDeadLetter(schedule.deadLetterArn, input, {
              ERROR_CODE: errorCode,
              ERROR_MESSAGE: error,
              EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttemptsExhausted',
              RETRY_ATTEMPTS: String(schedule.retryAttempts),
              SCHEDULE_ARN: scheduleArn,
              TARGET_ARN: schedule.targetArn,
            });
      firing = {
        ...base,
        outcome: 'failed',
        detail: error,
        attempts: calls,
        ...(deadLetter === undefined ? {} : { deadLetter }),
      };
    }
    this.recorded.push(firing);
    if (this.recorded.length > MAX_RECORDED_FIRINGS)
      this.recorded.splice(0, this.recorded.length - MAX_RECORDED_FIRINGS);
    return firing;
  }

  /** One call of the target; returns the execution ARN or the Lambda request id. */
  private async call(
    schedule: TrackedSchedule,
    executionId: string,
    attempt: number,
    input: string,
  ): Promise<string> {
    if (STATE_MACHINE_ARN.test(schedule.targetArn)) {
      const started = await this.sfn.send(
        // Named by the invocation's execution id and attempt: unique per call (moto needs a name).
        new StartExecutionCommand({
          stateMachineArn: schedule.targetArn,
          name: attempt === 1 ? executionId : `${executionId}-${attempt}`,
          input,
        }),
      );
      return started.executionArn ?? '';
    }
    const invoked = await this.lambda.send(
      new InvokeCommand({
        FunctionName: schedule.targetArn,
        InvocationType: 'Event',
        Payload: Buffer.from(input),
      }),
    );
    return invoked.$metadata.requestId ?? '';
  }

  /** The dead-letter event into the schedule's queue: `sent <message id>` or `failed: <why>`. */
  private async sendDeadLetter(
    queueArn: string,
    body: string,
    attributes: Record<string, string>,
  ): Promise<string> {
    const match = QUEUE_ARN.exec(queueArn);
    if (match === null) return `failed: ${queueArn} is not an SQS queue ARN`;
    try {
      const { QueueUrl } = await motoSqs(this.motoEndpoint, 'GetQueueUrl', {
        QueueName: match[2],
        QueueOwnerAWSAccountId: match[1],
      });
      const sent = await motoSqs(this.motoEndpoint, 'SendMessage', {
        QueueUrl,
        MessageBody: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            { DataType: 'String', StringValue: value },
          ]),
        ),
      });
      return `sent ${String(sent['MessageId'])}`;
    } catch (failure) {
      console.error(
        `[local scheduler] could not send to the dead-letter queue ${queueArn}: ${String(failure)}`,
      );
      return `failed: ${(failure as Error).message}`;
    }
  }
}
