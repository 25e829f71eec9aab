/**
 * The one DynamoDB adapter of the job store (core/jobs/job-store.ts; item format in docs/jobs.md):
 * `pk = <prefix><jobId>`, `sk = JOB`, the record as JSON in `job`, `kind`, `status` (for the
 * conditional transitions), `version`, and the table's TTL attribute `ttl` (epoch seconds), so
 * that DynamoDB removes finished jobs
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
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
import { callSdk, conditionalWrite, sdkErrorName, translateSdkError } from './sdk-errors.ts';

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
  /** The space has jobs from before the listing key: the first listing backfills it (backfillListing). */
  readonly listingBackfill?: boolean;
}

/** Restores (file and volume): a restore id names one job; the API's IAM policy covers `RESTORE#`. */
export const RESTORE_JOBS: JobKeySpace = { prefix: 'RESTORE#', noun: 'restore', listingBackfill: true };

/**
 * Sort key of the marker that says a key space's jobs from before the listing key were given it
 * (`pk = <prefix>~listing-backfill`: "~" never occurs in a job id).
 */
export const LISTING_BACKFILL_MARKER_SK = 'MARKER';
const listingBackfillMarker = (space: JobKeySpace) => ({
  pk: `${space.prefix}~listing-backfill`,
  sk: LISTING_BACKFILL_MARKER_SK,
});

export class DynamoDbJobStore implements JobStore {
  /** Set once this container saw the listing backfill's marker (or wrote it). */
  private listingBackfilled = false;

  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly space: JobKeySpace = RESTORE_JOBS,
  ) {}

  /**
   * Jobs written before the listing key (`gsi2pk`, `gsi2sk`) existed are not on GSI2, so a listing
   * would miss them. Once per table and key space, before the first page is read: a Scan that
   * reads only the keys and the record of the space's jobs without the listing key, an UpdateItem
   * that adds it to each (only where it is still missing), then the marker. Later calls cost the
   * marker's GetItem once per container. A backfill cut short runs again from the start.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html
   */
  async backfillListing(): Promise<number> {
    if (this.listingBackfilled) return 0;
    const marker = listingBackfillMarker(this.space);
    const found = await callSdk('GetItem (listing backfill marker)', {}, () =>
      this.documents.send(new GetCommand({ TableName: this.tableName, Key: marker, ConsistentRead: true })),
    );
    if (found.Item !== undefined) {
      this.listingBackfilled = true;
      return 0;
    }
    let startKey: Record<string, unknown> | undefined;
    let backfilled = 0;
    do {
      const exclusiveStart = startKey;
      const page = await callSdk('Scan (jobs without listing key)', { space: this.space.prefix }, () =>
        this.documents.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'begins_with(#pk, :prefix) AND #sk = :job AND attribute_not_exists(#gsi2pk)',
            ProjectionExpression: '#pk, #sk, #job',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#job': 'job', '#gsi2pk': 'gsi2pk' },
            ExpressionAttributeValues: { ':prefix': this.space.prefix, ':job': JOB_SORT_KEY },
            ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        if (typeof item.job !== 'string') continue;
        const job = JSON.parse(item.job) as Partial<JobRecord>;
        if (typeof job.createdAt !== 'string' || typeof job.jobId !== 'string') continue;
        const { createdAt, jobId } = job;
        // A refused condition: rewritten (with the key) or expired since the Scan, nothing to add.
        const added = await conditionalWrite('UpdateItem (job listing key)', { jobId }, () =>
          this.documents.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { pk: item.pk as string, sk: JOB_SORT_KEY },
              UpdateExpression: 'SET gsi2pk = :gsi2pk, gsi2sk = :gsi2sk',
              ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(gsi2pk)',
              ExpressionAttributeValues: {
                ':gsi2pk': `${JOB_LIST_KEY_PREFIX}${this.space.prefix}`,
                ':gsi2sk': `${createdAt}#${jobId}`,
              },
            }),
          ),
        );
        if (added) backfilled += 1;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    await callSdk('PutItem (listing backfill marker)', {}, () =>
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...marker, entity: 'job-listing-backfill', backfilled },
        }),
      ),
    );
    this.listingBackfilled = true;
    return backfilled;
  }

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
    if (request.pageToken === undefined && this.space.listingBackfill === true) await this.backfillListing();
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
