/**
 * AWS adapters of the RPO check (core/plans/rpo.ts): the servers in breach as one DynamoDB item
 * each in one partition (`pk = RPOSTATE#`, `sk = <server>`), so the check lists them with one
 * Query whose size follows the servers in breach, and the newest live recovery point per server
 * through the recovery-point service.
 */
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { RpoBreachRecord, RpoStateStore } from '../core/plans/rpo.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk } from './sdk-errors.ts';

/** The partition of the RPO breach records (one item per server in breach). */
export const RPO_STATE_PARTITION = 'RPOSTATE#';
/** The key prefix the plan-run function's table policy allows for them (`dynamodb:LeadingKeys`). */
export const RPO_STATE_TABLE_KEYS = [RPO_STATE_PARTITION] as const;

const breachItemSchema = z.object({
  sk: z.string().min(1),
  plan: z.string().min(1),
  targetMinutes: z.number().int(),
  since: z.string().min(1),
});

export class DynamoDbRpoStateStore implements RpoStateStore {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.pager = new DynamoDbPager(documents);
  }

  async list(): Promise<readonly RpoBreachRecord[]> {
    const items = await this.pager.queryAll(
      'Query (RPO breaches)',
      {},
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': RPO_STATE_PARTITION },
        ConsistentRead: true,
      },
    );
    return items.map((item) => {
      const parsed = breachItemSchema.safeParse(item);
      if (!parsed.success)
        throw new ValidationError(`RPO breach record ${String(item.sk)} is malformed`, {
          context: { sk: String(item.sk) },
        });
      const { sk, plan, targetMinutes, since } = parsed.data;
      return { server: sk, plan, targetMinutes, since };
    });
  }

  async put(record: RpoBreachRecord): Promise<void> {
    await callSdk('PutItem (RPO breach)', { server: record.server }, () =>
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: RPO_STATE_PARTITION,
            sk: record.server,
            entity: 'rpo-breach',
            plan: record.plan,
            targetMinutes: record.targetMinutes,
            since: record.since,
          },
        }),
      ),
    );
  }

  async delete(server: string): Promise<void> {
    await callSdk('DeleteItem (RPO breach)', { server }, () =>
      this.documents.send(
        new DeleteCommand({ TableName: this.tableName, Key: { pk: RPO_STATE_PARTITION, sk: server } }),
      ),
    );
  }
}
