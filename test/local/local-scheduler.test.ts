/**
 * The local EventBridge Scheduler on a clock the test moves: schedules created in moto through the
 * gateway fire their targets (a state machine in moto, a Lambda handler in the gateway) at the
 * times EventBridge Scheduler would, with the schedule's input and its context attributes.
 */
import { GetScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import {
  CreateStateMachineCommand,
  ListExecutionsCommand,
  SFNClient,
  DescribeExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalScheduler } from '../../local/gateway/local-scheduler.ts';
import { withContextAttributes } from '../../local/gateway/local-scheduler.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { createSchedule } from '../support/schedules.ts';

const MINUTE_MS = 60_000;
const clock = new ManualClock(Date.now() - MINUTE_MS);
const local = useLocalStack({ clock });

let scheduler: SchedulerClient;
let sfn: SFNClient;
let localScheduler: LocalScheduler;
let stateMachineArn: string;
const lambdaEvents: unknown[] = [];

const PASS = { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } };
const ROLE = 'arn:aws:iam::123456789012:role/local-scheduler';

beforeAll(async () => {
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  localScheduler = local.stack.gateway.scheduler!;
  // The test ticks by hand, after moving the clock; the timer would tick at the same times anyway.
  await localScheduler.stop();
  stateMachineArn = (
    await sfn.send(
      new CreateStateMachineCommand({ name: 'scheduled', definition: JSON.stringify(PASS), roleArn: ROLE }),
    )
  ).stateMachineArn!;
  local.stack.gateway.registerFunction('scheduled-probe', (event) => {
    lambdaEvents.push(event);
    return Promise.resolve({});
  });
});

afterAll(() => {
  scheduler.destroy();
  sfn.destroy();
});

async function executionInputs(): Promise<unknown[]> {
  const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
  const inputs: unknown[] = [];
  for (const execution of executions) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: execution.executionArn }));
    inputs.push(JSON.parse(described.input ?? 'null'));
  }
  return inputs.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

async function createdAt(name: string): Promise<number> {
  const schedule = await scheduler.send(new GetScheduleCommand({ Name: name }));
  return schedule.CreationDate!.getTime();
}

async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the local EventBridge Scheduler', () => {
  it('fires a rate(1 minute) schedule at its creation and every minute after, with the input and context attributes', async () => {
    await createSchedule(scheduler, {
      name: 'every-minute',
      expression: 'rate(1 minute)',
      target: stateMachineArn,
      roleArn: ROLE,
      input: JSON.stringify({ plan: 'p1', at: '<aws.scheduler.scheduled-time>' }),
    });
    const created = await createdAt('every-minute');
    const iso = (ms: number) => new Date(ms).toISOString();
    const second = (ms: number) => iso(ms).replace(/\.\d{3}Z$/, 'Z');

    expect(await localScheduler.tick()).toEqual([]); // the clock stands before the creation
    clock.advance(created - clock.now().getTime());
    const [first, ...others] = await localScheduler.tick();
    expect(others).toEqual([]);
    expect(first).toMatchObject({
      schedule: 'default/every-minute',
      targetArn: stateMachineArn,
      scheduledTime: iso(created),
      missed: 0,
      outcome: 'started',
    });
    expect(first!.detail).toMatch(/^arn:aws:states:us-east-1:123456789012:execution:scheduled:/);
    expect(await executionInputs()).toEqual([{ plan: 'p1', at: second(created) }]);

    clock.advance(MINUTE_MS - 1);
    expect(await localScheduler.tick()).toEqual([]);
    clock.advance(1);
    expect((await localScheduler.tick()).map((f) => [f.scheduledTime, f.outcome])).toEqual([
      [iso(created + MINUTE_MS), 'started'],
    ]);

    // The clock jumps ten minutes: one firing, for the latest due time; nine were missed.
    clock.advance(10 * MINUTE_MS);
    expect((await localScheduler.tick()).map((f) => [f.scheduledTime, f.missed, f.outcome])).toEqual([
      [iso(created + 11 * MINUTE_MS), 9, 'started'],
    ]);
    expect(await executionInputs()).toEqual(
      [0, 1, 11]
        .map((minutes) => ({ plan: 'p1', at: second(created + minutes * MINUTE_MS) }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );

    // Disabled: no firing, and no catching up when it is enabled again.
    const update = {
      Name: 'every-minute',
      ScheduleExpression: 'rate(1 minute)',
      FlexibleTimeWindow: { Mode: 'OFF' as const },
      Target: { Arn: stateMachineArn, RoleArn: ROLE, Input: '{"plan":"p1"}' },
    };
    await scheduler.send(new UpdateScheduleCommand({ ...update, State: 'DISABLED' }));
    clock.advance(5 * MINUTE_MS);
    expect(await localScheduler.tick()).toEqual([]);
    await scheduler.send(new UpdateScheduleCommand({ ...update, State: 'ENABLED' }));
    expect(await localScheduler.tick()).toEqual([]);
    expect((await executionInputs()).length).toBe(3);
  });

  it('fires a cron in its time zone, skipping the time daylight saving removes, and invokes a Lambda target asynchronously', async () => {
    const functionArn = 'arn:aws:lambda:us-east-1:123456789012:function:scheduled-probe';
    await createSchedule(scheduler, {
      name: 'berlin-0230',
      expression: 'cron(30 2 * * ? *)',
      timeZone: 'Europe/Berlin',
      target: functionArn,
      roleArn: ROLE,
      input: '{"schedule":"<aws.scheduler.schedule-arn>"}',
    });
    const fired = async (): Promise<string[]> =>
      (await localScheduler.tick()).filter((f) => f.targetArn === functionArn).map((f) => f.scheduledTime);
    const setClock = (iso: string) => clock.advance(Date.parse(iso) - clock.now().getTime());

    // 2027-03-27 is standard time: 02:30 in Berlin is 01:30 UTC.
    setClock('2027-03-27T01:29:59.999Z');
    const before = await localScheduler.tick();
    expect(before.filter((f) => f.targetArn === functionArn)).toHaveLength(1); // the latest missed day
    expect(before.find((f) => f.targetArn === functionArn)!.scheduledTime).toBe('2027-03-26T01:30:00.000Z');
    setClock('2027-03-27T01:30:00.000Z');
    expect(await fired()).toEqual(['2027-03-27T01:30:00.000Z']);
    // On 2027-03-28 the clocks go from 02:00 to 03:00: there is no 02:30, so nothing fires that day.
    setClock('2027-03-28T22:59:00.000Z');
    expect(await fired()).toEqual([]);
    // 2027-03-29 is summer time: 02:30 in Berlin is 00:30 UTC.
    setClock('2027-03-29T00:30:00.000Z');
    expect(await fired()).toEqual(['2027-03-29T00:30:00.000Z']);

    const events = await until(
      () => lambdaEvents,
      (list) => list.length >= 3,
    );
    expect(events).toEqual(
      Array.from({ length: 3 }, () => ({
        schedule: 'arn:aws:scheduler:us-east-1:123456789012:schedule/default/berlin-0230',
      })),
    );
  });

  it('records a firing whose target does not exist as failed, and lists every firing on the admin API', async () => {
    await createSchedule(scheduler, {
      name: 'no-such-machine',
      expression: 'rate(5 minutes)',
      target: `${stateMachineArn}-gone`,
      roleArn: ROLE,
      input: '{}',
    });
    clock.advance((await createdAt('no-such-machine')) - clock.now().getTime() + MINUTE_MS);
    const answer = await fetch(`${local.stack.endpoint}/_local/schedules/tick`, { method: 'POST' });
    expect(answer.status).toBe(200);
    const { firings } = (await answer.json()) as {
      firings: { schedule: string; outcome: string; detail: string }[];
    };
    const failed = firings.find((f) => f.schedule === 'default/no-such-machine');
    expect(failed).toMatchObject({ outcome: 'failed' });
    expect(failed!.detail).toMatch(/^StateMachineDoesNotExist: /);

    const listed = (await (await fetch(`${local.stack.endpoint}/_local/schedules`)).json()) as {
      running: boolean;
      firings: unknown[];
    };
    expect(listed.running).toBe(false);
    expect(listed.firings).toEqual(localScheduler.firings());
  });

  it('replaces the four context attributes as Scheduler does', () => {
    expect(
      withContextAttributes(
        '<aws.scheduler.schedule-arn>|<aws.scheduler.scheduled-time>|<aws.scheduler.execution-id>|<aws.scheduler.attempt-number>|<aws.scheduler.other>',
        {
          scheduleArn: 'arn:s',
          scheduledTime: new Date('2022-03-22T18:59:43.123Z'),
          executionId: 'd32c5kddcf5bb8c3',
          attempt: 1,
        },
      ),
    ).toBe('arn:s|2022-03-22T18:59:43Z|d32c5kddcf5bb8c3|1|<aws.scheduler.other>');
  });
});
