/**
 * A schedule really fires on the local stack: on the system clock, with the gateway's own timer,
 * a `rate(1 minute)` schedule created in moto starts its state machine (a rate schedule fires at
 * its start, so the test waits seconds, not a minute).
 */
import { DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.ts';
import { createSchedule } from '../support/schedules.ts';
import {
  createPassStateMachine,
  executionInput,
  executionsWithin,
} from '../support/stand-in-state-machines.ts';

const local = useLocalStack();
/** Time the gateway's scheduler gets to fire: one tick is a second; a loaded machine is slower. */
const FIRING_WAIT_MS = 20_000;

let scheduler: SchedulerClient;
let sfn: SFNClient;

beforeAll(() => {
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
});

afterAll(() => {
  scheduler.destroy();
  sfn.destroy();
});

describe('the local stack fires schedules', () => {
  it('starts the target state machine of a rate(1 minute) schedule with its input', async () => {
    expect(local.stack.gateway.scheduler?.running).toBe(true);
    const stateMachineArn = await createPassStateMachine(
      sfn,
      'plan-run-stand-in',
      'arn:aws:iam::123456789012:role/local',
    );
    await createSchedule(scheduler, {
      name: 'nightly-qa--1',
      expression: 'rate(1 minute)',
      timeZone: 'Europe/Berlin',
      target: stateMachineArn,
      roleArn: 'arn:aws:iam::123456789012:role/local',
      input: JSON.stringify({ plan: 'nightly-qa', trigger: 'schedule:nightly-qa--1' }),
    });
    const started = Date.now();
    const executions = await executionsWithin(sfn, stateMachineArn, FIRING_WAIT_MS);
    console.info(`[local-scheduler-fires] first firing after ${Date.now() - started} ms`);
    expect(executions).toHaveLength(1);
    expect(await executionInput(sfn, executions[0]!.executionArn!)).toEqual({
      plan: 'nightly-qa',
      trigger: 'schedule:nightly-qa--1',
    });
    expect(local.stack.gateway.scheduler!.firings()).toEqual([
      expect.objectContaining({
        schedule: 'default/nightly-qa--1',
        outcome: 'started',
        detail: executions[0]!.executionArn,
      }),
    ]);
    await scheduler.send(new DeleteScheduleCommand({ Name: 'nightly-qa--1' }));
  });
});
