/**
 * Workflow schedules with the product deployed on the local stack (local/deploy.ts): a scheduled
 * workflow created through the API gets its schedule in the workflows' group, aimed at the
 * workflow-run state machine; when it is due the gateway's scheduler starts that state machine
 * with the workflow's input, and that run goes to its end: its record says Succeeded, and its
 * clone exists and holds the image's bytes. Delete removes the schedule.
 */
import '../support/quiet-powertools.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import type { WorkflowRunView } from '../../lambdas/core/workflows/workflow-run.ts';
import { useDeployedProduct } from '../support/local-product.ts';
import { useLocalClients } from '../support/local-stack.ts';
import { scheduleSummary } from '../support/schedules.ts';
import { snapshotBytes } from './snapshot-blocks.ts';

const deployment = useDeployedProduct('workflow-schedules-local');
const local = deployment.local;
const api = deployment.api;
const aws = useLocalClients(local);
const GROUP = 'rbp-local-workflows';
/** Time the gateway's scheduler gets to fire: one tick is a second; a loaded machine is slower. */
const FIRING_WAIT_MS = 30_000;
/** Time a backup or a run of the 1 MiB replica gets on a loaded machine (seconds when quiet). */
const STEP_WAIT_MS = 180_000;
/** The replica: 1 MiB (two EBS blocks) of a repeating pattern, so the clone has data to compare. */
const REPLICA_BYTES = 2 * EBS_BLOCK_SIZE_BYTES;

let scheduler: SchedulerClient;
let sfn: SFNClient;
let workDir: string;
let replicaBytes: Buffer;
let imageId: string;

async function waitFor<T>(what: string, look: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_WAIT_MS;
  for (;;) {
    const found = await look();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${STEP_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

beforeAll(async () => {
  scheduler = new SchedulerClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  workDir = deployment.work;
  replicaBytes = Buffer.alloc(REPLICA_BYTES);
  for (let i = 0; i < REPLICA_BYTES; i += 1) replicaBytes[i] = (i * 7 + (i >> 12)) & 0xff;
  await writeFile(join(workDir, 'web01.img'), replicaBytes);
  const { volumeId } = await local.stack.replicas.create({
    imagePath: join(workDir, 'web01.img'),
    serverId: 'web01',
  });
  // One committed image for the scheduled run to present.
  const started = await api<{ backupId: string }>('POST', '/backups', { volumeId });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  imageId = await waitFor(`backup ${started.body.backupId}`, async () => {
    const { body } = await api<{ status: string; imageId?: string }>(
      'GET',
      `/backups/${started.body.backupId}`,
    );
    if (body.status === 'RUNNING' || body.status === 'PENDING') return undefined;
    expect(body.status, JSON.stringify(body)).toBe('SUCCEEDED');
    return body.imageId!;
  });
}, 300_000);

afterAll(() => {
  scheduler.destroy();
  sfn.destroy();
});

describe('workflow schedules on the deployed local stack', () => {
  it('a scheduled workflow gets its schedule; a due firing starts a run that completes with a clone equal to the image; delete removes the schedule', async () => {
    const created = await api('POST', '/workflows', {
      name: 'minutely',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'scheduled', expression: 'rate(1 minute)', timeZone: 'Europe/Berlin' },
      target: { region: 'us-east-1' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const schedule = await scheduler.send(new GetScheduleCommand({ Name: 'wf-minutely', GroupName: GROUP }));
    expect(scheduleSummary(schedule)).toEqual({
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
    // Disabled once the execution's first step has recorded its run (a disabled workflow's runs are
    // refused, so disabling before that step ran would refuse this run too), so that the next
    // minute's firing cannot start a second run that replaces this one.
    await waitFor('the scheduled run record', async () => {
      const { body } = await api<{ items: WorkflowRunView[] }>('GET', '/workflows/minutely/runs');
      return body.items.find((r) => r.trigger === 'schedule:wf-minutely');
    });
    const current = await api<{ document: Record<string, unknown> }>('GET', '/workflows/minutely');
    const disabled = await api('PUT', '/workflows/minutely', { ...current.body.document, enabled: false });
    expect(disabled.status, JSON.stringify(disabled.body)).toBe(200);

    // The scheduled execution records its run (trigger schedule:wf-minutely) and takes it to its
    // end: the clone exists and holds the image's bytes.
    const run = await waitFor('the scheduled run', async () => {
      const { body } = await api<{ items: WorkflowRunView[] }>('GET', '/workflows/minutely/runs');
      const found = body.items.find((r) => r.trigger === 'schedule:wf-minutely');
      return found !== undefined && found.status !== 'Running' ? found : undefined;
    });
    expect({
      status: run.status,
      reason: run.reason,
      trigger: run.trigger,
      imageIds: run.imageIds,
      snapshots: run.snapshotIds.length,
    }).toEqual({
      status: 'Succeeded',
      reason: undefined,
      trigger: 'schedule:wf-minutely',
      imageIds: [imageId],
      snapshots: 1,
    });
    expect((await snapshotBytes(aws.ebs, run.snapshotIds[0]!, REPLICA_BYTES)).equals(replicaBytes)).toBe(
      true,
    );
    const listed = await api<{ items: WorkflowRunView[] }>('GET', '/workflows/minutely/runs');
    expect(listed.body.items.map((r) => r.runId)).toEqual([run.runId]);
    const ended = await waitFor('the scheduled execution', async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn: firing.detail }));
      return described.status === 'RUNNING' ? undefined : described;
    });
    expect(ended.status).toBe('SUCCEEDED');

    expect((await api('DELETE', '/workflows/minutely')).status).toBe(200);
    await expect(
      scheduler.send(new GetScheduleCommand({ Name: 'wf-minutely', GroupName: GROUP })),
    ).rejects.toThrow();
  }, 400_000);
});
