/**
 * The local EventBridge Scheduler honours a schedule's RetryPolicy and DeadLetterConfig: a target
 * call that fails is retried MaximumRetryAttempts times, then the firing goes to the SQS queue in
 * moto with the input of the last attempt as its body and why in its attributes; a firing that
 * starts sends nothing; a queue that does not exist is recorded, not thrown.
 */
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { motoSqs, type LocalScheduler } from '../../local/gateway/local-scheduler.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { useLocalStack } from '../support/local-stack.ts';

const MINUTE_MS = 60_000;
const clock = new ManualClock(Date.now() - MINUTE_MS);
const local = useLocalStack({ clock });

const ROLE = 'arn:aws:iam::123456789012:role/local-scheduler';
const QUEUE_NAME = 'rbp-schedule-dlq';
const QUEUE_ARN = `arn:aws:sqs:us-east-1:123456789012:${QUEUE_NAME}`;
const PASS = { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } };

let scheduler: SchedulerClient;
let sfn: SFNClient;
let localScheduler: LocalScheduler;
let queueUrl: string;
let stateMachineArn: string;

beforeAll(async () => {
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  localScheduler = local.stack.gateway.scheduler!;
  await localScheduler.stop();
  queueUrl = String(
    (await motoSqs(local.stack.moto.endpoint, 'CreateQueue', { QueueName: QUEUE_NAME }))['QueueUrl'],
  );
  stateMachineArn = (
    await sfn.send(
      new CreateStateMachineCommand({ name: 'dlq-pass', definition: JSON.stringify(PASS), roleArn: ROLE }),
    )
  ).stateMachineArn!;
});

afterAll(() => {
  scheduler.destroy();
  sfn.destroy();
});

/** A rate(1 hour) schedule of the default group aimed at `target`, with 2 retries and `deadLetterArn`. */
async function schedule(name: string, target: string, deadLetterArn: string): Promise<void> {
  await scheduler.send(
    new CreateScheduleCommand({
      Name: name,
      ScheduleExpression: 'rate(1 hour)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: target,
        RoleArn: ROLE,
        Input: '{"plan":"p","attempt":"<aws.scheduler.attempt-number>"}',
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3_600 },
        DeadLetterConfig: { Arn: deadLetterArn },
      },
    }),
  );
}

/** Ticks once the clock stands a minute past now (every new schedule is due at its creation). */
async function tick(): Promise<Awaited<ReturnType<LocalScheduler['tick']>>> {
  clock.advance(Date.now() - clock.now().getTime() + MINUTE_MS);
  return localScheduler.tick();
}

describe("the local scheduler's retries and dead-letter queue", () => {
  it('retries a failing target twice, then sends the firing to the queue with why', async () => {
    const gone = `${stateMachineArn}-gone`;
    await schedule('fails', gone, QUEUE_ARN);
    const firings = (await tick()).filter((f) => f.schedule === 'default/fails');
    expect(firings).toHaveLength(1);
    expect(firings[0]).toMatchObject({ outcome: 'failed', attempts: 3, targetArn: gone });
    expect(firings[0]!.detail).toMatch(/^StateMachineDoesNotExist: /);
    expect(firings[0]!.deadLetter).toMatch(/^sent [0-9a-f-]{36}$/);

    const received = await motoSqs(local.stack.moto.endpoint, 'ReceiveMessage', {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    });
    const messages = received['Messages'] as {
      Body: string;
      MessageId: string;
      MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
    }[];
    expect(messages).toHaveLength(1);
    expect(`sent ${messages[0]!.MessageId}`).toBe(firings[0]!.deadLetter);
    // The input of the last attempt, context attributes replaced.
    expect(JSON.parse(messages[0]!.Body)).toEqual({ plan: 'p', attempt: '3' });
    const attributes = Object.fromEntries(
      Object.entries(messages[0]!.MessageAttributes).map(([name, value]) => [name, value.StringValue]),
    );
    expect(attributes).toEqual({
      ERROR_CODE: 'StateMachineDoesNotExist',
      ERROR_MESSAGE: firings[0]!.detail,
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttemptsExhausted',
      RETRY_ATTEMPTS: '2',
      SCHEDULE_ARN: firings[0]!.scheduleArn,
      TARGET_ARN: gone,
    });
    await motoSqs(local.stack.moto.endpoint, 'DeleteMessage', {
      QueueUrl: queueUrl,
      ReceiptHandle: (messages[0] as unknown as { ReceiptHandle: string }).ReceiptHandle,
    });
  });

  it('sends nothing for a firing that starts its target at the first attempt', async () => {
    await schedule('starts', stateMachineArn, QUEUE_ARN);
    const [firing] = (await tick()).filter((f) => f.schedule === 'default/starts');
    expect(firing).toMatchObject({ outcome: 'started', attempts: 1 });
    expect(firing!.deadLetter).toBeUndefined();
    const received = await motoSqs(local.stack.moto.endpoint, 'ReceiveMessage', { QueueUrl: queueUrl });
    expect(received['Messages'] ?? []).toEqual([]);
  });

  it('records a dead-letter queue that does not exist as a failed delivery', async () => {
    await schedule('no-queue', `${stateMachineArn}-gone`, 'arn:aws:sqs:us-east-1:123456789012:no-such-queue');
    const [firing] = (await tick()).filter((f) => f.schedule === 'default/no-queue');
    expect(firing).toMatchObject({ outcome: 'failed', attempts: 3 });
    expect(firing!.deadLetter).toMatch(/^failed: QueueDoesNotExist: /);
  });
});
