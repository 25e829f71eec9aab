/**
 * DynamoDB adapter of the RecoveryPointStore port (single table; docs/recovery-points.md):
 *
 *   pk RP#<recoveryPointId>   sk RP                                  the record (one GetItem by id)
 *   pk RP#SERVER#<serverId>   sk AT#<createdAt>#<recoveryPointId>     the same record (a Query lists a server's points in time order)
 *
 *   pk RP#IMAGE#<volumeId>#<imageId>  sk RP                         which point names the image (`recoveryPointId`)
 *   pk RP#DETACHED            sk <volumeId>#<imageId>                 an image taken out of its point whose deletion is not finished
 *   pk RP#BACKFILL            sk IMAGE-INDEX                          where the index backfill of older points stands
 *
 * The record and its server item are written in one transaction, each conditional on not existing,
 * so a recovery point id can never get a second record and the listing never shows a point that GET
 * cannot find; each image's item is put just before (one PutItem per image: a transaction holds at
 * most 100 items and a point up to MAX_SERVER_VOLUMES images), so every stored point's images can
 * be found by id. The record is kept as one JSON attribute (`record`), with `version` beside it.
 *
 * Detaching an image (before it is deleted) is one transaction: the record and server item narrowed
 * (or deleted with the last image), conditional on the record being the one read, the image's item
 * deleted and its RP#DETACHED item put; a concurrent detach of another image of the same point
 * fails the condition and is re-read and retried.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { IntegrityError, RetryableError } from '../core/errors.ts';
import type {
  DetachedImage,
  IndexBackfillBudget,
  RecoveryPoint,
  RecoveryPointImageRef,
  RecoveryPointStore,
} from '../core/recovery-points/recovery-points.ts';
import {
  RECOVERY_POINT_ID_PREFIX,
  byImageRef,
  imageRefKey,
  namesImage,
  readRecoveryPoint,
  recoveryPointErrors,
  sameRecoveryPoint,
  storedPoint,
  withoutImage,
} from '../core/recovery-points/recovery-points.ts';
import { BATCH_GET_ITEMS } from './dynamodb-batch-write.ts';
import { batchGetItems, batchPutItems } from './dynamodb-image-records.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { transactWrite } from './dynamodb-transactions.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';

/** The `entity` attribute of each kind of item of this store (the key layout above). */
export const RECOVERY_POINT_ENTITIES = {
  record: 'recovery-point',
  ofServer: 'recovery-point-of-server',
  image: 'recovery-point-image',
  detached: 'recovery-point-detached',
  backfill: 'recovery-point-index-backfill',
} as const;
/**
 * Where the image index backfill keeps its position (`next`: the Scan's LastEvaluatedKey) until it
 * is `done`: points written before points indexed their images get their RP#IMAGE items once.
 */
const BACKFILL_MARKER_KEY = { pk: 'RP#BACKFILL', sk: 'IMAGE-INDEX' };
/**
 * Reads and conditional writes of one detach before giving up: each retry follows a concurrent
 * detach of another image of the same point, and a point has at most MAX_SERVER_VOLUMES images.
 */
const DETACH_ATTEMPTS = 8;
/**
 * Items one Scan page of the index backfill evaluates (its Limit): at most this many point records
 * read (one BatchGetItem of BATCH_GET_ITEMS) and their images' index items written per page, so a
 * page costs a few requests and its position is saved often.
 */
export const BACKFILL_SCAN_ITEMS = 100;
/** The key prefix of every item of this store (the IAM `dynamodb:LeadingKeys` pattern is `RP#*`). */
export const RECOVERY_POINT_KEY_PREFIX = 'RP#';

export function recoveryPointKey(recoveryPointId: string): { pk: string; sk: string } {
  return { pk: `${RECOVERY_POINT_KEY_PREFIX}${recoveryPointId}`, sk: 'RP' };
}

export function serverRecoveryPointKey(
  point: Pick<RecoveryPoint, 'serverId' | 'createdAt' | 'recoveryPointId'>,
): {
  pk: string;
  sk: string;
} {
  return {
    pk: serverPartitionKey(point.serverId),
    sk: `AT#${point.createdAt}#${point.recoveryPointId}`,
  };
}

export function recoveryPointImageKey(image: RecoveryPointImageRef): { pk: string; sk: string } {
  return { pk: `${RECOVERY_POINT_KEY_PREFIX}IMAGE#${image.volumeId}#${image.imageId}`, sk: 'RP' };
}

/** The one partition of detached images (few at a time: each lives only while its deletion runs). */
const DETACHED_PARTITION = `${RECOVERY_POINT_KEY_PREFIX}DETACHED`;

export function detachedImageKey(image: RecoveryPointImageRef): { pk: string; sk: string } {
  return { pk: DETACHED_PARTITION, sk: `${image.volumeId}#${image.imageId}` };
}

/** The RP#DETACHED item of an image (its point's id added when a detach found one). */
function detachedItem(image: RecoveryPointImageRef): Record<string, unknown> {
  return {
    ...detachedImageKey(image),
    entity: RECOVERY_POINT_ENTITIES.detached,
    volumeId: image.volumeId,
    imageId: image.imageId,
  };
}

function serverPartitionKey(serverId: string): string {
  return `${RECOVERY_POINT_KEY_PREFIX}SERVER#${serverId}`;
}

function recordOfItem(recoveryPointId: string, item: Record<string, unknown>): RecoveryPoint {
  const text = item.record;
  let raw: unknown;
  try {
    raw = typeof text === 'string' ? JSON.parse(text) : undefined;
  } catch {
    raw = undefined;
  }
  return readRecoveryPoint(recoveryPointId, raw);
}

function pointOfServerItem(item: Record<string, unknown>): RecoveryPoint {
  const sk = String(item.sk);
  return recordOfItem(sk.slice(sk.lastIndexOf('#') + 1), item);
}

export class DynamoDbRecoveryPointStore implements RecoveryPointStore {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly options: { readonly backfillScanItems: number } = {
      backfillScanItems: BACKFILL_SCAN_ITEMS,
    },
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  private serverQuery(serverId: string, newestFirst: boolean) {
    return {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :at)',
      ExpressionAttributeValues: { ':pk': serverPartitionKey(serverId), ':at': 'AT#' },
      ScanIndexForward: !newestFirst,
      ConsistentRead: true,
    };
  }

  async put(point: RecoveryPoint): Promise<'created' | 'exists'> {
    const context = { recoveryPointId: point.recoveryPointId, serverId: point.serverId };
    const attributes = { version: point.version, record: JSON.stringify(point) };
    for (const image of point.images) {
      await callSdk('PutItem', { ...context, volumeId: image.volumeId, imageId: image.imageId }, () =>
        this.ddb.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...recoveryPointImageKey(image),
              entity: RECOVERY_POINT_ENTITIES.image,
              recoveryPointId: point.recoveryPointId,
            },
          }),
        ),
      );
    }
    const written = await transactWrite(this.ddb, context, [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...recoveryPointKey(point.recoveryPointId),
            entity: RECOVERY_POINT_ENTITIES.record,
            ...attributes,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...serverRecoveryPointKey(point),
            entity: RECOVERY_POINT_ENTITIES.ofServer,
            ...attributes,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
    if (written) return 'created';
    const existing = await storedPoint(this, point.recoveryPointId);
    if (existing !== undefined && sameRecoveryPoint(existing, point)) return 'exists';
    throw recoveryPointErrors.different(point.recoveryPointId);
  }

  async get(recoveryPointId: string): Promise<RecoveryPoint> {
    const found = await this.getItem(recoveryPointKey(recoveryPointId), { recoveryPointId });
    if (found === undefined) throw recoveryPointErrors.missing(recoveryPointId);
    return recordOfItem(recoveryPointId, found);
  }

  async listByServer(serverId: string): Promise<RecoveryPoint[]> {
    const items = await this.pager.queryAll('Query', { serverId }, this.serverQuery(serverId, false));
    return items.map(pointOfServerItem);
  }

  async pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{ readonly points: RecoveryPoint[]; readonly nextToken?: string }> {
    const found = await this.pager.queryPage('Query', { serverId }, this.serverQuery(serverId, true), page);
    const points = found.items.map(pointOfServerItem);
    return found.nextToken === undefined ? { points } : { points, nextToken: found.nextToken };
  }

  async detachImage(
    image: RecoveryPointImageRef,
    servers: readonly string[] = [],
  ): Promise<DetachedImage | undefined> {
    const context = { volumeId: image.volumeId, imageId: image.imageId };
    // The mark first, before looking for the point: a commit that writes a point naming the image
    // after the look below reads this mark and takes the image out itself.
    await callSdk('PutItem', context, () =>
      this.ddb.send(new PutCommand({ TableName: this.tableName, Item: detachedItem(image) })),
    );
    for (let attempt = 0; attempt < DETACH_ATTEMPTS; attempt += 1) {
      const index = await this.getItem(recoveryPointImageKey(image), context);
      const indexed: unknown = index?.recoveryPointId;
      // No index item: a point written before points indexed their images, found among `servers`'.
      const recoveryPointId = typeof indexed === 'string' ? indexed : await this.pointNaming(image, servers);
      if (recoveryPointId === undefined) return undefined;
      const found = await this.getItem(recoveryPointKey(recoveryPointId), { ...context, recoveryPointId });
      const point = found === undefined ? undefined : recordOfItem(recoveryPointId, found);
      if (point === undefined || !namesImage(point, image)) {
        // An item left by a commit that never wrote its record, or by a detach: nothing names it.
        if (index !== undefined)
          await this.deleteItem(recoveryPointImageKey(image), { ...context, recoveryPointId });
        return undefined;
      }
      const detached = await this.narrowPoint(point, found!, image, [
        { Put: { TableName: this.tableName, Item: { ...detachedItem(image), recoveryPointId } } },
      ]);
      if (detached !== undefined) return detached;
    }
    throw new RetryableError(
      `image ${image.imageId} of ${image.volumeId}: its recovery point changed under each of ${DETACH_ATTEMPTS} attempts to detach it; the image stays recorded as detached and the next expiry finishes its deletion`,
      { context },
    );
  }

  async detachFromPoint(
    recoveryPointId: string,
    image: RecoveryPointImageRef,
  ): Promise<DetachedImage | undefined> {
    const context = { volumeId: image.volumeId, imageId: image.imageId, recoveryPointId };
    for (let attempt = 0; attempt < DETACH_ATTEMPTS; attempt += 1) {
      const found = await this.getItem(recoveryPointKey(recoveryPointId), context);
      const point = found === undefined ? undefined : recordOfItem(recoveryPointId, found);
      if (point === undefined || !namesImage(point, image)) {
        // A re-run commit re-puts the image's index item after a deletion took the image out:
        // delete it, but only while it still names this point (another point may name it now).
        await this.deleteIndexItemNaming(image, recoveryPointId, context);
        return undefined;
      }
      const detached = await this.narrowPoint(point, found!, image, []);
      if (detached !== undefined) return detached;
    }
    throw new RetryableError(
      `image ${image.imageId} of ${image.volumeId}: recovery point ${recoveryPointId} changed under each of ${DETACH_ATTEMPTS} attempts to take the image out; the commit is retried`,
      { context },
    );
  }

  async pointsOfImages(
    images: readonly RecoveryPointImageRef[],
  ): Promise<ReadonlyMap<string, RecoveryPoint>> {
    const index = await batchGetItems(this.ddb, this.tableName, images.map(recoveryPointImageKey));
    const ids = [
      ...new Set(
        index.flatMap((item) => (typeof item.recoveryPointId === 'string' ? [item.recoveryPointId] : [])),
      ),
    ];
    const records = await batchGetItems(this.ddb, this.tableName, ids.map(recoveryPointKey));
    const points = records.map((item) => {
      const pk = String(item.pk);
      return recordOfItem(pk.slice(RECOVERY_POINT_KEY_PREFIX.length), item);
    });
    const found = new Map<string, RecoveryPoint>();
    // An index item whose point no longer names the image (left by a detach or a backfill) counts for nothing.
    for (const image of images) {
      const point = points.find((p) => namesImage(p, image));
      if (point !== undefined) found.set(imageRefKey(image), point);
    }
    return found;
  }

  async backfillImageIndex(
    budget: IndexBackfillBudget,
  ): Promise<{ readonly done: boolean; readonly indexed: number }> {
    const context = { pass: 'image-index-backfill' };
    const marker = await this.getItem(BACKFILL_MARKER_KEY, context);
    if (marker?.done === true) return { done: true, indexed: 0 };
    let next: Record<string, unknown> | undefined =
      typeof marker?.next === 'string' ? (JSON.parse(marker.next) as Record<string, unknown>) : undefined;
    let indexed = 0;
    let requests = 1;
    for (let page = 0; page < budget.pages && requests < budget.requests; page += 1) {
      // Keys only (the grant allows no other attribute): the records are then read by id. Limit
      // bounds the items a page evaluates, so one page's reads and writes are bounded too.
      const startKey = next;
      const found = await callSdk('Scan', context, () =>
        this.ddb.send(
          new ScanCommand({
            TableName: this.tableName,
            ProjectionExpression: 'pk, sk',
            FilterExpression: 'begins_with(pk, :points) AND sk = :record',
            ExpressionAttributeValues: {
              ':points': `${RECOVERY_POINT_KEY_PREFIX}${RECOVERY_POINT_ID_PREFIX}`,
              ':record': 'RP',
            },
            Limit: this.options.backfillScanItems,
            ConsistentRead: true,
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          }),
        ),
      );
      const keys = (found.Items ?? []).map((key) => ({ pk: String(key.pk), sk: String(key.sk) }));
      const records = await batchGetItems(this.ddb, this.tableName, keys);
      const indexItems = records.flatMap((item) => {
        const recoveryPointId = String(item.pk).slice(RECOVERY_POINT_KEY_PREFIX.length);
        try {
          return recordOfItem(recoveryPointId, item).images.map((image) => ({
            ...recoveryPointImageKey(image),
            entity: RECOVERY_POINT_ENTITIES.image,
            recoveryPointId,
          }));
        } catch (error) {
          // A record this code cannot read (an unknown version) is shown as an error where it is
          // read; it does not stop the backfill of the others.
          if (error instanceof IntegrityError) return [];
          throw error;
        }
      });
      requests += 1 + Math.ceil(keys.length / BATCH_GET_ITEMS);
      requests += await batchPutItems(this.ddb, this.tableName, indexItems);
      indexed += indexItems.length;
      next = found.LastEvaluatedKey;
      const done = next === undefined;
      await callSdk('PutItem', context, () =>
        this.ddb.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...BACKFILL_MARKER_KEY,
              entity: RECOVERY_POINT_ENTITIES.backfill,
              done,
              ...(done ? {} : { next: JSON.stringify(next) }),
            },
          }),
        ),
      );
      requests += 1;
      if (done) return { done: true, indexed };
    }
    return { done: false, indexed };
  }

  async detachedAmong(images: readonly RecoveryPointImageRef[]): Promise<ReadonlySet<string>> {
    const items = await batchGetItems(this.ddb, this.tableName, images.map(detachedImageKey));
    return new Set(
      items.map((item) => imageRefKey({ volumeId: String(item.volumeId), imageId: String(item.imageId) })),
    );
  }

  /**
   * One transaction, conditional on the record being `found` (the item just read): the point
   * narrowed to its other images, or removed with its last; the image's index item deleted;
   * `more` written with them. Undefined when the record changed meanwhile (read it again).
   */
  private async narrowPoint(
    point: RecoveryPoint,
    found: Record<string, unknown>,
    image: RecoveryPointImageRef,
    more: readonly Record<string, unknown>[],
  ): Promise<DetachedImage | undefined> {
    const recoveryPointId = point.recoveryPointId;
    const narrowed = withoutImage(point, image);
    const unchanged = { ':old': found.record };
    const pointWrites =
      narrowed === undefined
        ? [
            {
              Delete: {
                TableName: this.tableName,
                Key: recoveryPointKey(recoveryPointId),
                ConditionExpression: '#record = :old',
                ExpressionAttributeNames: { '#record': 'record' },
                ExpressionAttributeValues: unchanged,
              },
            },
            { Delete: { TableName: this.tableName, Key: serverRecoveryPointKey(point) } },
          ]
        : [
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...recoveryPointKey(recoveryPointId),
                  entity: RECOVERY_POINT_ENTITIES.record,
                  version: narrowed.version,
                  record: JSON.stringify(narrowed),
                },
                ConditionExpression: '#record = :old',
                ExpressionAttributeNames: { '#record': 'record' },
                ExpressionAttributeValues: unchanged,
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...serverRecoveryPointKey(point),
                  entity: RECOVERY_POINT_ENTITIES.ofServer,
                  version: narrowed.version,
                  record: JSON.stringify(narrowed),
                },
              },
            },
          ];
    const context = { volumeId: image.volumeId, imageId: image.imageId, recoveryPointId };
    const written = await transactWrite(this.ddb, context, [
      ...pointWrites,
      { Delete: { TableName: this.tableName, Key: recoveryPointImageKey(image) } },
      ...more,
    ]);
    if (!written) return undefined;
    return { recoveryPointId, outcome: narrowed === undefined ? 'removed' : 'narrowed' };
  }

  /** The id of the first point of `servers` (one Query each) that names the image. */
  private async pointNaming(
    image: RecoveryPointImageRef,
    servers: readonly string[],
  ): Promise<string | undefined> {
    for (const serverId of servers) {
      const point = (await this.listByServer(serverId)).find((p) => namesImage(p, image));
      if (point !== undefined) return point.recoveryPointId;
    }
    return undefined;
  }

  async listDetached(): Promise<RecoveryPointImageRef[]> {
    const items = await this.pager.queryAll(
      'Query',
      { partition: DETACHED_PARTITION },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': DETACHED_PARTITION },
        ConsistentRead: true,
      },
    );
    return items
      .map((item) => ({ volumeId: String(item.volumeId), imageId: String(item.imageId) }))
      .sort(byImageRef);
  }

  async clearDetached(image: RecoveryPointImageRef): Promise<void> {
    await this.deleteItem(detachedImageKey(image), { volumeId: image.volumeId, imageId: image.imageId });
  }

  private async getItem(
    key: { pk: string; sk: string },
    context: Record<string, string>,
  ): Promise<Record<string, unknown> | undefined> {
    const found = await callSdk('GetItem', context, () =>
      this.ddb.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
    );
    return found.Item;
  }

  private async deleteIndexItemNaming(
    image: RecoveryPointImageRef,
    recoveryPointId: string,
    context: Record<string, string>,
  ): Promise<void> {
    // A refused condition: absent, or naming another point, so not this point's to delete.
    await conditionalWrite('DeleteItem (index item)', context, () =>
      this.ddb.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: recoveryPointImageKey(image),
          ConditionExpression: 'recoveryPointId = :id',
          ExpressionAttributeValues: { ':id': recoveryPointId },
        }),
      ),
    );
  }

  private async deleteItem(key: { pk: string; sk: string }, context: Record<string, string>): Promise<void> {
    await callSdk('DeleteItem', context, () =>
      this.ddb.send(new DeleteCommand({ TableName: this.tableName, Key: key })),
    );
  }
}
