/**
 * The schedules the API writes (plans' and workflows') carry the retry policy and, when the
 * deployment names one, the dead-letter queue: exactly, on CreateSchedule and on the
 * UpdateSchedule of a name that exists, read back from EventBridge Scheduler on moto.
 */
import { CreateScheduleGroupCommand, GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { afterAll, describe, expect, it } from 'vitest';
import { SchedulerPlanSchedules } from '../../lambdas/aws/scheduler-plan-schedules.ts';
import { SchedulerWorkflowSchedules } from '../../lambdas/aws/scheduler-workflow-schedules.ts';
import { planNamesOf } from '../../lambdas/aws/plan-wiring.ts';
import { workflowScheduleTargetOf } from '../../lambdas/aws/workflow-wiring.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const clients: SchedulerClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

const ACCOUNT = '123456789012';
const QUEUE = `arn:aws:sqs:us-east-1:${ACCOUNT}:rbp-schedule-dlq`;
const PLAN_ENV = {
  TABLE_NAME: 'rbp',
  PLAN_RUN_STATE_MACHINE_ARN: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:rbp-plan-run`,
  PLAN_SCHEDULER_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/rbp-plan-scheduler`,
};

async function group(): Promise<{ client: SchedulerClient; name: string }> {
  const client = new SchedulerClient(local.clientConfig());
  clients.push(client);
  const name = `rbp-dlq-${clients.length}`;
  await client.send(new CreateScheduleGroupCommand({ Name: name }));
  return { client, name };
}

const NIGHTLY = {
  name: 'nightly--0',
  plan: 'nightly',
  expression: 'rate(1 day)',
  timeZone: 'UTC',
  enabled: true,
};

describe('plan schedules', () => {
  it('carry 3 retries within an hour and the dead-letter queue of the environment, created and updated', async () => {
    const { client, name } = await group();
    const target = planNamesOf({
      ...PLAN_ENV,
      PLAN_SCHEDULE_GROUP: name,
      SCHEDULE_DEAD_LETTER_QUEUE_ARN: QUEUE,
    });
    const schedules = new SchedulerPlanSchedules(client, target);
    await schedules.put(NIGHTLY);
    const read = () => client.send(new GetScheduleCommand({ Name: 'nightly--0', GroupName: name }));
    const expected = {
      Arn: PLAN_ENV.PLAN_RUN_STATE_MACHINE_ARN,
      RoleArn: PLAN_ENV.PLAN_SCHEDULER_ROLE_ARN,
      Input: '{"plan":"nightly","trigger":"schedule:nightly--0"}',
      RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3_600 },
      DeadLetterConfig: { Arn: QUEUE },
    };
    expect((await read()).Target).toEqual(expected);
    // The second put of the name is an UpdateSchedule, which replaces the whole target.
    await schedules.put({ ...NIGHTLY, expression: 'rate(2 days)' });
    const updated = await read();
    expect(updated.ScheduleExpression).toBe('rate(2 days)');
    expect(updated.Target).toEqual(expected);
  });

  it('carry the retry policy and no dead-letter queue when the environment names none', async () => {
    const { client, name } = await group();
    await new SchedulerPlanSchedules(client, planNamesOf({ ...PLAN_ENV, PLAN_SCHEDULE_GROUP: name })).put(
      NIGHTLY,
    );
    const stored = await client.send(new GetScheduleCommand({ Name: 'nightly--0', GroupName: name }));
    expect(stored.Target?.RetryPolicy).toEqual({ MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3_600 });
    expect(stored.Target?.DeadLetterConfig).toBeUndefined();
  });
});

describe('workflow schedules', () => {
  it('carry the same retry policy and dead-letter queue', async () => {
    const { client, name } = await group();
    const target = workflowScheduleTargetOf({
      WORKFLOW_SCHEDULE_GROUP: name,
      WORKFLOW_RUN_STATE_MACHINE_ARN: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:rbp-workflow-run`,
      WORKFLOW_SCHEDULER_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/rbp-workflow-scheduler`,
      SCHEDULE_DEAD_LETTER_QUEUE_ARN: QUEUE,
    });
    await new SchedulerWorkflowSchedules(client, target!).put({
      name: 'wf-refresh',
      workflow: 'refresh',
      expression: 'cron(0 6 * * ? *)',
      timeZone: 'UTC',
      enabled: true,
    });
    const stored = await client.send(new GetScheduleCommand({ Name: 'wf-refresh', GroupName: name }));
    expect(stored.Target?.RetryPolicy).toEqual({ MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3_600 });
    expect(stored.Target?.DeadLetterConfig).toEqual({ Arn: QUEUE });
  });
});
