/**
 * Smoke test of the real backup ASL in moto's Step Functions interpreter, through the local
 * gateway, with the real handlers (orchestration and engine) registered as in-process Lambdas: a
 * full backup of a replica, then an incremental after a write, two backups started together, and a
 * replica that never reaches the checkpoint. The product is deployed by local/deploy.ts; the
 * replication agent is the local stack's simulator, which answers the `Checkpoint Requested` events
 * by itself (switched off for the never-syncs case).
 */
import '../support/quiet-powertools.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand, type DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { deployProduct } from '../../local/deploy.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 300 });
let TABLE: string;

let sfn: SFNClient;
let workDir: string;
let volumeId: string;
let stateMachineArn: string;
const savedEnv = { ...process.env };

/** Two minutes for a backup of this 4 MiB replica (each test here allows itself 120 to 240 s). */
const BACKUP_WAIT: ExecutionWait = { timeoutMs: 120_000, pollMs: 200 };

async function runBackup(name: string, syncTimeoutSeconds = 60): Promise<DescribeExecutionCommandOutput> {
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name,
      input: JSON.stringify({
        volumeIds: [volumeId],
        syncWait: { intervalSeconds: 1, timeoutSeconds: syncTimeoutSeconds },
        snapshotWait: { intervalSeconds: 1, timeoutSeconds: 120 },
      }),
    }),
  );
  return executionEnded(sfn, started.executionArn!, BACKUP_WAIT);
}

beforeAll(async () => {
  const stack = local.stack;
  const product = await deployProduct(stack, { handlerEnv: { RANGE_WORKERS: '2' } });
  TABLE = product.names.table;
  stateMachineArn = product.stateMachineArn;
  sfn = new SFNClient(local.clientConfig({ maxAttempts: 3 }));

  workDir = await mkdtemp(join(tmpdir(), 'rbp-asl-e2e-'));
  const image = Buffer.alloc(GIB_BYTES / 256); // 4 MiB of a sparse replica
  image.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
  await writeFile(join(workDir, 'disk.img'), image);
  volumeId = (await stack.replicas.create({ imagePath: join(workDir, 'disk.img') })).volumeId;
}, 120_000);

afterAll(async () => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('backup.asl.json in moto through the local gateway', () => {
  it('runs a full backup, then an incremental after a write, keeping one base snapshot', async () => {
    expect(local.stack.agent.agentSettings()).toEqual({ autoCheckpoint: true, answerDelayMs: 0 });
    const config = local.clientConfig({ maxAttempts: 3 });
    const ddb = new DynamoDBClient(config);
    const ec2 = new EC2Client(config);

    const first = await runBackup('e2e-full');
    expect({ status: first.status, error: first.error, cause: first.cause }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
      cause: undefined,
    });
    const firstOutput = JSON.parse(first.output!) as {
      volumes: { kind: string; imageId: string }[];
      image: { result: { imageId: string } };
      recoveryPoint: { result: { recoveryPointId: string; imageIds: string[] } };
    };
    expect(firstOutput.volumes.map((v) => [v.kind, v.imageId])).toEqual([['full', 'img-e2e-full']]);
    expect(firstOutput.image.result.imageId).toBe('img-e2e-full');
    expect(firstOutput.recoveryPoint.result).toMatchObject({
      recoveryPointId: 'rp-e2e-full',
      imageIds: ['img-e2e-full'],
    });
    // The simulated agent answered the request by itself and the backup released the checkpoint.
    expect(local.stack.agent.actions().map((a) => [a.event, a.checkpointId, a.volumeIds, a.action])).toEqual([
      ['Checkpoint Requested', 'e2e-full-r1', [volumeId], 'reported'],
      ['Checkpoint Released', 'e2e-full-r1', [volumeId], 'released'],
    ]);
    expect(local.stack.agent.heldCheckpoints()).toEqual([]);

    await local.stack.agent.write(
      volumeId,
      5 * EBS_BLOCK_SIZE_BYTES,
      new TextEncoder().encode('second version'),
    );
    const second = await runBackup('e2e-incremental');
    expect({ status: second.status, cause: second.cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });
    const secondOutput = JSON.parse(second.output!) as { volumes: { kind: string; imageId: string }[] };
    expect(secondOutput.volumes.map((v) => [v.kind, v.imageId])).toEqual([
      ['incremental', 'img-e2e-incremental'],
    ]);

    const images = await ddb.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :image)',
        ExpressionAttributeValues: { ':pk': { S: `VOLUME#${volumeId}` }, ':image': { S: 'IMAGE#' } },
      }),
    );
    expect(images.Items?.map((i) => i['imageId']?.S)).toEqual(['img-e2e-full', 'img-e2e-incremental']);
    const lock = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `LOCK#${volumeId}` }, sk: { S: 'LOCK' } } }),
    );
    expect(lock.Item).toBeUndefined();
    const snapshots = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:rbp:volume-id', Values: [volumeId] }],
      }),
    );
    expect(snapshots.Snapshots?.map((s) => s.Tags?.find((t) => t.Key === 'rbp:role')?.Value)).toEqual([
      'base',
    ]);
    expect(snapshots.Snapshots?.[0]?.Tags?.find((t) => t.Key === 'rbp:backup-id')?.Value).toBe(
      'e2e-incremental',
    );
  }, 240_000);

  it('two backups of one volume started together: exactly one runs, the other is refused naming the holder', async () => {
    const [a, b] = await Promise.all([runBackup('e2e-race-a'), runBackup('e2e-race-b')]);
    const outcomes = [a, b].map((e) => ({ name: e.name, status: e.status, error: e.error, cause: e.cause }));
    const succeeded = outcomes.filter((o) => o.status === 'SUCCEEDED');
    const refused = outcomes.filter((o) => o.status === 'FAILED');
    expect(succeeded).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toBe('BackupAlreadyRunning');
    expect(refused[0]!.cause).toMatch(
      new RegExp(
        `^volume ${volumeId} is being backed up by ${succeeded[0]!.name} \\(lock held until .*\\); backup ${refused[0]!.name} was not started$`,
      ),
    );
  }, 240_000);

  it('a replica that never reaches the checkpoint: ReplicaNotInSync, lock released, no snapshot, nothing committed', async () => {
    const config = local.clientConfig({ maxAttempts: 3 });
    const ddb = new DynamoDBClient(config);
    const ec2 = new EC2Client(config);
    local.stack.agent.setAutoCheckpoint(false);
    const failed = await runBackup('e2e-silent-1', 3).finally(() =>
      local.stack.agent.setAutoCheckpoint(true),
    );
    expect({ status: failed.status, error: failed.error }).toEqual({
      status: 'FAILED',
      error: 'ReplicaNotInSync',
    });
    expect(failed.cause).toMatch(
      new RegExp(
        `^replica not in sync at checkpoint e2e-silent-1-r1 by .*: ${volumeId}: replica reports checkpoint \\S+, waiting for e2e-silent-1-r1$`,
      ),
    );
    const lock = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `LOCK#${volumeId}` }, sk: { S: 'LOCK' } } }),
    );
    expect(lock.Item).toBeUndefined();
    expect(local.stack.agent.actions().filter((a) => a.checkpointId === 'e2e-silent-1-r1')).toEqual([
      {
        event: 'Checkpoint Requested',
        checkpointId: 'e2e-silent-1-r1',
        volumeIds: [volumeId],
        action: 'ignored',
      },
    ]);
    const mine = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:rbp:backup-id', Values: ['e2e-silent-1'] }],
      }),
    );
    expect(mine.Snapshots).toEqual([]);
    const image = await ddb.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: `VOLUME#${volumeId}` }, sk: { S: 'IMAGEID#img-e2e-silent-1' } },
      }),
    );
    expect(image.Item).toBeUndefined();
  }, 120_000);
});
