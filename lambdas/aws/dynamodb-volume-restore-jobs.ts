/**
 * Volume restore job records in the product table: `pk = RESTORE#<restoreId>`, `sk = VOLUME` (file
 * restore jobs of the same partition use `sk = JOB`), the job as JSON, its status for conditional
 * transitions, and the table's TTL attribute `ttl` (epoch seconds), as file restore jobs, so that
 * DynamoDB removes finished jobs (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type {
  VolumeRestoreJob,
  VolumeRestoreJobStore,
  VolumeRestoreStatus,
} from '../core/restore/volume-restore-jobs.ts';
import { RESTORE_JOB_TTL_SECONDS, restoreJobPartitionKey } from './dynamodb-catalog-restore-jobs.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export const VOLUME_RESTORE_SORT_KEY = 'VOLUME';

export class DynamoDbVolumeRestoreJobStore implements VolumeRestoreJobStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private item(job: VolumeRestoreJob): Record<string, unknown> {
    return {
      pk: restoreJobPartitionKey(job.restoreId),
      sk: VOLUME_RESTORE_SORT_KEY,
      entity: 'volumeRestoreJob',
      status: job.status,
      job: JSON.stringify(job),
      ttl: Math.floor(Date.parse(job.updatedAt) / 1000) + RESTORE_JOB_TTL_SECONDS,
    };
  }

  async create(job: VolumeRestoreJob): Promise<void> {
    await this.put(job, 'attribute_not_exists(pk)', {}, `restore ${job.restoreId} already exists`);
  }

  async get(restoreId: string): Promise<VolumeRestoreJob> {
    const answer = await callSdk('GetItem (volume restore job)', { restoreId }, () =>
      this.documents.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: restoreJobPartitionKey(restoreId), sk: VOLUME_RESTORE_SORT_KEY },
          ConsistentRead: true,
        }),
      ),
    );
    if (answer.Item === undefined) {
      throw new NotFoundError(`no volume restore ${restoreId}`, { context: { restoreId } });
    }
    return JSON.parse(answer.Item.job as string) as VolumeRestoreJob;
  }

  async update(job: VolumeRestoreJob, from: readonly VolumeRestoreStatus[]): Promise<void> {
    const values: Record<string, string> = {};
    from.forEach((status, index) => (values[`:s${index}`] = status));
    await this.put(
      job,
      `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
      values,
      `restore ${job.restoreId} is not ${from.join(' or ')}`,
    );
  }

  private async put(
    job: VolumeRestoreJob,
    condition: string,
    values: Record<string, string>,
    conflictMessage: string,
  ): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.item(job),
          ConditionExpression: condition,
          ...(Object.keys(values).length === 0
            ? {}
            : { ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: values }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ConditionalCheckFailedException') {
        throw new ConflictError(conflictMessage, { cause: error, context: { restoreId: job.restoreId } });
      }
      throw translateSdkError(error, 'PutItem (volume restore job)', { restoreId: job.restoreId });
    }
  }
}
