/**
 * Restore job records in the product table: `pk = RESTORE#<restoreId>`, `sk = JOB`, the job as a
 * JSON attribute plus its status (for the conditional transitions) and the table's TTL attribute `ttl`
 * (epoch seconds) so finished jobs age out.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type { RestoreJob, RestoreJobStatus, RestoreJobStore } from '../core/file-restore/restore-jobs.ts';
import { translateSdkError } from './sdk-errors.ts';

/** Job records are kept 30 days after their last change, then DynamoDB's TTL removes them. */
export const RESTORE_JOB_TTL_SECONDS = 30 * 24 * 3600;
const SORT_KEY = 'JOB';

export function restoreJobPartitionKey(restoreId: string): string {
  return `RESTORE#${restoreId}`;
}

export class DynamoDbRestoreJobStore implements RestoreJobStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private item(job: RestoreJob): Record<string, unknown> {
    return {
      pk: restoreJobPartitionKey(job.restoreId),
      sk: SORT_KEY,
      kind: 'restoreJob',
      status: job.status,
      job: JSON.stringify(job),
      ttl: Math.floor(Date.parse(job.updatedAt) / 1000) + RESTORE_JOB_TTL_SECONDS,
    };
  }

  async create(job: RestoreJob): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.item(job),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`restore ${job.restoreId} already exists`, {
          context: { restoreId: job.restoreId },
        });
      }
      throw translateSdkError(error, 'DynamoDB PutItem (restore job)', { restoreId: job.restoreId });
    }
  }

  async get(restoreId: string): Promise<RestoreJob> {
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: restoreJobPartitionKey(restoreId), sk: SORT_KEY },
          ConsistentRead: true,
        }),
      );
      item = out.Item;
    } catch (error) {
      throw translateSdkError(error, 'DynamoDB GetItem (restore job)', { restoreId });
    }
    if (item === undefined) throw new NotFoundError(`no restore ${restoreId}`, { context: { restoreId } });
    return JSON.parse(item.job as string) as RestoreJob;
  }

  async update(job: RestoreJob, from: readonly RestoreJobStatus[]): Promise<void> {
    const values: Record<string, string> = {};
    from.forEach((status, i) => (values[`:s${i}`] = status));
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.item(job),
          ConditionExpression: `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`restore ${job.restoreId} is not ${from.join(' or ')}`, {
          context: { restoreId: job.restoreId, to: job.status },
        });
      }
      throw translateSdkError(error, 'DynamoDB PutItem (restore job)', { restoreId: job.restoreId });
    }
  }
}
