/**
 * The plan, server and settings routes through the API handler, over the DynamoDB plan and
 * settings stores, the EventBridge Scheduler adapter and the EC2 server directory on moto (the
 * local stack), built by createPlanApiDeps.
 */
import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createPlanApiDeps } from '../../lambdas/aws/plan-wiring.ts';
import type { SchedulerPlanSchedules } from '../../lambdas/aws/scheduler-plan-schedules.ts';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from '../api/api-events.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { memoryApi, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { NIGHTLY_QA } from './plan-fixtures.ts';

const local = useLocalStack();
const TABLE = 'rbp-plans';
const GROUP = 'rbp-plans';

/** The issue's example plan (docs/plans.md). */
const EXAMPLE = NIGHTLY_QA;

/** QA1 in sync; PROD1 lagging by 90 s. */
const VOLUME_TAGS: Record<string, string>[] = [
  { 'rbp:replica': 'true', 'rbp:source-server': 'QA1', 'rbp:sync-state': 'IN_SYNC' },
  {
    'rbp:replica': 'true',
    'rbp:source-server': 'PROD1',
    'rbp:replication-state': 'lagging',
    'rbp:lag-seconds': '90',
  },
];
const volumeIds: string[] = [];

let api: MemoryApi;
let handler: ApiProxyHandler;
let scheduler: SchedulerClient;
let ec2: EC2Client;
let schedules: SchedulerPlanSchedules;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

beforeAll(async () => {
  const documents = await createCatalogTable(local.clientConfig(), TABLE);
  scheduler = new SchedulerClient(local.clientConfig());
  await scheduler.send(new CreateScheduleGroupCommand({ Name: GROUP }));
  api = memoryApi();
  ec2 = new EC2Client(local.clientConfig());
  for (const tags of VOLUME_TAGS) {
    const created = await ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 1,
        TagSpecifications: [
          { ResourceType: 'volume', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    volumeIds.push(created.VolumeId!);
  }
  const plans = createPlanApiDeps(
    {
      tableName: TABLE,
      groupName: GROUP,
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:rbp-plan-run',
      roleArn: 'arn:aws:iam::123456789012:role/rbp-plan-scheduler',
    },
    { documents, ec2, scheduler, sfn: new SFNClient(local.clientConfig()) },
    api.clock,
  );
  schedules = plans.scheduler as SchedulerPlanSchedules;
  const deps = { ...api.deps, plans };
  handler = createApiHandler(deps, () => undefined);
});
afterAll(() => {
  scheduler.destroy();
  ec2.destroy();
});

describe('plan routes over DynamoDB and EventBridge Scheduler (moto)', () => {
  it('POST /plans creates the record and its schedule; a duplicate is 409 and changes nothing', async () => {
    const created = await call({ method: 'POST', path: '/plans', body: EXAMPLE });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ name: 'nightly-qa', enabled: true, revision: 1 });
    expect(await schedules.list()).toEqual([
      {
        name: 'nightly-qa--0',
        plan: 'nightly-qa',
        expression: 'cron(0 1 * * ? *)',
        timeZone: 'Europe/Berlin',
        enabled: true,
      },
    ]);
    const duplicate = await call({ method: 'POST', path: '/plans', body: { ...EXAMPLE, schedules: [] } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body).toEqual({
      code: 'Conflict',
      message: 'plan nightly-qa already exists',
      details: { reason: 'ConflictError', plan: 'nightly-qa' },
    });
    expect((await schedules.list()).length).toBe(1);
  });

  it('a bad plan is 400 listing every problem, and nothing is created', async () => {
    const bad = {
      ...EXAMPLE,
      name: 'bad plan',
      schedules: [{ expression: 'rate(1 days)', timeZone: 'Mars/Olympus' }],
      activities: [{ servers: 'QA*', typo: true }],
    };
    const answer = await call({ method: 'POST', path: '/plans', body: bad });
    expect(answer.status).toBe(400);
    const body = answer.body as { code: string; details: { issues: { field: string }[] } };
    expect(body.code).toBe('InvalidRequest');
    expect(body.details.issues.map((i) => i.field).sort()).toEqual([
      'activities.0',
      'name',
      'schedules.0.expression',
      'schedules.0.timeZone',
    ]);
    expect((await call({ method: 'GET', path: '/plans' })).body).toMatchObject({
      items: [{ name: 'nightly-qa' }],
    });
    expect((await schedules.list()).map((s) => s.name)).toEqual(['nightly-qa--0']);
  });

  it('GET /plans/{name}, PUT (update and disable), DELETE; absent plans are 404', async () => {
    const shown = await call({ method: 'GET', path: '/plans/nightly-qa' });
    expect(shown.status).toBe(200);
    expect((shown.body as { document: unknown }).document).toMatchObject({ maxConcurrentTasks: 1 });
    const updated = await call({
      method: 'PUT',
      path: '/plans/nightly-qa',
      body: { ...EXAMPLE, enabled: false, schedules: [{ expression: 'rate(12 hours)', timeZone: 'UTC' }] },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ revision: 2, enabled: false });
    expect(await schedules.list()).toEqual([
      {
        name: 'nightly-qa--0',
        plan: 'nightly-qa',
        expression: 'rate(12 hours)',
        timeZone: 'UTC',
        enabled: false,
      },
    ]);
    const renamed = await call({
      method: 'PUT',
      path: '/plans/nightly-qa',
      body: { ...EXAMPLE, name: 'other' },
    });
    expect(renamed.status).toBe(400);
    expect((renamed.body as { message: string }).message).toBe(
      'the document names plan other, not nightly-qa; a plan cannot be renamed',
    );
    expect((await call({ method: 'GET', path: '/plans/absent' })).status).toBe(404);
    expect(
      (await call({ method: 'PUT', path: '/plans/absent', body: { ...EXAMPLE, name: 'absent' } })).status,
    ).toBe(404);
    expect((await call({ method: 'DELETE', path: '/plans/absent' })).status).toBe(404);
  });

  it('GET /servers lists the servers from the replica tags and the plans that select each', async () => {
    const answer = await call({ method: 'GET', path: '/servers' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      items: [
        {
          name: 'PROD1',
          replication: 'lagging',
          lagSeconds: 90,
          volumes: [{ volumeId: volumeIds[1] }],
          applications: [],
          hasPrimary: false,
          plans: [],
        },
        {
          name: 'QA1',
          replication: 'in-sync',
          lagSeconds: 0,
          volumes: [{ volumeId: volumeIds[0] }],
          applications: [],
          hasPrimary: false,
          plans: ['nightly-qa'],
        },
      ],
    });
  });

  it('GET/PUT /settings: defaults, then backups disabled, stored and read back', async () => {
    expect((await call({ method: 'GET', path: '/settings' })).body).toEqual({
      formatVersion: 1,
      backupsEnabled: true,
    });
    const put = await call({ method: 'PUT', path: '/settings', body: { backupsEnabled: false } });
    const expected = { formatVersion: 1, backupsEnabled: false, updatedAt: api.clock.now().toISOString() };
    expect(put).toMatchObject({ status: 200, body: expected });
    expect((await call({ method: 'GET', path: '/settings' })).body).toEqual(expected);
    const bad = await call({ method: 'PUT', path: '/settings', body: { backupsEnabled: 'no' } });
    expect(bad.status).toBe(400);
  });

  it('DELETE /plans/{name} removes the schedules and the record', async () => {
    const deleted = await call({ method: 'DELETE', path: '/plans/nightly-qa' });
    expect(deleted).toMatchObject({ status: 200, body: { name: 'nightly-qa', deleted: true } });
    expect(await schedules.list()).toEqual([]);
    expect((await call({ method: 'GET', path: '/plans' })).body).toEqual({ items: [] });
  });
});
