/**
 * Workflow schedules with the product deployed on the local stack (local/deploy.ts): a scheduled
 * workflow created through the API gets its schedule in the workflows' group, aimed at the
 * workflow-run state machine; when it is due the gateway's scheduler starts that state machine
 * with the workflow's input; delete removes the schedule.
 */
import '../support/quiet-powertools.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployProduct, type DeployedProduct } from '../../local/deploy.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
const GROUP = 'rbp-local-workflows';
/** Time the gateway's scheduler gets to fire: one tick is a second; a loaded machine is slower. */
const FIRING_WAIT_MS = 30_000;

let product: DeployedProduct;
let scheduler: SchedulerClient;
let sfn: SFNClient;
let workDir: string;
const savedEnv = { ...process.env };

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const answer = await fetch(`${product.apiUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: answer.status, body: (await answer.json()) };
}

beforeAll(async () => {
  product = await deployProduct(local.stack);
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  workDir = await mkdtemp(join(tmpdir(), 'rbp-workflow-schedules-local-'));
  await writeFile(join(workDir, 'web01.img'), Buffer.alloc(1 << 20));
  await local.stack.replicas.create({ imagePath: join(workDir, 'web01.img'), serverId: 'web01' });
}, 120_000);

afterAll(async () => {
  scheduler.destroy();
  sfn.destroy();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  await rm(workDir, { recursive: true, force: true });
});

describe('workflow schedules on the deployed local stack', () => {
  it('a scheduled workflow gets its schedule; a due firing starts a run of it; delete removes the schedule', async () => {
    const created = await api('POST', '/workflows', {
      name: 'minutely',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'scheduled', expression: 'rate(1 minute)', timeZone: 'Europe/Berlin' },
      target: { region: 'us-east-1' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const schedule = await scheduler.send(new GetScheduleCommand({ Name: 'wf-minutely', GroupName: GROUP }));
    expect({
      expression: schedule.ScheduleExpression,
      timeZone: schedule.ScheduleExpressionTimezone,
      state: schedule.State,
      target: schedule.Target?.Arn,
      input: JSON.parse(schedule.Target?.Input ?? 'null') as unknown,
    }).toEqual({
      expression: 'rate(1 minute)',
      timeZone: 'Europe/Berlin',
      state: 'ENABLED',
      target: process.env['WORKFLOW_RUN_STATE_MACHINE_ARN'],
      input: { workflow: 'minutely', trigger: 'schedule:wf-minutely' },
    });

    const started = Date.now();
    let firings = local.stack.gateway.scheduler!.firings();
    while (
      !firings.some((f) => f.schedule === `${GROUP}/wf-minutely`) &&
      Date.now() - started < FIRING_WAIT_MS
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      firings = local.stack.gateway.scheduler!.firings();
    }
    expect(firings.find((f) => f.schedule === `${GROUP}/wf-minutely`)).toMatchObject({
      outcome: 'started',
      targetArn: process.env['WORKFLOW_RUN_STATE_MACHINE_ARN'],
    });
    // The firing started the run state machine with the workflow's input.
    const firing = firings.find((f) => f.schedule === `${GROUP}/wf-minutely`)!;
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: firing.detail }));
    expect(JSON.parse(execution.input ?? 'null')).toEqual({
      workflow: 'minutely',
      trigger: 'schedule:wf-minutely',
    });
    // Whether the run state machine records the run (workflow-run-steps.ts) is the runs' own test;
    // what it did with this execution is printed for the record.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await sfn.send(new DescribeExecutionCommand({ executionArn: firing.detail }));
    console.info(
      `[workflow-schedules-local] scheduled execution ${after.status}: ${after.error ?? ''} ${after.cause ?? ''}`,
    );

    expect((await api('DELETE', '/workflows/minutely')).status).toBe(200);
    await expect(
      scheduler.send(new GetScheduleCommand({ Name: 'wf-minutely', GroupName: GROUP })),
    ).rejects.toThrow();
  }, 120_000);
});
