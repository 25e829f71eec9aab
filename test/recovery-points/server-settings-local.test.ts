/**
 * A configured server's waits and volume list reach its backups end to end, on the local stack
 * with the real API, plan-run function, backup state machine and handlers: the item the deployment
 * writes (config-servers.ts; here put with the adapter, the local stack has no CloudFormation)
 * holds web-01's syncWait, snapshotWait and volumeIds (its one tagged volume), and
 *
 * - `rbp backup start --server web-01` runs a backup whose execution input carries them, and it
 *   succeeds (Acquire Lock accepts them; the waits poll at the configured intervals);
 * - a plan task's backup of web-01 (`rbp plans run`) carries them over the local stack's input
 *   defaults (local/plan-run-deploy.ts LOCAL_PLAN_BACKUP_INPUT), and succeeds;
 * - once the item lists a volume that is not tagged rbp:source-server=web-01, both are refused
 *   before any backup starts: `rbp backup start --server` exits 5 with the message naming both
 *   sides, and the plan task fails with it as its reason (no execution of its backup).
 */
import '../support/quiet-powertools.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbServerBackupSettings } from '../../lambdas/aws/dynamodb-server-settings.ts';
import { backupServer, useDeployedProduct } from '../support/local-product.ts';

const deployment = useDeployedProduct('server-settings', { handlerEnv: { RANGE_WORKERS: '2' } });
let sfn: SFNClient;
let documents: DynamoDBDocumentClient;
let volumeId: string;

const SYNC_WAIT = { intervalSeconds: 2, timeoutSeconds: 900 };
const SNAPSHOT_WAIT = { intervalSeconds: 3, timeoutSeconds: 1_800 };
/** `rbp plans run web-nightly`, waited for, polling every second. */
const RUN_WEB_NIGHTLY = ['plans', 'run', 'web-nightly', '--wait', '--poll-interval', '1'];

beforeAll(async () => {
  sfn = new SFNClient(deployment.local.clientConfig({ maxAttempts: 3 }));
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient(deployment.local.clientConfig({ maxAttempts: 3 })),
  );
  ({ volumeId } = await deployment.makeReplica(
    'root',
    { 'etc/hostname': 'web-01\n' },
    { serverId: 'web-01', device: '/dev/xvda' },
  ));
  await new DynamoDbServerBackupSettings(documents, deployment.product.names.table).put([
    { serverId: 'web-01', syncWait: SYNC_WAIT, snapshotWait: SNAPSHOT_WAIT, volumeIds: [volumeId] },
  ]);
}, 300_000);

afterAll(() => {
  sfn.destroy();
  documents.destroy();
});

async function executionInput(backupId: string): Promise<unknown> {
  const arn = deployment.product.stateMachineArn;
  const described = await sfn.send(
    new DescribeExecutionCommand({
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${backupId}`,
    }),
  );
  return JSON.parse(described.input!);
}

describe("a configured server's waits", () => {
  it('are in the input of rbp backup start --server, and the backup succeeds', async () => {
    const backup = await backupServer<{ backupId: string; status: string }>(deployment.rbp, 'web-01');
    expect(backup.status).toBe('SUCCEEDED');
    expect(await executionInput(backup.backupId)).toEqual({
      syncWait: SYNC_WAIT,
      snapshotWait: SNAPSHOT_WAIT,
      serverId: 'web-01',
      volumeIds: [volumeId],
      full: false,
      trigger: 'api:arn:aws:iam::123456789012:user/local',
    });
  }, 900_000);

  it("are in the input of a plan task's backup, over the local input defaults, and the task succeeds", async () => {
    const file = join(deployment.work, 'plan.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'web-nightly',
        schedules: [{ expression: 'cron(0 2 * * ? *)', timeZone: 'UTC' }],
        activities: [{ servers: 'web-01', source: 'replica-only' }],
      }),
    );
    await deployment.rbp.json('plans', 'create', '--file', file);
    const run = await deployment.rbp.json<{ status: string; runId: string }>(...RUN_WEB_NIGHTLY);
    expect(run.status).toBe('Succeeded');
    const listed = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
    );
    const task = (listed.executions ?? []).find((e) => e.name === `${run.runId}-t0`);
    expect(task?.status).toBe('SUCCEEDED');
    expect(await executionInput(`${run.runId}-t0`)).toEqual({
      syncWait: SYNC_WAIT,
      snapshotWait: SNAPSHOT_WAIT,
      serverId: 'web-01',
      volumeIds: [volumeId],
      trigger: 'plan:web-nightly',
    });
  }, 900_000);

  it('refuse a backup of web-01 once its configured volumeIds name a volume not tagged with it', async () => {
    const missing = 'vol-0ffffffffffffffff';
    await new DynamoDbServerBackupSettings(documents, deployment.product.names.table).put([
      {
        serverId: 'web-01',
        syncWait: SYNC_WAIT,
        snapshotWait: SNAPSHOT_WAIT,
        volumeIds: [volumeId, missing],
      },
    ]);
    const listed = [volumeId, missing].sort().join(', ');
    const message = `server web-01: the configuration lists ${listed}; the volumes tagged rbp:source-server=web-01 are ${volumeId} (${missing} not tagged)`;
    const before = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
    );
    const started = await deployment.rbp('backup', 'start', '--server', 'web-01', '--json');
    expect(started.code).toBe(5);
    expect(started.stderr).toContain(message);
    const run = await deployment.rbp(...RUN_WEB_NIGHTLY, '--json');
    expect(run.code).toBe(8);
    const view = JSON.parse(run.stdout) as { runId: string; tasks: { status: string; reason?: string }[] };
    expect(view.tasks.map((t) => [t.status, t.reason])).toEqual([
      ['Failed', `backup ${view.runId}-t0 could not start: ${message}`],
    ]);
    const after = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
    );
    expect((after.executions ?? []).length).toBe((before.executions ?? []).length);
  }, 900_000);
});
