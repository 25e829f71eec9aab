/**
 * The one DynamoDB adapter of the job store (core/jobs/job-store.ts; item format in docs/jobs.md):
 * `pk = <prefix><jobId>`, `sk = JOB`, the record as JSON in `job`, `kind`, `status` (for the
 * conditional transitions), `version`, and the table's TTL attribute `ttl` (epoch seconds), so
 * that DynamoDB removes finished jobs
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
 */
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IntegrityError, ValidationError } from '../core/errors.ts';
import {
  JOB_RECORD_VERSION,
  jobErrors,
  type JobPage,
  type JobPageRequest,
  type JobRecord,
  type JobStatus,
  type JobStore,
} from '../core/jobs/job-store.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export const JOB_SORT_KEY = 'JOB';
/**
 * The listing of a key space: every job item also carries `gsi2pk = JOBLIST#<prefix>` and
 * `gsi2sk = <createdAt>#<jobId>`, so that one Query on GSI2 reads a page of its jobs, newest first.
 */
export const JOB_LIST_INDEX = 'GSI2';
export const JOB_LIST_KEY_PREFIX = 'JOBLIST#';

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

  async list(request: JobPageRequest): Promise<JobPage> {
    const start = request.pageToken === undefined ? undefined : decodePageToken(request.pageToken);
    const answer = await callSdk('Query (jobs)', { space: this.space.prefix }, () =>
      this.documents.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: JOB_LIST_INDEX,
          KeyConditionExpression: 'gsi2pk = :pk',
          ScanIndexForward: false,
          Limit: request.limit,
          ...(request.status === undefined
            ? { ExpressionAttributeValues: { ':pk': `${JOB_LIST_KEY_PREFIX}${this.space.prefix}` } }
            : {
                FilterExpression: '#status = :status',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':pk': `${JOB_LIST_KEY_PREFIX}${this.space.prefix}`,
                  ':status': request.status,
                },
              }),
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    const items = (answer.Items ?? [])
      .filter((item) => item.version === JOB_RECORD_VERSION && typeof item.job === 'string')
      .map((item) => JSON.parse(item.job as string) as JobRecord);
    const last = answer.LastEvaluatedKey;
    return last === undefined ? { items } : { items, nextToken: encodePageToken(last) };
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
            gsi2pk: `${JOB_LIST_KEY_PREFIX}${this.space.prefix}`,
            gsi2sk: `${job.createdAt}#${job.jobId}`,
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

const PAGE_KEY_FIELDS = ['pk', 'sk', 'gsi2pk', 'gsi2sk'] as const;

function encodePageToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(PAGE_KEY_FIELDS.map((field) => String(key[field])))).toString(
    'base64url',
  );
}

function decodePageToken(token: string): Record<string, string> {
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (error) {
    throw new ValidationError('invalid page token', { cause: error });
  }
  if (
    !Array.isArray(fields) ||
    fields.length !== PAGE_KEY_FIELDS.length ||
    !fields.every((f) => typeof f === 'string')
  )
    throw new ValidationError('invalid page token');
  return Object.fromEntries(PAGE_KEY_FIELDS.map((field, i) => [field, fields[i] as string]));
}
