/**
 * DynamoDB adapter of the chunk quarantine (lambdas/core/lifecycle/chunk-quarantine.ts) in the
 * product's table:
 *
 *   pk GC#QUARANTINE  sk <chunk name>   volumeIds (string set), reason, runId, foundAt
 *
 * One partition: entries are rare (a chunk found corrupt or missing at rest, until a backup writes
 * it again), so a Query of the partition is one page. `add` is a PutItem conditional on the item
 * being absent; `dropVolume` deletes one element of the string set (a set left empty loses its
 * attribute: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html#Expressions.UpdateExpressions.DELETE).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ChunkQuarantine, QuarantineEntry } from '../core/lifecycle/chunk-quarantine.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';

export const QUARANTINE_PARTITION = 'GC#QUARANTINE';

function entryOf(item: Record<string, unknown>): QuarantineEntry {
  const volumes = item.volumeIds;
  return {
    name: String(item.sk),
    volumeIds: volumes instanceof Set ? [...(volumes as Set<string>)].map(String).sort() : [],
    reason: typeof item.reason === 'string' ? item.reason : '',
    ...(typeof item.runId === 'string' ? { runId: item.runId } : {}),
    foundAt: String(item.foundAt),
  };
}

export class DynamoDbChunkQuarantine implements ChunkQuarantine {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async list(): Promise<QuarantineEntry[]> {
    const entries: QuarantineEntry[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await callSdk('Query (chunk quarantine)', {}, () =>
        this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': QUARANTINE_PARTITION },
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of page.Items ?? []) entries.push(entryOf(item));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  add(entry: QuarantineEntry): Promise<boolean> {
    const volumes = [...new Set(entry.volumeIds)];
    return conditionalWrite('PutItem (chunk quarantine)', { chunk: entry.name }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: QUARANTINE_PARTITION,
            sk: entry.name,
            entity: 'chunk-quarantine',
            // A string set cannot be empty: no volumes is no attribute.
            ...(volumes.length === 0 ? {} : { volumeIds: new Set(volumes) }),
            reason: entry.reason,
            ...(entry.runId === undefined ? {} : { runId: entry.runId }),
            foundAt: entry.foundAt,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async dropVolume(name: string, volumeId: string): Promise<void> {
    // Conditional on the item: without it, UpdateItem would create an empty entry.
    await conditionalWrite('UpdateItem (chunk quarantine)', { chunk: name, volumeId }, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: QUARANTINE_PARTITION, sk: name },
          UpdateExpression: 'DELETE volumeIds :v',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':v': new Set([volumeId]) },
        }),
      ),
    );
  }

  async clear(name: string): Promise<void> {
    await callSdk('DeleteItem (chunk quarantine)', { chunk: name }, () =>
      this.ddb.send(
        new DeleteCommand({ TableName: this.tableName, Key: { pk: QUARANTINE_PARTITION, sk: name } }),
      ),
    );
  }
}
