import { CreateScheduleGroupCommand, GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbPlanStore } from '../../lambdas/aws/dynamodb-plan-store.ts';
import {
  SchedulerPlanSchedules,
  type PlanScheduleTarget,
} from '../../lambdas/aws/scheduler-plan-schedules.ts';
import {
  createPlan,
  deletePlan,
  setPlanEnabled,
  updatePlan,
  type PlanServicePorts,
} from '../../lambdas/core/plans/plan-service.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { FakeClock } from './fake-plan-ports.ts';
import { MemoryPlanScheduler } from './memory-plan-store.ts';
import { planSchedulerContract } from './plan-scheduler.contract.ts';

const local = useLocalStack();
const clients: { destroy(): void }[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

const ACCOUNT = '123456789012';

/** A fresh schedule group per scheduler, so every test starts empty. */
async function freshScheduler(): Promise<{ client: SchedulerClient; target: PlanScheduleTarget }> {
  const client = new SchedulerClient(local.clientConfig());
  clients.push(client);
  const groupName = `rbp-plans-${clients.length}`;
  await client.send(new CreateScheduleGroupCommand({ Name: groupName }));
  return {
    client,
    target: {
      groupName,
      stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:rbp-plan-run`,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/rbp-plan-scheduler`,
    },
  };
}

planSchedulerContract('in-memory', () => Promise.resolve(new MemoryPlanScheduler()));
planSchedulerContract('EventBridge Scheduler (moto)', async () => {
  const { client, target } = await freshScheduler();
  return new SchedulerPlanSchedules(client, target);
});

it('a schedule starts the plan-run state machine with {plan, trigger} through the given role', async () => {
  const { client, target } = await freshScheduler();
  await new SchedulerPlanSchedules(client, target).put({
    name: 'nightly--0',
    plan: 'nightly',
    expression: 'rate(1 day)',
    timeZone: 'UTC',
    enabled: true,
  });
  const stored = await client.send(
    new GetScheduleCommand({ Name: 'nightly--0', GroupName: target.groupName }),
  );
  expect(stored.Target).toMatchObject({
    Arn: target.stateMachineArn,
    RoleArn: target.roleArn,
    Input: '{"plan":"nightly","trigger":"schedule:nightly--0"}',
  });
  expect(stored.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
});

describe('plan service over DynamoDB and EventBridge Scheduler (moto)', () => {
  it('create, update, disable, enable and delete keep the record and the schedules together', async () => {
    const { client, target } = await freshScheduler();
    const documents: DynamoDBDocumentClient = await createCatalogTable(local.clientConfig(), 'plans-service');
    clients.push(documents);
    const store = new DynamoDbPlanStore(documents, 'plans-service');
    const scheduler = new SchedulerPlanSchedules(client, target);
    const ports: PlanServicePorts = {
      store,
      scheduler,
      clock: new FakeClock(new Date('2026-03-02T10:00:00.000Z')),
    };
    const plan = (expressions: string[]) => ({
      name: 'nightly',
      schedules: expressions.map((expression) => ({ expression, timeZone: 'Europe/Paris' })),
      activities: [{ servers: 'QA*' }],
    });
    const created = await createPlan(ports, plan(['cron(0 1 * * ? *)', 'rate(12 hours)']));
    expect(await store.get('nightly')).toEqual(created);
    expect(
      (await scheduler.list()).map((s) => `${s.name} ${s.expression} ${String(s.enabled)}`).sort(),
    ).toEqual(['nightly--0 cron(0 1 * * ? *) true', 'nightly--1 rate(12 hours) true']);
    await expect(createPlan(ports, plan(['rate(1 day)']))).rejects.toThrow('plan nightly already exists');

    await updatePlan(ports, 'nightly', plan(['rate(2 days)']));
    expect((await scheduler.list()).map((s) => `${s.name} ${s.expression} ${String(s.enabled)}`)).toEqual([
      'nightly--0 rate(2 days) true',
    ]);
    const disabled = await setPlanEnabled(ports, 'nightly', false);
    expect(disabled.revision).toBe(3);
    expect((await scheduler.list()).map((s) => s.enabled)).toEqual([false]);
    await setPlanEnabled(ports, 'nightly', true);
    expect((await scheduler.list()).map((s) => s.enabled)).toEqual([true]);

    await deletePlan(ports, 'nightly');
    expect(await store.get('nightly')).toBeUndefined();
    expect(await scheduler.list()).toEqual([]);
  });
});
