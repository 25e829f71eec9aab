/**
 * Protection plans deployed on the local stack (local/deploy.ts, as `rbp local serve` does): the
 * API function is given the plan environment, so `rbp plans create --file` with the example of
 * docs/plans.md, `rbp plans ls`, `rbp servers ls` and `rbp settings show|set` work through the
 * gateway against moto (DynamoDB, EventBridge Scheduler, EC2 volume tags).
 */
import '../support/quiet-powertools.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDeployedProduct } from '../support/local-product.ts';
import { scheduleSummary } from '../support/schedules.ts';
import { docsExample, type CliResult } from './plan-fixtures.ts';

const deployment = useDeployedProduct('plans-local', { snapshotCompletionDelayMs: 200 });
const local = deployment.local;
/** The scheduler ticks every second; the run's function starts in process; a loaded machine is slower. */
const SCHEDULED_RUN_WAIT_MS = 60_000;
let workDir: string;

function rbp(args: string[]): Promise<CliResult> {
  return deployment.rbp(...args);
}

beforeAll(async () => {
  workDir = deployment.work;
  const image = join(workDir, 'disk.img');
  await writeFile(image, Buffer.alloc(1024 * 1024));
  const ec2 = new EC2Client(local.clientConfig({ maxAttempts: 3 }));
  for (const server of ['QA1', 'QA2', 'TEST8']) {
    const { volumeId } = await local.stack.replicas.create({ imagePath: image, serverId: server });
    if (server === 'TEST8') {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: [{ Key: 'rbp:applications', Value: 'DOMAIN1,DOMAIN2,OTHER' }],
        }),
      );
    }
  }
  ec2.destroy();
}, 120_000);

describe('plans on the local stack', () => {
  it('creates the docs example with its schedule, lists it, lists servers with the plans selecting them', async () => {
    const file = join(workDir, 'nightly-qa.json');
    await writeFile(file, await docsExample());
    const created = await rbp(['plans', 'create', '--file', file, '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'nightly-qa', enabled: true, revision: 1 });

    // The schedule is in moto's EventBridge Scheduler, in the deployment's group, starting the plan-run machine.
    const scheduler = new SchedulerClient(local.clientConfig());
    const schedule = await scheduler.send(
      new GetScheduleCommand({ Name: 'nightly-qa--0', GroupName: deployment.product.names.scheduleGroup }),
    );
    scheduler.destroy();
    expect(scheduleSummary(schedule)).toEqual({
      expression: 'cron(0 1 * * ? *)',
      timeZone: 'Europe/Berlin',
      state: 'ENABLED',
      target: `arn:aws:states:us-east-1:123456789012:stateMachine:${deployment.product.names.planRunStateMachine}`,
      input: { plan: 'nightly-qa', trigger: 'schedule:nightly-qa--0' },
    });

    const again = await rbp(['plans', 'create', '--file', file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('plan nightly-qa already exists');

    const listed = await rbp(['plans', 'ls', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((p) => p.name)).toEqual(['nightly-qa']);

    const servers = await rbp(['servers', 'ls', '--json']);
    expect(servers.stderr).toBe('');
    expect(
      (JSON.parse(servers.stdout) as { name: string; applications: string[]; plans: string[] }[]).map((s) => [
        s.name,
        s.applications,
        s.plans,
      ]),
    ).toEqual([
      ['QA1', [], ['nightly-qa']],
      ['QA2', [], ['nightly-qa']],
      ['TEST8', ['DOMAIN1', 'DOMAIN2', 'OTHER'], ['nightly-qa']],
    ]);
  }, 180_000);

  it('switches all backups off and on with rbp settings', async () => {
    const shown = await rbp(['settings', 'show', '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({ formatVersion: 1, backupsEnabled: true });

    const off = await rbp(['settings', 'set', '--backups', 'disabled', '--json']);
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ formatVersion: 1, backupsEnabled: false });
    const after = await rbp(['settings', 'show']);
    expect(after.stdout).toContain('backups  disabled');

    const on = await rbp(['settings', 'set', '--backups', 'enabled', '--json']);
    expect(JSON.parse(on.stdout)).toMatchObject({ backupsEnabled: true });
  }, 120_000);

  it('a plan scheduled rate(1 minute) really runs, and a scheduled run while backups are off records that it was stopped', async () => {
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const answer = await deployment.api<T>(method, path, body);
      expect(answer.status, path).toBeLessThan(300);
      return answer.body;
    };
    await api('PUT', '/settings', { backupsEnabled: false });
    try {
      await api('POST', '/plans', {
        name: 'every-minute',
        schedules: [{ expression: 'rate(1 minute)', timeZone: 'UTC' }],
        activities: [{ servers: 'QA1' }],
      });
      // A rate schedule fires at its start: the gateway's scheduler (one tick a second) starts the
      // plan-run state machine with the schedule's input; the run stops at its first check.
      type Runs = {
        items: { runId: string; trigger: string; status: string; stoppedBy?: string; reason?: string }[];
      };
      let runs: Runs['items'] = [];
      for (let waited = 0; waited < SCHEDULED_RUN_WAIT_MS; waited += 1_000) {
        runs = (await api<Runs>('GET', '/plans/every-minute/runs')).items;
        if (runs.some((r) => r.status !== 'Running')) break;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      expect(runs.map((r) => [r.trigger, r.status, r.stoppedBy])).toEqual([
        ['schedule:every-minute--0', 'Stopped', 'BackupsDisabled'],
      ]);
      expect(runs[0]!.reason).toContain('disabled');
      expect(local.stack.gateway.scheduler?.firings().map((f) => [f.schedule, f.outcome])).toContainEqual([
        `${deployment.product.names.scheduleGroup}/every-minute--0`,
        'started',
      ]);
    } finally {
      await api('DELETE', '/plans/every-minute');
      await api('PUT', '/settings', { backupsEnabled: true });
    }
  }, 180_000);
});
