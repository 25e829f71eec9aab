/**
 * DynamoDB adapter of the collection fence and backup leases (GcCoordination,
 * lambdas/core/lifecycle/gc-fence.ts) in the product's table:
 *
 *   pk GC#FENCE  sk FENCE        the fence: epoch, phase, runId, startedAt, releasedAt, lockedGeneration
 *   pk GC#LEASE  sk <backupId>   a backup lease (start time, epoch and phase it saw)
 *   pk GC#SCRUB  sk CURSOR       the rolling scrub's cursor (next run number, runs per cycle)
 *
 * swapFence is one conditional PutItem (epoch, phase and run id must still be the expected ones;
 * an absent item is the initial fence, idle at epoch 0). The image record's commit transaction
 * checks the same item (fenceConditionCheck), so a collection that takes the fence first makes the
 * commit fail rather than miss the image.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BackupLease, FencePhase, GcCoordination, GcFence } from '../core/lifecycle/gc-fence.ts';
import { INITIAL_FENCE } from '../core/lifecycle/gc-fence.ts';
import type { ScrubCursor, ScrubCursorStore } from '../core/lifecycle/scrub.ts';
import type { JobKeySpace } from './dynamodb-job-store.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';

export const GC_FENCE_KEY = { pk: 'GC#FENCE', sk: 'FENCE' } as const;
export const GC_LEASE_PARTITION = 'GC#LEASE';
export const SCRUB_CURSOR_KEY = { pk: 'GC#SCRUB', sk: 'CURSOR' } as const;

const FENCE_FIELDS = ['startedAt', 'releasedAt', 'runId', 'lockedGeneration'] as const;

function fenceOf(item: Record<string, unknown> | undefined): GcFence {
  if (item === undefined) return INITIAL_FENCE;
  const fence: Record<string, unknown> = {
    epoch: Number(item.epoch),
    phase: item.phase === 'collecting' ? 'collecting' : 'idle',
  };
  for (const field of FENCE_FIELDS) if (item[field] !== undefined) fence[field] = item[field];
  return fence as unknown as GcFence;
}

/**
 * The ConditionCheck item of a commit transaction: the fence is idle at `epoch` (no item at all is
 * idle at epoch 0).
 */
export function fenceConditionCheck(tableName: string, epoch: number) {
  return {
    ConditionCheck: {
      TableName: tableName,
      Key: { ...GC_FENCE_KEY },
      ConditionExpression:
        epoch === 0
          ? 'attribute_not_exists(pk) OR (#phase = :idle AND epoch = :epoch)'
          : '#phase = :idle AND epoch = :epoch',
      ExpressionAttributeNames: { '#phase': 'phase' },
      ExpressionAttributeValues: { ':idle': 'idle' satisfies FencePhase, ':epoch': epoch },
    },
  };
}

export class DynamoDbGcCoordination implements GcCoordination {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async getFence(): Promise<GcFence> {
    const answer = await callSdk('GetItem (gc fence)', {}, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: { ...GC_FENCE_KEY }, ConsistentRead: true }),
      ),
    );
    return fenceOf(answer.Item);
  }

  async swapFence(expected: GcFence, next: GcFence): Promise<boolean> {
    const initial = expected.epoch === 0 && expected.phase === 'idle' && expected.runId === undefined;
    const same =
      '(epoch = :epoch AND #phase = :phase AND ' +
      (expected.runId === undefined ? 'attribute_not_exists(runId))' : 'runId = :runId)');
    return conditionalWrite('PutItem (gc fence)', { epoch: next.epoch, phase: next.phase }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...GC_FENCE_KEY, entity: 'gc-fence', ...next },
          ConditionExpression: initial ? `attribute_not_exists(pk) OR ${same}` : same,
          ExpressionAttributeNames: { '#phase': 'phase' },
          ExpressionAttributeValues: {
            ':epoch': expected.epoch,
            ':phase': expected.phase,
            ...(expected.runId === undefined ? {} : { ':runId': expected.runId }),
          },
        }),
      ),
    );
  }

  async putLease(lease: BackupLease): Promise<void> {
    await callSdk('PutItem (gc lease)', { backupId: lease.backupId }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: GC_LEASE_PARTITION, sk: lease.backupId, entity: 'gc-lease', ...lease },
        }),
      ),
    );
  }

  async deleteLease(backupId: string): Promise<void> {
    await callSdk('DeleteItem (gc lease)', { backupId }, () =>
      this.ddb.send(
        new DeleteCommand({ TableName: this.tableName, Key: { pk: GC_LEASE_PARTITION, sk: backupId } }),
      ),
    );
  }

  async listLeases(): Promise<BackupLease[]> {
    const leases: BackupLease[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await callSdk('Query (gc leases)', {}, () =>
        this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': GC_LEASE_PARTITION },
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        leases.push({
          backupId: String(item.backupId),
          startedAt: String(item.startedAt),
          epoch: Number(item.epoch),
          phase: item.phase === 'collecting' ? 'collecting' : 'idle',
        });
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return leases;
  }
}

/** Garbage collection and scrub runs in the job store (lambdas/core/lifecycle/lifecycle-jobs.ts). */
export const LIFECYCLE_JOBS: JobKeySpace = { prefix: 'LIFECYCLE#', noun: 'run' };

/** The rolling scrub's cursor: one item, moved by a conditional PutItem. */
export class DynamoDbScrubCursor implements ScrubCursorStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async get(): Promise<ScrubCursor | undefined> {
    const answer = await callSdk('GetItem (scrub cursor)', {}, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: { ...SCRUB_CURSOR_KEY }, ConsistentRead: true }),
      ),
    );
    const item = answer.Item;
    if (item === undefined) return undefined;
    return { runNumber: Number(item.runNumber), coverRuns: Number(item.coverRuns) };
  }

  async advance(from: ScrubCursor | undefined, to: ScrubCursor): Promise<boolean> {
    return conditionalWrite('PutItem (scrub cursor)', { runNumber: to.runNumber }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...SCRUB_CURSOR_KEY,
            entity: 'scrub-cursor',
            runNumber: to.runNumber,
            coverRuns: to.coverRuns,
          },
          ...(from === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'runNumber = :r AND coverRuns = :c',
                ExpressionAttributeValues: { ':r': from.runNumber, ':c': from.coverRuns },
              }),
        }),
      ),
    );
  }
}
