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
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { useConfiguredServer } from '../support/configured-server.ts';
import { backupServer } from '../support/local-product.ts';

const SYNC_WAIT = { intervalSeconds: 2, timeoutSeconds: 900 };
const SNAPSHOT_WAIT = { intervalSeconds: 3, timeoutSeconds: 1_800 };
/** `rbp plans run web-nightly`, waited for, polling every second. */
const RUN_WEB_NIGHTLY = ['plans', 'run', 'web-nightly', '--wait', '--poll-interval', '1'];

const server = useConfiguredServer('server-settings', {
  serverId: 'web-01',
  hostname: 'web-01',
  settings: (volumeId) => [
    { serverId: 'web-01', syncWait: SYNC_WAIT, snapshotWait: SNAPSHOT_WAIT, volumeIds: [volumeId] },
  ],
});
const { deployment } = server;
const executionInput = async (backupId: string) => (await server.execution(backupId)).input;

describe("a configured server's waits", () => {
  it('are in the input of rbp backup start --server, and the backup succeeds', async () => {
    const backup = await backupServer<{ backupId: string; status: string }>(deployment.rbp, 'web-01');
    expect(backup.status).toBe('SUCCEEDED');
    expect(await executionInput(backup.backupId)).toEqual({
      syncWait: SYNC_WAIT,
      snapshotWait: SNAPSHOT_WAIT,
      serverId: 'web-01',
      volumeIds: [server.volumeId],
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
    const listed = await server.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
    );
    const task = (listed.executions ?? []).find((e) => e.name === `${run.runId}-t0`);
    expect(task?.status).toBe('SUCCEEDED');
    expect(await executionInput(`${run.runId}-t0`)).toEqual({
      syncWait: SYNC_WAIT,
      snapshotWait: SNAPSHOT_WAIT,
      serverId: 'web-01',
      volumeIds: [server.volumeId],
      trigger: 'plan:web-nightly',
    });
  }, 900_000);

  it('refuse a backup of web-01 once its configured volumeIds name a volume not tagged with it', async () => {
    const missing = 'vol-0ffffffffffffffff';
    await server.putSettings([
      {
        serverId: 'web-01',
        syncWait: SYNC_WAIT,
        snapshotWait: SNAPSHOT_WAIT,
        volumeIds: [server.volumeId, missing],
      },
    ]);
    const listed = [server.volumeId, missing].sort().join(', ');
    const message = `server web-01: the configuration lists ${listed}; the volumes tagged rbp:source-server=web-01 are ${server.volumeId} (${missing} not tagged)`;
    const before = await server.sfn.send(
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
    const after = await server.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
    );
    expect((after.executions ?? []).length).toBe((before.executions ?? []).length);
  }, 900_000);
});
