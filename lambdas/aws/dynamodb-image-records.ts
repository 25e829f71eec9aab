/**
 * DynamoDB adapter of the ImageRecordStore port (single table; item shapes in docs/image-format.md,
 * "Image records"):
 *
 *   pk VOLUME#<volumeId>        sk IMAGE#<createdAt>#<imageId>             the record (a Query lists images in time order)
 *   pk VOLUME#<volumeId>        sk IMAGEID#<imageId>                       guard: makes the image id unique, points at the record
 *   pk VOLUME#<volumeId>        sk LINEAGE#<source>#<createdAt>#<imageId>  lineage entry: the newest image of a source is one Limit-1 Query
 *   pk VOLUME#BY-ID#<imageId>   sk POINTER                                 pointer: finds the image by its id alone with one GetItem
 *   pk VOLUME#~PROTECTED        sk <volumeId>                              registry: the volume has images, and its server (protected-volumes.ts)
 *
 * All five are written in one transaction, the first three conditional on not existing, so the
 * commit point is atomic and an image id can never get a second record in a volume. The pointer's partition key starts with
 * VOLUME# so that every role allowed to read image records (IAM `dynamodb:LeadingKeys` VOLUME#*)
 * may read it; no volume id starts with "BY-ID#".
 *
 * The record also carries `gsi2pk = IMAGEID#<imageId>`, `gsi2sk = VOLUME#<volumeId>` (GSI2), the
 * lookup by id before pointers existed. Records from before pointers are found through GSI2 and
 * get their pointer then; records from before GSI2 are given pointers by a one-off backfill (a
 * Scan, run once per table on the first lookup that finds nothing, recorded in a marker item).
 */
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  RetryableError,
  ThrottledError,
} from '../core/errors.ts';
import type { CommitConditions } from '../core/lifecycle/commit-gate.ts';
import type {
  HeldLockCondition,
  ImageRecord,
  ImageRecordPage,
  ImageRecordQuery,
  ImageRecordStore,
  ImageSource,
  VolumeOwner,
} from '../core/image/image-records.ts';
import { sameImageRecord } from '../core/image/image-records.ts';
import { fenceConditionCheck } from './dynamodb-lifecycle-gc.ts';
import { LOCK_SORT_KEY, lockPartitionKey } from './dynamodb-backup-lock.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { transactWrite } from './dynamodb-transactions.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';
import {
  BATCH_GET_ITEMS,
  BATCH_WRITE_ITEMS,
  batchWrite,
  resendUnprocessed,
  sleepMs,
  type ResendSchedule,
} from './dynamodb-batch-write.ts';

export const IMAGE_RECORD_ENTITY = 'image';
export const IMAGE_ID_ENTITY = 'image-id';
export const IMAGE_LINEAGE_ENTITY = 'image-lineage';
export const IMAGE_POINTER_ENTITY = 'image-pointer';
export const PROTECTED_VOLUME_ENTITY = 'protected-volume';
/**
 * Partition of the protected-volume registry (lambdas/core/lifecycle/protected-volumes.ts): one
 * item per volume with images, sort key the volume id. Under VOLUME# so that every role allowed
 * to read or write image records (IAM `dynamodb:LeadingKeys` VOLUME#*) may read or write it; no
 * volume id starts with "~".
 */
export const PROTECTED_VOLUMES_PARTITION = 'VOLUME#~PROTECTED';
/** Partition-key prefix of the pointers (a VOLUME# prefix no volume id continues). */
const POINTER_PARTITION_PREFIX = 'VOLUME#BY-ID#';
/** The backfill's marker: "~" never occurs in an image id. */
export const POINTER_BACKFILL_MARKER_KEY = { pk: `${POINTER_PARTITION_PREFIX}~backfill`, sk: 'MARKER' };
/** Records examined per Query when a lineage has no entries yet (records from before them). */
const LEGACY_PAGE_ITEMS = 100;
/** Sorts after every character of a createdAt or an image id (UTF-8 EF BF BF): closes key ranges. */
const KEY_RANGE_END = '\uffff';

export function imagePointerKey(imageId: string): { pk: string; sk: string } {
  return { pk: `${POINTER_PARTITION_PREFIX}${imageId}`, sk: 'POINTER' };
}

function lineagePrefix(source: ImageSource): string {
  return `LINEAGE#${source}#`;
}

export function lineageSortKey(record: Pick<ImageRecord, 'createdAt' | 'imageId' | 'source'>): string {
  return `${lineagePrefix(record.source ?? 'replica')}${record.createdAt}#${record.imageId}`;
}

/**
 * The registry by server name, on GSI2 (projection ALL): every registry item also carries
 * `gsi2pk` = this key and `gsi2sk` = registryServerSortKey(its server, else its volume id), so
 * `GET /servers` reads the registered servers a page at a time in name order, each server's
 * volumes together, instead of the whole registry per page. Under `IMAGEID#`, the GSI2 key space
 * that roles looking images up by id may Query; no image id starts with "~".
 */
export const REGISTRY_BY_SERVER_KEY = 'IMAGEID#~PROTECTED-BY-SERVER';

/**
 * A registry item's sort key on GSI2: the server name, NUL, the volume id. NUL sorts before every
 * other character, so a name's items come before those of every longer name it starts
 * (`web` before `web-2`), as the names sort; DynamoDB compares the UTF-8 bytes.
 */
export function registryServerSortKey(serverName: string, volumeId: string): string {
  return `${serverName}\u0000${volumeId}`;
}

/**
 * The registry item's update in the commit transaction: an Update, not a Put, so a commit that
 * names no server leaves the server an earlier commit recorded (and its place on GSI2; a new item
 * without a server is filed under its volume id). Idempotent.
 */
export function protectedVolumeUpdate(
  tableName: string,
  volumeId: string,
  owner: VolumeOwner | undefined,
): NonNullable<TransactWriteCommandInput['TransactItems']>[number] {
  return {
    Update: {
      TableName: tableName,
      Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId },
      UpdateExpression: `SET #entity = :entity, #volumeId = :volumeId, #gpk = :gpk, ${
        owner === undefined ? '#gsk = if_not_exists(#gsk, :gsk)' : '#gsk = :gsk, #serverId = :serverId'
      }`,
      ...registryItemAttributes(volumeId, owner?.serverId),
    },
  };
}

/**
 * The attributes a registry item's update sets (`#entity`, `#volumeId`, `#gpk`, `#gsk` and, with a
 * server, `#serverId`), as the update's names and values: filed on GSI2 under `serverId`, else its
 * volume id. The commit's update (protectedVolumeUpdate) and the lifecycle backfill's
 * (dynamodb-lifecycle-images.ts) set them with different expressions.
 */
export function registryItemAttributes(
  volumeId: string,
  serverId: string | undefined,
): {
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, string>;
} {
  return {
    ExpressionAttributeNames: {
      '#entity': 'entity',
      '#volumeId': 'volumeId',
      '#gpk': 'gsi2pk',
      '#gsk': 'gsi2sk',
      ...(serverId === undefined ? {} : { '#serverId': 'serverId' }),
    },
    ExpressionAttributeValues: {
      ':entity': PROTECTED_VOLUME_ENTITY,
      ':volumeId': volumeId,
      ':gpk': REGISTRY_BY_SERVER_KEY,
      ':gsk': registryServerSortKey(serverId ?? volumeId, volumeId),
      ...(serverId === undefined ? {} : { ':serverId': serverId }),
    },
  };
}

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
  'fullReadReason',
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

/** The FilterExpression that leaves out records being deleted. */
const LIVE_FILTER = 'attribute_not_exists(#status) OR #status <> :deleting';

function toRecord(item: Record<string, unknown>): ImageRecord {
  const record: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS) if (item[field] !== undefined) record[field] = item[field];
  // An operator's legal hold (dynamodb-lifecycle-images.ts setLegalHold): shown while it is set.
  if (item.legalHold === true) {
    record.legalHold = true;
    if (typeof item.legalHoldReason === 'string') record.legalHoldReason = item.legalHoldReason;
  }
  return record as unknown as ImageRecord;
}

/** Positions of the commit gate's checks in the commit transaction (after the four items). */
const FENCE_ITEM = 4;
const PARENT_ITEM = 5;

/**
 * Re-sends of unprocessed image keys and puts: six rounds, 25 ms doubled (25 .. 400 ms, 775 ms in
 * all), shorter than the catalog's: these calls sit in an API request or a backup step, and a
 * retryable ThrottledError lets the caller's own retry take over.
 */
const IMAGE_RESEND: ResendSchedule = { attempts: 6, baseDelayMs: 25 };

export class DynamoDbImageRecordStore implements ImageRecordStore {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  async putImageRecord(
    record: ImageRecord,
    conditions?: CommitConditions,
    lock?: HeldLockCondition,
    owner?: VolumeOwner,
  ): Promise<'created' | 'exists'> {
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
    // Last item (when given): the backup still holds its lock on the volume; a cancel releases the
    // lock before it stops the execution, so a commit after the cancel fails here.
    const lockItem = 4 + guards.length;
    const lockGuards =
      lock === undefined
        ? []
        : [
            {
              ConditionCheck: {
                TableName: this.tableName,
                Key: { pk: lockPartitionKey(lock.volumeId), sk: LOCK_SORT_KEY },
                ConditionExpression: 'ownerId = :owner',
                ExpressionAttributeValues: { ':owner': lock.ownerId },
              },
            },
          ];
    const written = await transactWrite(
      this.ddb,
      context,
      [
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
              lineageSk: lineageSortKey(record),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Put: {
            TableName: this.tableName,
            Item: {
              pk,
              sk: lineageSortKey(record),
              entity: IMAGE_LINEAGE_ENTITY,
              imageId: record.imageId,
              imageSk: imageSortKey(record),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Put: {
            TableName: this.tableName,
            // Unconditional: ids are unique across volumes by construction (they embed the
            // backup id); the guard above stays the uniqueness check, per volume, as always.
            Item: this.pointerItem(record.volumeId, record.imageId, imageSortKey(record)),
          },
        },
        ...guards,
        ...lockGuards,
        // Last: the volume in the protected-volume registry (no condition, so no index above moves).
        protectedVolumeUpdate(this.tableName, record.volumeId, owner),
      ],
      (cancelled) => {
        const failed = (index: number) => cancelled.at(index);
        // The record, its guard or lineage entry exists: a re-run of a commit that succeeded
        // (checked below). Items FENCE_ITEM and PARENT_ITEM are the commit gate's.
        if (failed(0) || failed(1) || failed(2)) return;
        if (conditions !== undefined && failed(FENCE_ITEM)) {
          throw new RetryableError(
            `image ${record.imageId}: a garbage collection took the fence while it committed; the commit is retried after it`,
            { context },
          );
        }
        if (failed(PARENT_ITEM) && conditions?.liveParent !== undefined) {
          throw new NotFoundError(
            `image ${record.imageId}: its parent ${conditions.liveParent.imageId} was deleted while it committed; run the backup again`,
            { context },
          );
        }
        if (lock !== undefined && failed(lockItem)) {
          throw new ConflictError(
            `image ${record.imageId}: its backup no longer holds the lock on ${lock.volumeId} (cancelled); not committed`,
            { context: { ...context, ownerId: lock.ownerId } },
          );
        }
      },
    );
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

  /**
   * Which of `images` are live (ImageLiveness): their guard items, then the records they point at,
   * each read with BatchGetItem (strongly consistent, 100 keys a request); live = a record that is
   * not `deleting`.
   */
  async liveImages(images: readonly { volumeId: string; imageId: string }[]): Promise<ReadonlySet<string>> {
    const guards = await batchGetItems(
      this.ddb,
      this.tableName,
      images.map(({ volumeId, imageId }) => ({
        pk: volumePartitionKey(volumeId),
        sk: imageIdSortKey(imageId),
      })),
    );
    const recordKeys = guards.flatMap((guard) =>
      typeof guard.imageSk === 'string' ? [{ pk: guard.pk as string, sk: guard.imageSk }] : [],
    );
    const live = new Set<string>();
    for (const item of await batchGetItems(this.ddb, this.tableName, recordKeys)) {
      if (isDeleting(item)) continue;
      const record = toRecord(item);
      live.add(`${record.volumeId}/${record.imageId}`);
    }
    return live;
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

  private pointerItem(volumeId: string, imageId: string, imageSk: string): Record<string, unknown> {
    return { ...imagePointerKey(imageId), entity: IMAGE_POINTER_ENTITY, volumeId, imageSk };
  }

  /** The live record at (volume, sort key), or undefined when it is gone or being deleted. */
  private async liveRecordAt(
    volumeId: string,
    imageSk: string,
    imageId: string,
  ): Promise<ImageRecord | undefined> {
    const item = await callSdk('GetItem', { volumeId, imageId }, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: volumePartitionKey(volumeId), sk: imageSk },
          ConsistentRead: true,
        }),
      ),
    );
    return item.Item === undefined || isDeleting(item.Item) ? undefined : toRecord(item.Item);
  }

  async findImageRecord(imageId: string): Promise<ImageRecord | undefined> {
    const pointed = await this.findByPointer(imageId);
    if (pointed !== 'no-pointer') return pointed;
    // Records from before pointers: GSI2 (and the pointer is written for the next lookup).
    const indexed = await this.findByIndex(imageId);
    if (indexed !== undefined) {
      await this.putPointer(indexed.volumeId, imageId, imageSortKey(indexed));
      return indexed;
    }
    // Records from before GSI2: the one-off backfill, then the pointer once more.
    if (await this.backfillPointers()) {
      const after = await this.findByPointer(imageId);
      return after === 'no-pointer' ? undefined : after;
    }
    return undefined;
  }

  /** Two GetItems: the pointer, then the record it names. */
  private async findByPointer(imageId: string): Promise<ImageRecord | undefined | 'no-pointer'> {
    const pointer = await callSdk('GetItem (image pointer)', { imageId }, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: imagePointerKey(imageId), ConsistentRead: true }),
      ),
    );
    const volumeId: unknown = pointer.Item?.volumeId;
    const imageSk: unknown = pointer.Item?.imageSk;
    if (typeof volumeId !== 'string' || typeof imageSk !== 'string') return 'no-pointer';
    return this.liveRecordAt(volumeId, imageSk, imageId);
  }

  private async findByIndex(imageId: string): Promise<ImageRecord | undefined> {
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

  /** Writes a pointer unless one exists (idempotent: a pointer's content follows from its record). */
  private async putPointer(volumeId: string, imageId: string, imageSk: string): Promise<void> {
    // A refused condition: the pointer exists already.
    await conditionalWrite('PutItem (image pointer)', { volumeId, imageId }, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.pointerItem(volumeId, imageId, imageSk),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  /**
   * Gives every image record a pointer, once per table: a Scan for records (only their keys and
   * ids are read), a pointer for each, then the marker. False when the marker says it was done
   * already, so an unknown id costs the marker's GetItem and nothing more. A backfill cut short
   * (a timeout) runs again from the start on the next miss; pointers it wrote are kept.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html
   */
  async backfillPointers(): Promise<boolean> {
    const marker = await callSdk('GetItem (backfill marker)', {}, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: POINTER_BACKFILL_MARKER_KEY, ConsistentRead: true }),
      ),
    );
    if (marker.Item !== undefined) return false;
    let startKey: Record<string, unknown> | undefined;
    let pointers = 0;
    do {
      const exclusiveStart = startKey;
      const page = await callSdk('Scan (image records)', {}, () =>
        this.ddb.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: '#entity = :image',
            ProjectionExpression: '#pk, #sk, #entity, #volumeId, #imageId',
            ExpressionAttributeNames: {
              '#pk': 'pk',
              '#sk': 'sk',
              '#entity': 'entity',
              '#volumeId': 'volumeId',
              '#imageId': 'imageId',
            },
            ExpressionAttributeValues: { ':image': IMAGE_RECORD_ENTITY },
            ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        if (typeof item.volumeId !== 'string' || typeof item.imageId !== 'string') continue;
        await this.putPointer(item.volumeId, item.imageId, String(item.sk));
        pointers += 1;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    await callSdk('PutItem (backfill marker)', {}, () =>
      this.ddb.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...POINTER_BACKFILL_MARKER_KEY, entity: 'image-pointer-backfill', pointers },
        }),
      ),
    );
    return true;
  }

  private recordsQuery(volumeId: string, query: Omit<ImageRecordQuery, 'limit' | 'token'>) {
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {
      ':pk': volumePartitionKey(volumeId),
      ':lo': `IMAGE#${query.from ?? ''}`,
      ':hi': `IMAGE#${query.to === undefined ? KEY_RANGE_END : `${query.to}#${KEY_RANGE_END}`}`,
      ':deleting': IMAGE_STATUS_DELETING,
    };
    let filter = `(${LIVE_FILTER})`;
    if (query.kind !== undefined) {
      names['#kind'] = 'kind';
      values[':kind'] = query.kind;
      filter += ' AND #kind = :kind';
    }
    return {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      FilterExpression: filter,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: query.newestFirst !== true,
      ConsistentRead: true,
    };
  }

  async listImageRecords(volumeId: string): Promise<ImageRecord[]> {
    const items = await this.pager.queryAll('Query', { volumeId }, this.recordsQuery(volumeId, {}));
    return items.map(toRecord);
  }

  async pageImageRecords(volumeId: string, query: ImageRecordQuery): Promise<ImageRecordPage> {
    const page = await this.pager.queryPage('Query', { volumeId }, this.recordsQuery(volumeId, query), query);
    const records = page.items.map(toRecord);
    return page.nextToken === undefined ? { records } : { records, nextToken: page.nextToken };
  }

  async countImageRecords(volumeId: string): Promise<number> {
    return this.pager.count('Query (count)', { volumeId }, this.recordsQuery(volumeId, {}));
  }

  async latestImageRecord(
    volumeId: string,
    source: ImageSource,
    excludeImageId?: string,
  ): Promise<ImageRecord | undefined> {
    // Newest lineage entry first, one at a time: the first live one that is not excluded wins.
    let token: string | undefined;
    do {
      const page = await this.pager.queryPage(
        'Query (lineage)',
        { volumeId, source },
        {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :lineage)',
          ExpressionAttributeValues: {
            ':pk': volumePartitionKey(volumeId),
            ':lineage': lineagePrefix(source),
          },
          ScanIndexForward: false,
          ConsistentRead: true,
        },
        { limit: 1, token },
      );
      for (const entry of page.items) {
        if (entry.imageId === excludeImageId || typeof entry.imageSk !== 'string') continue;
        const record = await this.liveRecordAt(volumeId, entry.imageSk, String(entry.imageId));
        if (record !== undefined) return record;
      }
      token = page.nextToken;
    } while (token !== undefined);
    // Records older than lineage entries (or a source's first image): the records, newest first,
    // LEGACY_PAGE_ITEMS examined per request with the source and the exclusion filtered in DynamoDB.
    const base = this.recordsQuery(volumeId, { newestFirst: true });
    const input = {
      ...base,
      FilterExpression: `${base.FilterExpression} AND (${
        source === 'replica' ? 'attribute_not_exists(#source) OR ' : ''
      }#source = :source) AND #imageId <> :exclude`,
      ExpressionAttributeNames: {
        ...base.ExpressionAttributeNames,
        '#source': 'source',
        '#imageId': 'imageId',
      },
      ExpressionAttributeValues: {
        ...base.ExpressionAttributeValues,
        ':source': source,
        ':exclude': excludeImageId ?? '',
      },
    };
    let startKey: Record<string, unknown> | undefined;
    do {
      const exclusiveStart = startKey;
      const page = await callSdk('Query (records of a lineage)', { volumeId, source }, () =>
        this.ddb.send(
          new QueryCommand({
            ...input,
            Limit: LEGACY_PAGE_ITEMS,
            ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
          }),
        ),
      );
      const found = page.Items?.[0];
      if (found !== undefined) return toRecord(found);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return undefined;
  }
}

/**
 * The items of `keys` that exist in `tableName` (duplicates read once), in no particular order:
 * BatchGetItem, strongly consistent, BATCH_GET_ITEMS keys a request (the API's limit), unprocessed
 * keys asked again with backoff (IMAGE_RESEND).
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
 */
export async function batchGetItems(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly { pk: string; sk: string }[],
): Promise<Record<string, unknown>[]> {
  const unique = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < unique.length; i += BATCH_GET_ITEMS) {
    await resendUnprocessed<Record<string, unknown>>(
      unique.slice(i, i + BATCH_GET_ITEMS),
      async (asking) => {
        const got = await callSdk('BatchGetItem', { table: tableName }, () =>
          ddb.send(
            new BatchGetCommand({
              RequestItems: { [tableName]: { Keys: asking, ConsistentRead: true } },
            }),
          ),
        );
        out.push(...(got.Responses?.[tableName] ?? []));
        return got.UnprocessedKeys?.[tableName]?.Keys ?? [];
      },
      (left) =>
        new ThrottledError(`DynamoDB BatchGetItem left ${left.length} image keys unprocessed`, {
          context: { table: tableName, unprocessed: left.length },
        }),
      sleepMs,
      IMAGE_RESEND,
    );
  }
  return out;
}

/**
 * Puts `items` in `tableName` with BatchWriteItem, BATCH_WRITE_ITEMS a request (the API's limit),
 * unprocessed items sent again with backoff (IMAGE_RESEND). Returns the requests sent (for a
 * caller's budget).
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */
export async function batchPutItems(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<number> {
  let requests = 0;
  for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) {
    requests += await batchWrite(
      ddb,
      tableName,
      items.slice(i, i + BATCH_WRITE_ITEMS).map((Item) => ({ PutRequest: { Item } })),
      {
        exhausted: (left) =>
          new ThrottledError(`DynamoDB BatchWriteItem left ${left.length} puts unprocessed`, {
            context: { table: tableName, unprocessed: left.length },
          }),
        schedule: IMAGE_RESEND,
      },
    );
  }
  return requests;
}
