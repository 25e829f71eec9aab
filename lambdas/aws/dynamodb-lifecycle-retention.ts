/**
 * DynamoDB adapter of the stored default retention rules per server (RetentionRuleStore,
 * lambdas/core/lifecycle/retention-apply.ts) in the product's table:
 *
 *   pk RETENTION#<serverId>  sk RULES   { serverId, rules, updatedAt }
 *
 * One item per server, read with a consistent GetItem and replaced with PutItem; the API's and
 * the lifecycle function's IAM policies name the `RETENTION#` leading key.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { PermanentError } from '../core/errors.ts';
import {
  storedRetentionSchema,
  type RetentionRuleStore,
  type StoredRetention,
} from '../core/lifecycle/retention-apply.ts';
import { callSdk } from './sdk-errors.ts';

export const RETENTION_PARTITION_PREFIX = 'RETENTION#';
const RETENTION_SORT_KEY = 'RULES';

export function retentionKey(serverId: string) {
  return { pk: `${RETENTION_PARTITION_PREFIX}${serverId}`, sk: RETENTION_SORT_KEY };
}

export class DynamoDbRetentionRuleStore implements RetentionRuleStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async get(serverId: string): Promise<StoredRetention | undefined> {
    const answer = await callSdk('GetItem (retention rules)', { serverId }, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: retentionKey(serverId), ConsistentRead: true }),
      ),
    );
    if (answer.Item === undefined) return undefined;
    const item: Record<string, unknown> = answer.Item;
    const parsed = storedRetentionSchema.safeParse({
      serverId: item.serverId,
      rules: item.rules,
      updatedAt: item.updatedAt,
    });
    if (!parsed.success) {
      throw new PermanentError(`the stored retention rules of server ${serverId} do not parse`, {
        cause: parsed.error,
        context: { serverId },
      });
    }
    return parsed.data;
  }

  async put(stored: StoredRetention): Promise<void> {
    await callSdk('PutItem (retention rules)', { serverId: stored.serverId }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...retentionKey(stored.serverId), entity: 'retention-rules', ...stored },
        }),
      ),
    );
  }
}
