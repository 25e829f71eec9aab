/**
 * DynamoDB adapter of the ImageRecordStore port (single table; item shapes in docs/image-format.md,
 * "Image records"):
 *
 *   pk VOLUME#<volumeId>  sk IMAGE#<createdAt>#<imageId>   the record (a Query lists images in time order)
 *   pk VOLUME#<volumeId>  sk IMAGEID#<imageId>             guard: makes the image id unique, points at the record
 *
 * The record also carries `gsi2pk = IMAGEID#<imageId>`, `gsi2sk = VOLUME#<volumeId>`: GSI2 finds an
 * image by its id alone with one Query, whatever the number of volumes, and whether or not its
 * replica volume still exists (findImageRecord). Records written before GSI2 carried them are not
 * found that way.
 *
 * Both are written in one transaction, each conditional on not existing, so the commit point is
 * atomic and an image id can never get a second record.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, IntegrityError, NotFoundError, RetryableError } from '../core/errors.ts';
import type { CommitConditions } from '../core/lifecycle/commit-gate.ts';
import type { ImageRecord, ImageRecordStore } from '../core/image/image-records.ts';
import { sameImageRecord } from '../core/image/image-records.ts';
import { fenceConditionCheck } from './dynamodb-lifecycle-gc.ts';
import { callSdk } from './sdk-errors.ts';

export const IMAGE_RECORD_ENTITY = 'image';
export const IMAGE_ID_ENTITY = 'image-id';

export function volumePartitionKey(volumeId: string): string {
  return `VOLUME#${volumeId}`;
}

export function imageSortKey(record: Pick<ImageRecord, 'createdAt' | 'imageId'>): string {
  return `IMAGE#${record.createdAt}#${record.imageId}`;
}

export function imageIdSortKey(imageId: string): string {
  return `IMAGEID#${imageId}`;
}

/** GSI2 (gsi2pk/gsi2sk, projection ALL, lib/constructs/backup-storage.ts): images by id. */
export const IMAGE_ID_INDEX = 'GSI2';
export function imageIdIndexKey(imageId: string): string {
  return `IMAGEID#${imageId}`;
}

const RECORD_FIELDS = [
  'volumeId',
  'imageId',
  'createdAt',
  'kind',
  'formatVersion',
  'snapshotId',
  'parentImageId',
  'parentSnapshotId',
  'volumeSizeBytes',
  'manifestKey',
  'manifestSha256',
  'stats',
  'source',
] as const;

/**
 * Lifecycle attribute of a record being deleted (lambdas/core/lifecycle/image-deletion.ts): such a
 * record is neither listed nor restorable, so this store answers as if it were already gone.
 */
export const IMAGE_STATUS_DELETING = 'deleting';

function isDeleting(item: Record<string, unknown>): boolean {
  return item.status === IMAGE_STATUS_DELETING;
}

function toRecord(item: Record<string, unknown>): ImageRecord {
  const record: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS) if (item[field] !== undefined) record[field] = item[field];
  return record as unknown as ImageRecord;
}

interface CancellationShape {
  readonly name?: string;
  readonly CancellationReasons?: readonly { readonly Code?: string }[];
}

export class DynamoDbImageRecordStore implements ImageRecordStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async putImageRecord(record: ImageRecord, conditions?: CommitConditions): Promise<'created' | 'exists'> {
    const pk = volumePartitionKey(record.volumeId);
    const context = { volumeId: record.volumeId, imageId: record.imageId };
    // Items 3 and 4 (when given): the collection fence idle at the epoch the commit checked, and
    // the parent record still there and not being deleted (lambdas/core/lifecycle/commit-gate.ts).
    const guards =
      conditions === undefined
        ? []
        : [
            fenceConditionCheck(this.tableName, conditions.fenceEpoch),
            ...(conditions.liveParent === undefined
              ? []
              : [
                  {
                    ConditionCheck: {
                      TableName: this.tableName,
                      Key: {
                        pk: volumePartitionKey(conditions.liveParent.volumeId),
                        sk: imageSortKey(conditions.liveParent),
                      },
                      ConditionExpression:
                        'attribute_exists(pk) AND (attribute_not_exists(#status) OR #status <> :deleting)',
                      ExpressionAttributeNames: { '#status': 'status' },
                      ExpressionAttributeValues: { ':deleting': IMAGE_STATUS_DELETING },
                    },
                  },
                ]),
          ];
    const written = await callSdk('TransactWriteItems', context, async () => {
      try {
        await this.ddb.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk,
                    sk: imageSortKey(record),
                    entity: IMAGE_RECORD_ENTITY,
                    ...record,
                    gsi2pk: imageIdIndexKey(record.imageId),
                    gsi2sk: pk,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk,
                    sk: imageIdSortKey(record.imageId),
                    entity: IMAGE_ID_ENTITY,
                    imageSk: imageSortKey(record),
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              ...guards,
            ],
          }),
        );
        return true;
      } catch (error) {
        const shape = error as CancellationShape;
        const failed = (index: number) =>
          shape.CancellationReasons?.[index]?.Code === 'ConditionalCheckFailed';
        // The record or its guard exists: a re-run of a commit that succeeded (checked below).
        if (shape.name === 'TransactionCanceledException' && (failed(0) || failed(1))) return false;
        if (shape.name === 'TransactionCanceledException' && failed(2)) {
          throw new RetryableError(
            `image ${record.imageId}: a garbage collection took the fence while it committed; the commit is retried after it`,
            { context },
          );
        }
        if (
          shape.name === 'TransactionCanceledException' &&
          failed(3) &&
          conditions?.liveParent !== undefined
        ) {
          throw new NotFoundError(
            `image ${record.imageId}: its parent ${conditions.liveParent.imageId} was deleted while it committed; run the backup again`,
            { context },
          );
        }
        if (
          shape.name === 'TransactionCanceledException' &&
          (shape.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
        ) {
          return false;
        }
        throw error;
      }
    });
    if (written) return 'created';
    let existing: ImageRecord;
    try {
      existing = await this.getImageRecord(record.volumeId, record.imageId);
    } catch (error) {
      throw new ConflictError(`image ${record.imageId} of ${record.volumeId} collides with another record`, {
        cause: error,
        context,
      });
    }
    if (sameImageRecord(existing, record)) return 'exists';
    throw new ConflictError(`image ${record.imageId} of ${record.volumeId} already has a different record`, {
      context,
    });
  }

  async getImageRecord(volumeId: string, imageId: string): Promise<ImageRecord> {
    const pk = volumePartitionKey(volumeId);
    const context = { volumeId, imageId };
    const guard = await callSdk('GetItem', context, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk, sk: imageIdSortKey(imageId) },
          ConsistentRead: true,
        }),
      ),
    );
    const imageSk: unknown = guard.Item?.imageSk;
    if (typeof imageSk !== 'string') {
      throw new NotFoundError(`image ${imageId} of ${volumeId} does not exist`, { context });
    }
    const item = await callSdk('GetItem', context, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: { pk, sk: imageSk }, ConsistentRead: true }),
      ),
    );
    if (item.Item === undefined) {
      throw new IntegrityError(`image ${imageId} of ${volumeId} has a guard item but no record`, { context });
    }
    if (isDeleting(item.Item)) {
      throw new NotFoundError(`image ${imageId} of ${volumeId} does not exist (it is being deleted)`, {
        context,
      });
    }
    return toRecord(item.Item);
  }

  async findImageRecord(imageId: string): Promise<ImageRecord | undefined> {
    // One Query on GSI2; an image id has one record (the guard item makes it unique per volume,
    // and ids embed their volume's backup), so the first live item is the answer.
    const page = await callSdk('Query (image id)', { imageId }, () =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: IMAGE_ID_INDEX,
          KeyConditionExpression: 'gsi2pk = :id',
          ExpressionAttributeValues: { ':id': imageIdIndexKey(imageId) },
        }),
      ),
    );
    const item = (page.Items ?? []).find((i) => i.entity === IMAGE_RECORD_ENTITY && !isDeleting(i));
    return item === undefined ? undefined : toRecord(item);
  }

  async listImageRecords(volumeId: string): Promise<ImageRecord[]> {
    const records: ImageRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const exclusiveStart = startKey;
      const page = await callSdk('Query', { volumeId }, () =>
        this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': volumePartitionKey(volumeId), ':prefix': 'IMAGE#' },
            ConsistentRead: true,
            ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
          }),
        ),
      );
      for (const item of page.Items ?? []) if (!isDeleting(item)) records.push(toRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return records;
  }
}
