/**
 * The one DynamoDB adapter of the job store (core/jobs/job-store.ts; item format in docs/jobs.md):
 * `pk = <prefix><jobId>`, `sk = JOB`, the record as JSON in `job`, `kind`, `status` (for the
 * conditional transitions), `version`, and the table's TTL attribute `ttl` (epoch seconds), so
 * that DynamoDB removes finished jobs
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IntegrityError } from '../core/errors.ts';
import {
  JOB_RECORD_VERSION,
  jobErrors,
  type JobRecord,
  type JobStatus,
  type JobStore,
} from '../core/jobs/job-store.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export const JOB_SORT_KEY = 'JOB';

/** A key space of jobs: its partition-key prefix and what its messages call a job. */
export interface JobKeySpace {
  readonly prefix: string;
  readonly noun: string;
}

/** Restores (file and volume): a restore id names one job; the API's IAM policy covers `RESTORE#`. */
export const RESTORE_JOBS: JobKeySpace = { prefix: 'RESTORE#', noun: 'restore' };

export class DynamoDbJobStore implements JobStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly space: JobKeySpace = RESTORE_JOBS,
  ) {}

  private key(jobId: string): Record<string, string> {
    return { pk: `${this.space.prefix}${jobId}`, sk: JOB_SORT_KEY };
  }

  async create(job: JobRecord): Promise<void> {
    await this.put(job, 'attribute_not_exists(pk)', {}, () => jobErrors.exists(this.space.noun, job.jobId));
  }

  async get(jobId: string): Promise<JobRecord> {
    const answer = await callSdk('GetItem (job)', { jobId }, () =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(jobId), ConsistentRead: true }),
      ),
    );
    if (answer.Item === undefined) throw jobErrors.missing(this.space.noun, jobId);
    if (answer.Item.version !== JOB_RECORD_VERSION || typeof answer.Item.job !== 'string') {
      throw new IntegrityError(
        `job ${jobId} has record version ${String(answer.Item.version)}; this reader knows 1`,
        {
          context: { jobId },
        },
      );
    }
    return JSON.parse(answer.Item.job) as JobRecord;
  }

  async update(job: JobRecord, from: readonly JobStatus[]): Promise<void> {
    const values: Record<string, string> = {};
    from.forEach((status, index) => (values[`:s${index}`] = status));
    await this.put(
      job,
      `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
      values,
      (cause) => jobErrors.notIn(this.space.noun, job.jobId, from, cause),
    );
  }

  private async put(
    job: JobRecord,
    condition: string,
    values: Record<string, string>,
    conflict: (cause: unknown) => Error,
  ): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(job.jobId),
            entity: 'job',
            kind: job.kind,
            status: job.status,
            version: JOB_RECORD_VERSION,
            job: JSON.stringify(job),
            ttl: job.expiresAtEpochSeconds,
          },
          ConditionExpression: condition,
          ...(Object.keys(values).length === 0
            ? {}
            : { ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: values }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ConditionalCheckFailedException') throw conflict(error);
      throw translateSdkError(error, 'PutItem (job)', { jobId: job.jobId, kind: job.kind });
    }
  }
}
