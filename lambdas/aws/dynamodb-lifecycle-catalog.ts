/**
 * DynamoDB adapter of the catalog-pruning port (lambdas/core/lifecycle/catalog-pruning.ts) over the
 * catalog's items (docs/catalog.md, "Items and keys"):
 *
 * - a volume's version items are read from the name-search index GSI3 (partition key `volumeId`,
 *   sort key `name`), which holds every version item of the volume with its table keys, `version`
 *   and `removed`: all items of one name are contiguous there, whatever their directory, so the core
 *   can decide one name at a time without knowing the volume's directories. A GSI is eventually
 *   consistent; an item written a moment ago that the Query does not return yet is not deleted, and
 *   its absence only makes older items of its entry look needed longer (kept, never wrongly pruned);
 * - version items are deleted with BatchWriteItem (25 per request, UnprocessedItems re-sent);
 *   GSI1 and GSI3 follow their table items;
 * - an image catalog record is `CI#<volumeId>` / `<versionKey>`, its applications `CA#<volumeId>#<imageId>`.
 *
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Reads
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import {
  NAME_SEARCH_INDEX_NAME,
  applicationPartitionKey,
  imageCatalogPartitionKey,
} from '../core/catalog/catalog-keys.ts';
import { ThrottledError } from '../core/errors.ts';
import {
  CATALOG_DELETE_BATCH_ITEMS,
  type CatalogItemKey,
  type CatalogPruningStore,
  type CatalogVersionPage,
  type ImageCatalogRef,
} from '../core/lifecycle/catalog-pruning.ts';
import { batchWrite, sleepMs, type Sleep } from './dynamodb-batch-write.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk } from './sdk-errors.ts';

/** Items per GSI3 page: one Query answers at most 1 MB anyway; the core holds one name's items. */
const VERSION_PAGE_ITEMS = 1000;

export class DynamoDbLifecycleCatalog implements CatalogPruningStore {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly sleep: Sleep = sleepMs,
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  async listVersionItems(volumeId: string, cursor: string | undefined): Promise<CatalogVersionPage> {
    const page = await this.pager.queryPage(
      'Query',
      { table: this.tableName, index: NAME_SEARCH_INDEX_NAME, volumeId },
      {
        TableName: this.tableName,
        IndexName: NAME_SEARCH_INDEX_NAME,
        KeyConditionExpression: '#v = :v',
        ProjectionExpression: '#pk, #sk, #n, #version, #removed, #kind',
        ExpressionAttributeNames: {
          '#v': 'volumeId',
          '#pk': 'pk',
          '#sk': 'sk',
          '#n': 'name',
          '#version': 'version',
          '#removed': 'removed',
          '#kind': 'kind',
        },
        ExpressionAttributeValues: { ':v': volumeId },
      },
      { limit: VERSION_PAGE_ITEMS, token: cursor },
      (item) => item.kind === 'fileVersion',
    );
    return {
      items: page.items.map((item) => ({
        pk: String(item.pk),
        sk: String(item.sk),
        name: String(item.name),
        versionKey: String(item.version),
        removed: item.removed === true,
      })),
      ...(page.nextToken === undefined ? {} : { cursor: page.nextToken }),
    };
  }

  async deleteItems(keys: readonly CatalogItemKey[]): Promise<void> {
    await batchWrite(
      this.ddb,
      this.tableName,
      keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } })),
      {
        exhausted: (left) =>
          new ThrottledError(`DynamoDB BatchWriteItem left ${left.length} catalog deletes unprocessed`, {
            context: { table: this.tableName, unprocessed: left.length },
          }),
        sleep: this.sleep,
      },
    );
  }

  async listImageCatalogs(volumeId: string): Promise<ImageCatalogRef[]> {
    const items = await this.pager.queryAll(
      'Query',
      { table: this.tableName, volumeId },
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ProjectionExpression: '#sk, #imageId',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#imageId': 'imageId' },
        ExpressionAttributeValues: { ':pk': imageCatalogPartitionKey(volumeId) },
        ConsistentRead: true,
      },
    );
    return items.map((item) => ({ versionKey: String(item.sk), imageId: String(item.imageId) }));
  }

  async deleteImageCatalog(volumeId: string, catalog: ImageCatalogRef): Promise<void> {
    const pk = applicationPartitionKey(volumeId, catalog.imageId);
    const applications = await this.pager.queryAll(
      'Query',
      { table: this.tableName, volumeId, imageId: catalog.imageId },
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ProjectionExpression: '#pk, #sk',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      },
    );
    for (let i = 0; i < applications.length; i += CATALOG_DELETE_BATCH_ITEMS) {
      await this.deleteItems(
        applications
          .slice(i, i + CATALOG_DELETE_BATCH_ITEMS)
          .map((item) => ({ pk: String(item.pk), sk: String(item.sk) })),
      );
    }
    // The record last: while it exists, the next pruning of the volume finds work left.
    await callSdk('DeleteItem', { table: this.tableName, volumeId, imageId: catalog.imageId }, () =>
      this.ddb.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: imageCatalogPartitionKey(volumeId), sk: catalog.versionKey },
        }),
      ),
    );
  }
}
