/**
 * Error paths of the orchestration adapters that no emulator produces: EC2's snapshot limits,
 * DynamoDB transaction cancellations and conflicts, EventBridge partial failures, DRS mapping.
 * The adapters only call `client.send(command)`, so a small stub that answers per command class
 * stands in for the SDK (aws-sdk-client-mock 4.1's types do not match these SDK versions).
 */
import type { DrsClient } from '@aws-sdk/client-drs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ConflictError,
  RetryableError,
  ThrottledError,
} from '../../lambdas/core/errors.ts';
import {
  BackupAlreadyRunningError,
  LockContentionError,
  SnapshotLimitExceededError,
} from '../../lambdas/core/orchestration/orchestration-errors.ts';
import { DrsReplication } from '../../lambdas/aws/drs-replication.ts';
import { DynamoDbBackupLockStore } from '../../lambdas/aws/dynamodb-backup-lock.ts';
import { Ec2ReplicaSnapshots } from '../../lambdas/aws/ec2-replica-snapshots.ts';
import { translateSdkError } from '../../lambdas/aws/sdk-errors.ts';
import { EventBridgePublisher } from '../../lambdas/aws/outcome-publishers.ts';
import { lockItemsFor } from '../../lambdas/core/orchestration/backup-lock.ts';

function sdkError(name: string, status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: { httpStatusCode: status },
    ...extra,
  });
}

type Command = { constructor: { name: string }; input: Record<string, unknown> };
type Responder = (command: Command) => unknown;

/** A client whose send() answers with the first responder registered for the command's class. */
function stubClient<T>(responders: Record<string, Responder>) {
  const calls: Command[] = [];
  const client = {
    send: async (command: Command): Promise<unknown> => {
      await Promise.resolve();
      calls.push(command);
      const respond = responders[command.constructor.name];
      if (respond === undefined) throw new Error(`unexpected ${command.constructor.name}`);
      return respond(command);
    },
  };
  return {
    client: client as unknown as T,
    calls,
    inputs: (name: string) => calls.filter((c) => c.constructor.name === name).map((c) => c.input),
  };
}

const now = new Date('2026-02-01T00:00:00.000Z');
const clock = { now: () => now };

describe('Ec2ReplicaSnapshots', () => {
  it.each(['ConcurrentSnapshotLimitExceeded', 'SnapshotCreationPerVolumeRateExceeded'])(
    'turns %s into SnapshotLimitExceededError (retried by the state machine)',
    async (code) => {
      const { client } = stubClient<EC2Client>({
        CreateSnapshotCommand: () => {
          throw sdkError(code, 400);
        },
      });
      const error = await new Ec2ReplicaSnapshots(client)
        .createSnapshot('vol-1', { 'rbp:managed': 'true' }, 'd')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SnapshotLimitExceededError);
      expect((error as Error).message).toBe(`CreateSnapshot of vol-1 refused: ${code}`);
    },
  );

  it('sends the tags with CreateSnapshot and maps the answer', async () => {
    const { client, inputs } = stubClient<EC2Client>({
      CreateSnapshotCommand: () => ({
        SnapshotId: 'snap-1',
        VolumeId: 'vol-1',
        State: 'pending',
        StartTime: now,
        VolumeSize: 8,
      }),
    });
    const view = await new Ec2ReplicaSnapshots(client).createSnapshot(
      'vol-1',
      { 'rbp:managed': 'true', 'rbp:role': 'pending' },
      'why',
    );
    expect(view).toEqual({
      snapshotId: 'snap-1',
      volumeId: 'vol-1',
      state: 'pending',
      startTime: '2026-02-01T00:00:00.000Z',
      volumeSizeGib: 8,
      tags: { 'rbp:managed': 'true', 'rbp:role': 'pending' },
    });
    expect(inputs('CreateSnapshotCommand')).toEqual([
      {
        VolumeId: 'vol-1',
        Description: 'why',
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: [
              { Key: 'rbp:managed', Value: 'true' },
              { Key: 'rbp:role', Value: 'pending' },
            ],
          },
        ],
      },
    ]);
  });

  it('treats a deleted snapshot as absent, an in-use one as a conflict, throttling as retryable', async () => {
    const codes: Record<string, [string, number]> = {
      'snap-gone': ['InvalidSnapshot.NotFound', 400],
      'snap-ami': ['InvalidSnapshot.InUse', 400],
      'snap-busy': ['RequestLimitExceeded', 503],
    };
    const { client } = stubClient<EC2Client>({
      DeleteSnapshotCommand: (command) => {
        const [code, status] = codes[command.input['SnapshotId'] as string]!;
        throw sdkError(code, status);
      },
    });
    const adapter = new Ec2ReplicaSnapshots(client);
    expect(await adapter.deleteSnapshot('snap-gone')).toBe('absent');
    await expect(adapter.deleteSnapshot('snap-ami')).rejects.toThrow(ConflictError);
    await expect(adapter.deleteSnapshot('snap-busy')).rejects.toThrow(ThrottledError);
  });

  it('describes snapshots one by one when one of them no longer exists', async () => {
    const { client, inputs } = stubClient<EC2Client>({
      DescribeSnapshotsCommand: (command) => {
        const ids = command.input['SnapshotIds'] as string[];
        if (ids.includes('snap-a')) throw sdkError('InvalidSnapshot.NotFound', 400);
        return { Snapshots: [{ SnapshotId: 'snap-b', VolumeId: 'vol-1', State: 'completed' }] };
      },
    });
    const views = await new Ec2ReplicaSnapshots(client).describeSnapshots(['snap-a', 'snap-b']);
    expect(views.map((v) => [v.snapshotId, v.state])).toEqual([['snap-b', 'completed']]);
    expect(inputs('DescribeSnapshotsCommand')).toEqual([
      { SnapshotIds: ['snap-a', 'snap-b'] },
      { SnapshotIds: ['snap-a'] },
      { SnapshotIds: ['snap-b'] },
    ]);
  });
});

describe('DynamoDbBackupLockStore', () => {
  const locks = lockItemsFor(
    { volumeIds: ['vol-a', 'vol-b'], ownerId: 'arn:me', backupId: 'me', ttlSeconds: 60 },
    now,
  );
  const lockStore = (responders: Record<string, Responder>) => {
    const stub = stubClient<DynamoDBDocumentClient>(responders);
    return { ...stub, store: new DynamoDbBackupLockStore(stub.client, 'table', clock) };
  };

  it('writes every lock in one transaction, each conditional on free, expired, released or ours', async () => {
    const { store, inputs } = lockStore({ TransactWriteCommand: () => ({}) });
    await store.acquire(locks);
    const [input] = inputs('TransactWriteCommand') as [{ TransactItems: { Put: unknown }[] }];
    expect(input.TransactItems).toHaveLength(2);
    expect(input.TransactItems[0]!.Put).toEqual({
      TableName: 'table',
      Item: {
        pk: 'LOCK#vol-a',
        sk: 'LOCK',
        entity: 'lock',
        volumeId: 'vol-a',
        ownerId: 'arn:me',
        backupId: 'me',
        acquiredAt: '2026-02-01T00:00:00.000Z',
        expiresAt: '2026-02-01T00:01:00.000Z',
        ttl: Date.parse('2026-02-01T00:01:00.000Z') / 1000,
      },
      ConditionExpression:
        'attribute_not_exists(pk) OR ownerId = :owner OR expiresAt <= :now OR released = :released',
      ExpressionAttributeValues: {
        ':owner': 'arn:me',
        ':now': '2026-02-01T00:00:00.000Z',
        ':released': true,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('names the holder from the cancellation reason, or reads it when the reason has no item', async () => {
    const withItem = lockStore({
      TransactWriteCommand: () => {
        throw sdkError('TransactionCanceledException', 400, {
          CancellationReasons: [
            { Code: 'None' },
            {
              Code: 'ConditionalCheckFailed',
              Item: {
                ownerId: { S: 'arn:other' },
                backupId: { S: 'other' },
                expiresAt: { S: '2026-02-02T00:00:00.000Z' },
              },
            },
          ],
        });
      },
    });
    const refused = await withItem.store.acquire(locks).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackupAlreadyRunningError);
    expect((refused as Error).message).toBe(
      'volume vol-b is being backed up by other (lock held until 2026-02-02T00:00:00.000Z); backup me was not started',
    );
    const withoutItem = lockStore({
      TransactWriteCommand: () => {
        throw sdkError('TransactionCanceledException', 400, {
          CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
        });
      },
      GetCommand: () => ({
        Item: { ownerId: 'arn:x', backupId: 'x', expiresAt: '2026-02-03T00:00:00.000Z' },
      }),
    });
    await expect(withoutItem.store.acquire(locks)).rejects.toThrow(
      'volume vol-a is being backed up by x (lock held until 2026-02-03T00:00:00.000Z); backup me was not started',
    );
    expect(withoutItem.inputs('GetCommand')).toEqual([
      { TableName: 'table', Key: { pk: 'LOCK#vol-a', sk: 'LOCK' }, ConsistentRead: true },
    ]);
  });

  it('reports a transaction conflict as LockContentionError (retryable) and other failures by class', async () => {
    const conflict = lockStore({
      TransactWriteCommand: () => {
        throw sdkError('TransactionCanceledException', 400, {
          CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
        });
      },
    });
    await expect(conflict.store.acquire(locks)).rejects.toThrow(LockContentionError);
    const denied = lockStore({
      TransactWriteCommand: () => {
        throw sdkError('AccessDeniedException', 400);
      },
    });
    await expect(denied.store.acquire(locks)).rejects.toThrow(AccessDeniedError);
  });

  it('releases only its own locks: a refused conditional delete is not ours and not an error', async () => {
    const { store, inputs } = lockStore({
      DeleteCommand: (command) => {
        if ((command.input['Key'] as { pk: string }).pk === 'LOCK#vol-b')
          throw sdkError('ConditionalCheckFailedException', 400);
        return {};
      },
    });
    expect(await store.release(['vol-a', 'vol-b'], 'arn:me')).toEqual({ released: 1 });
    expect(inputs('DeleteCommand')[0]).toEqual({
      TableName: 'table',
      Key: { pk: 'LOCK#vol-a', sk: 'LOCK' },
      ConditionExpression: 'ownerId = :owner',
      ExpressionAttributeValues: { ':owner': 'arn:me' },
    });
  });
});

describe('EventBridgePublisher', () => {
  it('puts one event with the product source and fails retryably on a refused entry', async () => {
    const answers = [
      { FailedEntryCount: 0, Entries: [{ EventId: '1' }] },
      { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] },
    ];
    const { client, inputs } = stubClient<EventBridgeClient>({ PutEventsCommand: () => answers.shift() });
    const publisher = new EventBridgePublisher(client, 'default');
    await publisher.publish('Checkpoint Requested', { checkpointId: 'c' });
    expect(inputs('PutEventsCommand')).toEqual([
      {
        Entries: [
          {
            EventBusName: 'default',
            Source: 'rbp.backup',
            DetailType: 'Checkpoint Requested',
            Detail: '{"checkpointId":"c"}',
          },
        ],
      },
    ]);
    const error = await publisher.publish('Backup Failed', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toBe(
      'PutEvents refused the Backup Failed event: InternalFailure try again',
    );
  });
});

describe('DrsReplication', () => {
  it('maps the replication view of the source server, and reports an unknown server as undefined', async () => {
    const server = {
      sourceServerID: 's-1234567890abcdef0',
      dataReplicationInfo: {
        dataReplicationState: 'CONTINUOUS',
        lagDuration: 'PT2S',
        replicatedDisks: [{ deviceName: '/dev/sda', backloggedStorageBytes: 0 }],
      },
      lifeCycle: { lastSeenByServiceDateTime: '2026-02-01T00:00:00Z' },
    };
    const { client, inputs } = stubClient<DrsClient>({
      DescribeSourceServersCommand: (command) => {
        const [id] = (command.input['filters'] as { sourceServerIDs: string[] }).sourceServerIDs;
        return { items: id === server.sourceServerID ? [server] : [] };
      },
    });
    const adapter = new DrsReplication(client);
    expect(await adapter.sourceServer('s-1234567890abcdef0')).toEqual({
      sourceServerId: 's-1234567890abcdef0',
      dataReplicationState: 'CONTINUOUS',
      lagDuration: 'PT2S',
      replicatedDisks: [{ deviceName: '/dev/sda', backloggedStorageBytes: 0 }],
      lastSeenByServiceDateTime: '2026-02-01T00:00:00Z',
    });
    expect(inputs('DescribeSourceServersCommand')[0]).toEqual({
      filters: { sourceServerIDs: ['s-1234567890abcdef0'] },
    });
    expect(await adapter.sourceServer('s-00000000000000000')).toBeUndefined();
  });
});

describe('translateSdkError', () => {
  it.each([
    ['ThrottlingException', 400, 'ThrottledError'],
    ['UnauthorizedOperation', 403, 'AccessDeniedError'],
    ['InvalidVolume.NotFound', 400, 'NotFoundError'],
    ['ValidationException', 400, 'ValidationError'],
    ['InternalError', 500, 'RetryableError'],
    ['SomethingNew', 429, 'ThrottledError'],
  ])('%s (%d) becomes %s, keeping the cause', (name, status, expected) => {
    const cause = sdkError(name, status);
    const translated = translateSdkError(cause, 'Op', { volumeId: 'vol-1' });
    expect(translated.name).toBe(expected);
    expect(translated.message).toBe(`Op failed: ${name}: ${name} happened`);
    expect(translated.cause).toBe(cause);
  });

  it('an unknown client error (HTTP 400) is a ValidationError, keeping the cause (one fallback, sdk-errors.ts)', () => {
    const error = sdkError('WeirdClientError', 400);
    const translated = translateSdkError(error, 'Op');
    expect(translated.name).toBe('ValidationError');
    expect(translated.cause).toBe(error);
  });
});
