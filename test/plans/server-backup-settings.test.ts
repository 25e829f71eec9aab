/**
 * A configured server's probe and waits (lib/config.ts `servers[]`) reach its backups, on moto
 * through the local stack:
 *
 * - the port's contract (server-backup-settings.contract.ts) on the in-memory fake and on the
 *   DynamoDB adapter; the item the deployment writes (config-servers.ts: the low-level PutItem of
 *   attributeValues(serverSettingsItem(...)), as its custom resource sends it) is what the adapter
 *   reads, and an item that does not parse is a PermanentError;
 * - a plan task's backup (SfnPlanBackups.start) carries the server's settings in the execution
 *   input, over the deployment's input defaults; a server without settings gets the defaults only;
 * - `POST /backups {serverId}` (RecoveryPointService.startServerBackup) starts the server's backup
 *   with its settings; a server without settings starts without (backup-request.ts's defaults);
 * - a server's configured `volumeIds` that are not its volumes tagged rbp:source-server=<id>
 *   refuse both starts before anything starts (ServerVolumesMismatchError, one message naming both
 *   sides): `POST /backups` answers 400 with no lock taken and no execution, a plan task fails
 *   with the message as its reason; the same list in another order passes, and a server without
 *   a list (an item written before the field existed) is not checked.
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbServerBackupSettings,
  serverSettingsItem,
  serverSettingsKey,
} from '../../lambdas/aws/dynamodb-server-settings.ts';
import { SfnPlanBackups } from '../../lambdas/aws/plan-run-adapters.ts';
import {
  ServerVolumesMismatchError,
  type ServerBackupSettings,
} from '../../lambdas/core/orchestration/server-backup-settings.ts';
import { mapApiError } from '../../lambdas/core/api/api-errors.ts';
import type { ReplicaVolume } from '../../lambdas/core/api/record-directories.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRun } from '../../lambdas/core/plans/plan-run.ts';
import type { BackupStart, ServerDirectory } from '../../lambdas/core/plans/plan-ports.ts';
import { advancePlanRun, newPlanRun } from '../../lambdas/core/plans/run-engine.ts';
import type { ServerView } from '../../lambdas/core/plans/servers.ts';
import { RecoveryPointService } from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import { attributeValues } from '../../lib/constructs/config-writer.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { serverBackupSettingsContract } from '../contracts/server-backup-settings.contract.ts';
import { MemoryServerBackupSettings } from '../fakes/memory-server-settings.ts';
import { FixedClock, MemoryExecutions, MemoryLocks } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { createPassStateMachine } from '../support/stand-in-state-machines.ts';
import { FakePlanWorld, server } from './fake-plan-ports.ts';

const local = useLocalStack();
const TABLE = 'server-settings';
let documents: DynamoDBDocumentClient;
let dynamodb: DynamoDBClient;
let sfn: SFNClient;
let stateMachineArn: string;

/** A slow server on DRS: the operator's example of a sync that takes up to 2 h. */
const DB01: ServerBackupSettings = {
  serverId: 'db-01',
  probe: { kind: 'drs', sourceServerId: 's-0123456789abcdef0', maxLagSeconds: 120 },
  syncWait: { intervalSeconds: 60, timeoutSeconds: 7_200 },
  snapshotWait: { intervalSeconds: 120, timeoutSeconds: 43_200 },
};
const WEB01: ServerBackupSettings = {
  serverId: 'web-01',
  syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 },
};

const views: Record<string, ServerView> = {
  'db-01': server('db-01', {
    volumes: [
      { volumeId: 'vol-0000000000000000a', tags: { 'rbp:source-server': 'db-01' } },
      { volumeId: 'vol-0000000000000000b', tags: { 'rbp:source-server': 'db-01' } },
    ],
  }),
  'app-01': server('app-01', {
    volumes: [{ volumeId: 'vol-0000000000000000c', tags: { 'rbp:source-server': 'app-01' } }],
  }),
};
const directory: ServerDirectory = {
  list: () => Promise.resolve(Object.values(views)),
  get: (name) => Promise.resolve(views[name]),
};

/** Writes the item as config-servers.ts's custom resource does: one low-level PutItem. */
async function deployItem(settings: readonly ServerBackupSettings[]): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({ TableName: TABLE, Item: attributeValues(serverSettingsItem(settings)) }),
  );
}

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig(), TABLE);
  dynamodb = new DynamoDBClient(local.clientConfig());
  sfn = new SFNClient(local.clientConfig());
  stateMachineArn = await createPassStateMachine(
    sfn,
    'backup-under-test',
    'arn:aws:iam::123456789012:role/backup-under-test',
  );
});

const destroy: (() => void)[] = [];
afterAll(() => {
  destroy.forEach((d) => d());
  documents.destroy();
  dynamodb.destroy();
  sfn.destroy();
});

async function inputOf(backupId: string): Promise<unknown> {
  const described = await sfn.send(
    new DescribeExecutionCommand({
      executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${backupId}`,
    }),
  );
  return JSON.parse(described.input!);
}

/** web-01's replica volumes as the API lists them: vol-0b first (the backup's input names them sorted). */
const WEB01_REPLICAS: readonly ReplicaVolume[] = [
  { volumeId: 'vol-0b', serverId: 'web-01', device: '/dev/xvdb' },
  { volumeId: 'vol-0a', serverId: 'web-01', device: '/dev/xvda' },
];

/** The API's backup service over the deployed settings item, finding `replicas`. */
function apiService(
  executions: MemoryExecutions,
  locks: MemoryLocks,
  clock: FixedClock,
  replicas: readonly ReplicaVolume[] = WEB01_REPLICAS,
): RecoveryPointService {
  return new RecoveryPointService({
    points: new MemoryRecoveryPointStore(),
    replicas: { listReplicaVolumes: () => Promise.resolve(replicas) },
    executions,
    locks,
    jobs: new MemoryJobStore(),
    clock,
    serverSettings: new DynamoDbServerBackupSettings(documents, TABLE),
  });
}

function task(backupId: string, serverName: string): BackupStart {
  return { backupId, plan: 'nightly', runId: 'pr-9', taskIndex: 0, server: serverName, source: 'replica' };
}

serverBackupSettingsContract('in-memory', () => Promise.resolve(new MemoryServerBackupSettings()));

let made = 0;
serverBackupSettingsContract('DynamoDB on moto', async () => {
  made += 1;
  const name = `server-settings-contract-${made}`;
  const table = await createCatalogTable(local.clientConfig(), name);
  destroy.push(() => table.destroy());
  return new DynamoDbServerBackupSettings(table, name);
});

describe('DynamoDbServerBackupSettings', () => {
  it("reads the item as the deployment's custom resource writes it (low-level PutItem)", async () => {
    await deployItem([WEB01, DB01]);
    const store = new DynamoDbServerBackupSettings(documents, TABLE);
    expect(await store.get('db-01')).toEqual(DB01);
    expect(await store.get('web-01')).toEqual(WEB01);
    expect(await store.get('app-01')).toBeUndefined();
  });

  it('refuses an item that does not parse, naming it', async () => {
    const other = 'server-settings-broken';
    const broken = await createCatalogTable(local.clientConfig(), other);
    try {
      await dynamodb.send(
        new PutItemCommand({
          TableName: other,
          Item: attributeValues({
            ...serverSettingsKey(),
            formatVersion: 1,
            servers: '[{"serverId":"x","probe":{}}]',
          }),
        }),
      );
      await expect(new DynamoDbServerBackupSettings(broken, other).get('x')).rejects.toThrow(
        'the stored backup settings of the configured servers (SERVER-SETTINGS# CONFIG) do not parse',
      );
    } finally {
      broken.destroy();
    }
  });
});

describe("a plan task's backup (SfnPlanBackups.start)", () => {
  it("starts with the server's configured probe and waits, over the deployment's input defaults", async () => {
    await deployItem([WEB01, DB01]);
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory, {
      inputDefaults: { syncWait: { intervalSeconds: 1, timeoutSeconds: 600 }, full: false },
      serverSettings: new DynamoDbServerBackupSettings(documents, TABLE),
    });
    await backups.start(task('pr-9-t0', 'db-01'));
    await backups.start(task('pr-9-t1', 'app-01'));
    expect(await inputOf('pr-9-t0')).toEqual({
      syncWait: { intervalSeconds: 60, timeoutSeconds: 7_200 },
      full: false,
      probe: { kind: 'drs', sourceServerId: 's-0123456789abcdef0', maxLagSeconds: 120 },
      snapshotWait: { intervalSeconds: 120, timeoutSeconds: 43_200 },
      serverId: 'db-01',
      volumeIds: ['vol-0000000000000000a', 'vol-0000000000000000b'],
      trigger: 'plan:nightly',
    });
    expect(await inputOf('pr-9-t1')).toEqual({
      syncWait: { intervalSeconds: 1, timeoutSeconds: 600 },
      full: false,
      serverId: 'app-01',
      volumeIds: ['vol-0000000000000000c'],
      trigger: 'plan:nightly',
    });
  });
});

describe('POST /backups {serverId} (RecoveryPointService.startServerBackup)', () => {
  it("starts the server's backup with its configured probe and waits; a server without settings with none", async () => {
    await deployItem([WEB01, DB01]);
    const clock = new FixedClock();
    const executions = new MemoryExecutions(clock);
    const service = apiService(executions, new MemoryLocks(clock), clock, [
      ...WEB01_REPLICAS,
      { volumeId: 'vol-0c', serverId: 'app-01', device: '/dev/xvda' },
    ]);
    await service.startServerBackup({ backupId: 'bk-1', serverId: 'web-01', full: false, trigger: 'api:me' });
    await service.startServerBackup({ backupId: 'bk-2', serverId: 'app-01', full: true, trigger: 'api:me' });
    expect(JSON.parse(executions.executions.get('bk-1')!.input!)).toEqual({
      syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 },
      serverId: 'web-01',
      volumeIds: ['vol-0a', 'vol-0b'],
      full: false,
      trigger: 'api:me',
    });
    expect(JSON.parse(executions.executions.get('bk-2')!.input!)).toEqual({
      serverId: 'app-01',
      volumeIds: ['vol-0c'],
      full: true,
      trigger: 'api:me',
    });
  });
});

/** db-01's tagged volumes are …a and …b (`views` above); the configuration lists …a and …d. */
const DB01_MISLISTED: ServerBackupSettings = {
  ...DB01,
  volumeIds: ['vol-0000000000000000d', 'vol-0000000000000000a'],
};
const DB01_MISMATCH =
  'server db-01: the configuration lists vol-0000000000000000a, vol-0000000000000000d; the volumes tagged rbp:source-server=db-01 are vol-0000000000000000a, vol-0000000000000000b (vol-0000000000000000d not tagged; vol-0000000000000000b not listed)';

describe("a server's configured volumeIds against its tagged volumes", () => {
  it('a plan task whose server is tagged otherwise does not start: the message names both sides', async () => {
    await deployItem([WEB01, DB01_MISLISTED]);
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory, {
      serverSettings: new DynamoDbServerBackupSettings(documents, TABLE),
    });
    const refused = backups.start(task('pr-10-t0', 'db-01'));
    await expect(refused).rejects.toThrow(ServerVolumesMismatchError);
    await expect(refused).rejects.toThrow(DB01_MISMATCH);
    expect(await backups.progress('pr-10-t0')).toEqual({
      state: 'failed',
      errorName: 'NotFoundError',
      reason: 'backup pr-10-t0 was never started',
    });
  });

  it("is the plan task's failure reason; the backup never started", async () => {
    const settings = new MemoryServerBackupSettings();
    await settings.put([DB01_MISLISTED]);
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [views['db-01']!];
    const ports = {
      ...world.ports(),
      backups: new SfnPlanBackups(sfn, stateMachineArn, directory, { serverSettings: settings }),
    };
    let run: PlanRun = newPlanRun({
      runId: 'pr-11',
      plan: parsePlanDocument({ name: 'nightly', activities: [{ servers: 'db-01' }] }),
      trigger: 'schedule:nightly',
      startedAt: world.clock.now(),
    });
    for (let advances = 0; advances < 100; advances += 1) {
      const result = await advancePlanRun(run, ports);
      run = result.run;
      if (result.waitSeconds === undefined) break;
      world.clock.advance(result.waitSeconds);
    }
    expect(run.tasks.map((t) => [t.server, t.status, t.reason])).toEqual([
      ['db-01', 'Failed', `backup pr-11-t0 could not start: ${DB01_MISMATCH}`],
    ]);
    expect(await ports.backups.progress('pr-11-t0')).toMatchObject({ state: 'failed' });
  });

  it('a plan task whose list is the tagged set in another order starts with the settings', async () => {
    await deployItem([
      { ...DB01, volumeIds: ['vol-0000000000000000b', 'vol-0000000000000000a'] },
      { serverId: 'app-01', volumeIds: ['vol-0000000000000000c'] },
    ]);
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory, {
      serverSettings: new DynamoDbServerBackupSettings(documents, TABLE),
    });
    await backups.start(task('pr-12-t0', 'db-01'));
    await backups.start(task('pr-12-t1', 'app-01'));
    expect(await inputOf('pr-12-t0')).toEqual({
      probe: DB01.probe,
      syncWait: DB01.syncWait,
      snapshotWait: DB01.snapshotWait,
      serverId: 'db-01',
      volumeIds: ['vol-0000000000000000a', 'vol-0000000000000000b'],
      trigger: 'plan:nightly',
    });
    // A list alone puts nothing into the input: the run's volumes are the tagged ones.
    expect(await inputOf('pr-12-t1')).toEqual({
      serverId: 'app-01',
      volumeIds: ['vol-0000000000000000c'],
      trigger: 'plan:nightly',
    });
  });

  it('POST /backups {serverId} answers 400 naming both sides, before any lock or execution', async () => {
    await deployItem([{ ...WEB01, volumeIds: ['vol-0a'] }]);
    const clock = new FixedClock();
    const executions = new MemoryExecutions(clock);
    const locks = new MemoryLocks(clock);
    const error = await apiService(executions, locks, clock)
      .startServerBackup({ backupId: 'bk-3', serverId: 'web-01', full: false, trigger: 'api:me' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const message =
      'server web-01: the configuration lists vol-0a; the volumes tagged rbp:source-server=web-01 are vol-0a, vol-0b (vol-0b not listed)';
    expect(error).toBeInstanceOf(ServerVolumesMismatchError);
    expect(mapApiError(error)).toEqual({
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: {
        code: 'InvalidRequest',
        message,
        details: {
          serverId: 'web-01',
          configuredVolumeIds: 'vol-0a',
          taggedVolumeIds: 'vol-0a,vol-0b',
        },
      },
    });
    expect(executions.executions.size).toBe(0);
    expect(locks.locks.size).toBe(0);
  });

  it('POST /backups {serverId} with the listed volumes tagged starts; an item without lists checks nothing', async () => {
    await deployItem([{ ...WEB01, volumeIds: ['vol-0b', 'vol-0a'] }]);
    const clock = new FixedClock();
    const executions = new MemoryExecutions(clock);
    await apiService(executions, new MemoryLocks(clock), clock).startServerBackup({
      backupId: 'bk-4',
      serverId: 'web-01',
      full: false,
      trigger: 'api:me',
    });
    expect(JSON.parse(executions.executions.get('bk-4')!.input!)).toEqual({
      syncWait: WEB01.syncWait,
      serverId: 'web-01',
      volumeIds: ['vol-0a', 'vol-0b'],
      full: false,
      trigger: 'api:me',
    });
    // The item as a deployment before volumeIds wrote it: raw JSON without the field.
    await dynamodb.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: attributeValues({
          ...serverSettingsKey(),
          entity: 'server-backup-settings',
          formatVersion: 1,
          servers: JSON.stringify([{ serverId: 'web-01', syncWait: WEB01.syncWait }]),
        }),
      }),
    );
    await apiService(executions, new MemoryLocks(clock), clock).startServerBackup({
      backupId: 'bk-5',
      serverId: 'web-01',
      full: false,
      trigger: 'api:me',
    });
    expect(JSON.parse(executions.executions.get('bk-5')!.input!)).toMatchObject({
      volumeIds: ['vol-0a', 'vol-0b'],
    });
  });
});
