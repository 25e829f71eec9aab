/**
 * Workflow schedules on the local stack (moto's EventBridge Scheduler): a scheduled workflow gets
 * the schedule `wf-<name>` in the workflows' group with its expression and time zone, aimed at the
 * workflow-run state machine with `{workflow, trigger}`; an update changes it, disable/enable set
 * its state, delete removes it, an on-demand workflow has none, and a schedule that cannot be
 * written leaves no record. The gateway's scheduler fires a `rate(1 minute)` workflow schedule,
 * which starts the target state machine with the workflow's input.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateScheduleGroupCommand,
  GetScheduleCommand,
  SchedulerClient,
  type GetScheduleCommandOutput,
} from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2InstanceDirectory } from '../../lambdas/aws/ec2-instance-directory.ts';
import { Ec2ServerDirectory } from '../../lambdas/aws/ec2-server-directory.ts';
import { SchedulerWorkflowSchedules } from '../../lambdas/aws/scheduler-workflow-schedules.ts';
import {
  createWorkflow,
  deleteWorkflow,
  setWorkflowEnabled,
  updateWorkflow,
  type WorkflowRecord,
  type WorkflowServicePorts,
} from '../../lambdas/core/workflows/workflow-service.ts';
import { LOCAL_ACCOUNT_ID } from '../../local/gateway/local-account.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { useLocalStack } from '../support/local-stack.ts';
import {
  createPassStateMachine,
  executionInput,
  executionsWithin,
} from '../support/stand-in-state-machines.ts';

const local = useLocalStack();
const GROUP = 'rbp-workflows';
const ROLE_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local-workflow-scheduler`;
/** Time the gateway's scheduler gets to fire: one tick is a second; a loaded machine is slower. */
const FIRING_WAIT_MS = 20_000;

let scheduler: SchedulerClient;
let sfn: SFNClient;
let ec2: EC2Client;
let workDir: string;
let runMachineArn: string;
let store: MemoryNamedRecords<WorkflowRecord>;
let ports: WorkflowServicePorts;

const nightly = (overrides: Record<string, unknown> = {}) => ({
  name: 'nightly',
  type: 'LiveClone',
  server: 'web01',
  schedule: { type: 'scheduled', expression: 'cron(0 6 * * ? *)', timeZone: 'Europe/Berlin' },
  target: { region: 'us-east-1' },
  ...overrides,
});

async function schedule(name: string): Promise<GetScheduleCommandOutput | undefined> {
  try {
    return await scheduler.send(new GetScheduleCommand({ Name: name, GroupName: GROUP }));
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

beforeAll(async () => {
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  ec2 = new EC2Client(local.clientConfig());
  workDir = await mkdtemp(join(tmpdir(), 'rbp-workflow-schedules-'));
  await writeFile(join(workDir, 'web01.img'), Buffer.alloc(1 << 20));
  await local.stack.replicas.create({ imagePath: join(workDir, 'web01.img'), serverId: 'web01' });
  await scheduler.send(new CreateScheduleGroupCommand({ Name: GROUP }));
  // A stand-in for the workflow-run state machine: what matters here is what the schedule starts.
  runMachineArn = await createPassStateMachine(
    sfn,
    'rbp-workflow-run',
    `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/local`,
  );
  store = new MemoryNamedRecords<WorkflowRecord>('workflow');
  ports = {
    store,
    scheduler: new SchedulerWorkflowSchedules(scheduler, {
      groupName: GROUP,
      stateMachineArn: runMachineArn,
      roleArn: ROLE_ARN,
    }),
    servers: new Ec2ServerDirectory(ec2),
    instances: new Ec2InstanceDirectory(ec2),
    deployment: { account: LOCAL_ACCOUNT_ID, region: 'us-east-1' },
    clock: new ManualClock(Date.UTC(2026, 11, 3, 8)),
  };
}, 60_000);

afterAll(async () => {
  scheduler.destroy();
  sfn.destroy();
  ec2.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('workflow schedules in EventBridge Scheduler', () => {
  it('a scheduled workflow gets wf-<name> with its expression and time zone, aimed at the run state machine', async () => {
    await createWorkflow(ports, nightly());
    const created = await schedule('wf-nightly');
    expect({
      name: created?.Name,
      group: created?.GroupName,
      expression: created?.ScheduleExpression,
      timeZone: created?.ScheduleExpressionTimezone,
      state: created?.State,
      window: created?.FlexibleTimeWindow,
      target: created?.Target?.Arn,
      role: created?.Target?.RoleArn,
      input: JSON.parse(created?.Target?.Input ?? 'null') as unknown,
    }).toEqual({
      name: 'wf-nightly',
      group: GROUP,
      expression: 'cron(0 6 * * ? *)',
      timeZone: 'Europe/Berlin',
      state: 'ENABLED',
      window: { Mode: 'OFF' },
      target: runMachineArn,
      role: ROLE_ARN,
      input: { workflow: 'nightly', trigger: 'schedule:wf-nightly' },
    });
  });

  it('an update changes it; disable and enable set its state', async () => {
    await updateWorkflow(
      ports,
      'nightly',
      nightly({ schedule: { type: 'scheduled', expression: 'cron(30 5 ? * MON-FRI *)', timeZone: 'UTC' } }),
    );
    let current = await schedule('wf-nightly');
    expect([current?.ScheduleExpression, current?.ScheduleExpressionTimezone, current?.State]).toEqual([
      'cron(30 5 ? * MON-FRI *)',
      'UTC',
      'ENABLED',
    ]);
    await setWorkflowEnabled(ports, 'nightly', false);
    current = await schedule('wf-nightly');
    expect([current?.State, current?.ScheduleExpression]).toEqual(['DISABLED', 'cron(30 5 ? * MON-FRI *)']);
    await setWorkflowEnabled(ports, 'nightly', true);
    expect((await schedule('wf-nightly'))?.State).toBe('ENABLED');
    expect((await store.get('nightly'))?.revision).toBe(4);
  });

  it('an on-demand workflow has no schedule; delete removes the schedule with the record', async () => {
    await createWorkflow(ports, nightly({ name: 'ondemand', schedule: { type: 'on-demand' } }));
    expect(await schedule('wf-ondemand')).toBeUndefined();
    await deleteWorkflow(ports, 'nightly');
    expect(await schedule('wf-nightly')).toBeUndefined();
    expect(await store.get('nightly')).toBeUndefined();
  });

  it('a schedule that cannot be written leaves no record behind', async () => {
    const broken: WorkflowServicePorts = {
      ...ports,
      scheduler: new SchedulerWorkflowSchedules(scheduler, {
        groupName: 'no-such-group',
        stateMachineArn: runMachineArn,
        roleArn: ROLE_ARN,
      }),
    };
    await expect(createWorkflow(broken, nightly({ name: 'orphan' }))).rejects.toThrow(/CreateSchedule/);
    expect(await store.get('orphan')).toBeUndefined();
  });

  it('the local stack fires a workflow schedule: the run state machine starts with the workflow input', async () => {
    await createWorkflow(
      ports,
      nightly({
        name: 'everyminute',
        schedule: { type: 'scheduled', expression: 'rate(1 minute)', timeZone: 'UTC' },
      }),
    );
    const executions = await executionsWithin(sfn, runMachineArn, FIRING_WAIT_MS);
    expect(executions).toHaveLength(1);
    expect(await executionInput(sfn, executions[0]!.executionArn!)).toEqual({
      workflow: 'everyminute',
      trigger: 'schedule:wf-everyminute',
    });
    expect(local.stack.gateway.scheduler!.firings()).toEqual([
      expect.objectContaining({ schedule: `${GROUP}/wf-everyminute`, outcome: 'started' }),
    ]);
    await setWorkflowEnabled(ports, 'everyminute', false);
  }, 60_000);
});
