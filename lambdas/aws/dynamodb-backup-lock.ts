/**
 * The per-volume backup lock in the product's DynamoDB table (key schema in docs/catalog.md):
 * item `pk = LOCK#<volumeId>`, `sk = LOCK`, with the owner, the expiry and a TTL attribute so
 * DynamoDB removes long-expired locks. A group's locks are written in one transaction, each with
 * the condition of `mayTakeLock` (free, expired, released by a suspended run, or already ours).
 */
import {
  DeleteCommand,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/ports.ts';
import {
  alreadyRunningError,
  ttlEpochSeconds,
  type BackupLock,
  type LockHolder,
} from '../core/orchestration/backup-lock.ts';
import type { LockStore } from '../core/orchestration/orchestration-ports.ts';
import { LockContentionError } from '../core/orchestration/orchestration-errors.ts';
import { conditionalWrite, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export const LOCK_SORT_KEY = 'LOCK';
export const lockPartitionKey = (volumeId: string): string => `LOCK#${volumeId}`;

interface CancellationReason {
  readonly Code?: string;
  readonly Item?: Record<string, unknown>;
}

/** A value from a cancellation reason's item, which may still be in AttributeValue form ({S: ...}). */
function stringAttribute(item: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = item?.[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'S' in value) {
    const s = value.S;
    return typeof s === 'string' ? s : undefined;
  }
  return undefined;
}

/** A stored lock item as the core's BackupLock. */
function lockOfItem(volumeId: string, item: Record<string, unknown>): BackupLock {
  return {
    volumeId,
    ownerId: stringAttribute(item, 'ownerId') ?? '(unknown)',
    backupId: stringAttribute(item, 'backupId') ?? '(unknown)',
    acquiredAt: stringAttribute(item, 'acquiredAt') ?? '',
    expiresAt: stringAttribute(item, 'expiresAt') ?? '',
    ...(item['released'] === true ? { released: true } : {}),
    ...(typeof item['parkedAt'] === 'string' ? { parkedAt: item['parkedAt'] } : {}),
  };
}

export class DynamoDbBackupLockStore implements LockStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
  ) {}

  async acquire(locks: readonly BackupLock[]): Promise<readonly BackupLock[]> {
    const now = this.clock.now().toISOString();
    try {
      await this.documents.send(
        new TransactWriteCommand({
          TransactItems: locks.map((lock) => ({
            Put: {
              TableName: this.tableName,
              Item: {
                pk: lockPartitionKey(lock.volumeId),
                sk: LOCK_SORT_KEY,
                entity: 'lock',
                ...lock,
                ttl: ttlEpochSeconds(lock),
              },
              ConditionExpression:
                'attribute_not_exists(pk) OR ownerId = :owner OR expiresAt <= :now OR released = :released',
              ExpressionAttributeValues: { ':owner': lock.ownerId, ':now': now, ':released': true },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          })),
        }),
      );
      return locks;
    } catch (error) {
      if (sdkErrorName(error) !== 'TransactionCanceledException') {
        throw translateSdkError(error, 'TransactWriteItems (lock)', {
          volumeIds: locks.map((l) => l.volumeId).join(','),
        });
      }
      const reasons = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
      const refusedIndex = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
      const refused = locks[refusedIndex];
      if (refused === undefined) {
        throw new LockContentionError(
          'the lock transaction was cancelled without a refused condition; retry',
          {
            cause: error,
            context: { reasons: reasons.map((r) => r.Code ?? 'None').join(',') },
          },
        );
      }
      const holder = await this.holderOf(refused.volumeId, reasons[refusedIndex]?.Item);
      throw alreadyRunningError(holder, refused.backupId);
    }
  }

  async release(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }> {
    return this.eachOwnedLock(volumeIds, 'DeleteItem (lock)', (lock) =>
      this.documents.send(new DeleteCommand({ ...lock, ExpressionAttributeValues: { ':owner': ownerId } })),
    );
  }

  async suspend(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }> {
    return this.eachOwnedLock(volumeIds, 'UpdateItem (lock)', (lock) =>
      this.documents.send(
        new UpdateCommand({
          ...lock,
          UpdateExpression: 'SET released = :released',
          ExpressionAttributeValues: { ':owner': ownerId, ':released': true },
        }),
      ),
    );
  }

  /**
   * `write` for each volume's lock, one at a time, given the lock's key and the condition that
   * `:owner` holds it; counts the locks written. A refused condition is a lock that is absent or
   * held by another run: not ours, skipped.
   */
  private async eachOwnedLock(
    volumeIds: readonly string[],
    operation: string,
    write: (lock: {
      readonly TableName: string;
      readonly Key: { readonly pk: string; readonly sk: string };
      readonly ConditionExpression: string;
    }) => Promise<unknown>,
  ): Promise<{ released: number }> {
    let released = 0;
    for (const volumeId of volumeIds) {
      const written = await conditionalWrite(operation, { volumeId }, () =>
        write({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(volumeId), sk: LOCK_SORT_KEY },
          ConditionExpression: 'ownerId = :owner',
        }),
      );
      if (written) released += 1;
    }
    return { released };
  }

  async read(volumeIds: readonly string[]): Promise<(BackupLock | undefined)[]> {
    const locks: (BackupLock | undefined)[] = [];
    for (const volumeId of volumeIds) {
      const item = await this.lockItem(volumeId);
      locks.push(item === undefined ? undefined : lockOfItem(volumeId, item));
    }
    return locks;
  }

  async park(volumeIds: readonly string[], ownerId: string, parkedAt: string): Promise<boolean> {
    try {
      await this.documents.send(
        new TransactWriteCommand({
          TransactItems: volumeIds.map((volumeId) => ({
            Update: {
              TableName: this.tableName,
              Key: { pk: lockPartitionKey(volumeId), sk: LOCK_SORT_KEY },
              UpdateExpression: 'SET parkedAt = :at',
              ConditionExpression:
                'ownerId = :owner AND released = :released AND (attribute_not_exists(parkedAt) OR parkedAt = :at)',
              ExpressionAttributeValues: { ':owner': ownerId, ':released': true, ':at': parkedAt },
            },
          })),
        }),
      );
      return true;
    } catch (error) {
      if (sdkErrorName(error) === 'TransactionCanceledException') {
        const reasons = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
        if (reasons.some((r) => r.Code === 'ConditionalCheckFailed')) return false;
        throw new LockContentionError(
          'the park transaction was cancelled without a refused condition; retry',
          {
            cause: error,
            context: { reasons: reasons.map((r) => r.Code ?? 'None').join(',') },
          },
        );
      }
      throw translateSdkError(error, 'TransactWriteItems (park)', { volumeIds: volumeIds.join(',') });
    }
  }

  /** The volume's lock item, read consistently; undefined when there is none. */
  private async lockItem(volumeId: string): Promise<Record<string, unknown> | undefined> {
    const answer = await this.documents
      .send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(volumeId), sk: LOCK_SORT_KEY },
          ConsistentRead: true,
        }),
      )
      .catch((error: unknown) => {
        throw translateSdkError(error, 'GetItem (lock)', { volumeId });
      });
    return answer.Item;
  }

  private async holderOf(volumeId: string, item: Record<string, unknown> | undefined): Promise<LockHolder> {
    let source = item;
    if (stringAttribute(source, 'ownerId') === undefined) {
      source = await this.lockItem(volumeId);
    }
    return {
      volumeId,
      ownerId: stringAttribute(source, 'ownerId') ?? '(unknown)',
      backupId: stringAttribute(source, 'backupId') ?? '(unknown)',
      expiresAt: stringAttribute(source, 'expiresAt') ?? '(unknown)',
    };
  }
}
