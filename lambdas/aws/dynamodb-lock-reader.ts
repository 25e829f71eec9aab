/** Reads a volume's backup lock item (written by dynamodb-backup-lock.ts) for the API's conflict check. */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { HeldLock, LockReader } from '../core/api/backup-launcher.ts';
import { LOCK_SORT_KEY, lockPartitionKey } from './dynamodb-backup-lock.ts';
import { callSdk } from './sdk-errors.ts';

export class DynamoDbLockReader implements LockReader {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async currentLock(volumeId: string): Promise<HeldLock | undefined> {
    const answer = await callSdk('GetItem (lock)', { volumeId }, () =>
      this.documents.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(volumeId), sk: LOCK_SORT_KEY },
          ConsistentRead: true,
        }),
      ),
    );
    const item = answer.Item;
    if (item === undefined) return undefined;
    const backupId = typeof item.backupId === 'string' ? item.backupId : '(unknown)';
    const expiresAt = typeof item.expiresAt === 'string' ? item.expiresAt : new Date(0).toISOString();
    return { volumeId, backupId, expiresAt };
  }
}
