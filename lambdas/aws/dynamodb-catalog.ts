/**
 * The catalog on DynamoDB (docs/catalog.md): version items in the single table (pk/sk) with the
 * name index on GSI `gsi1` (gsi1pk/gsi1sk, projection ALL), image catalog records and application
 * records beside them. Implements the CatalogStore port; SDK errors become product errors.
 */
import type { NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { ApplicationRecord } from '../core/catalog/applications.ts';
import { keysOf } from '../core/catalog/catalog-item-keys.ts';
import {
  applicationPartitionKey,
  applicationSortKey,
  directoryPartitionKey,
  imageCatalogPartitionKey,
  NAME_SEARCH_INDEX_NAME,
  nameIndexPartitionKey,
  namePrefix,
  treePartitionKey,
  versionSortKey,
} from '../core/catalog/catalog-keys.ts';
import type { TreePage } from '../core/catalog/catalog-trees.ts';
import type {
  CatalogStore,
  DirectoryPage,
  DirectoryQuery,
  NamePage,
  NameQuery,
  NameSearchHit,
  NameSearchPage,
  NameSearchQuery,
} from '../core/catalog/catalog-store.ts';
import type { CatalogItem, FileMeta, ImageCatalogRecord, ImageRef } from '../core/catalog/catalog-types.ts';
import { CATALOG_FORMAT_VERSION, READABLE_CATALOG_FORMAT_VERSIONS } from '../core/catalog/catalog-types.ts';
import { IntegrityError, ThrottledError } from '../core/errors.ts';
import type { Timestamp } from '../core/fs/index.ts';
import { translateSdkError } from './sdk-errors.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import {
  BATCH_GET_ITEMS,
  BATCH_WRITE_ITEMS,
  batchWrite,
  resendUnprocessed,
  sleepMs,
  type WriteRequest,
} from './dynamodb-batch-write.ts';

/** The name-index GSI as lib/ defines it (GSI1: gsi1pk/gsi1sk strings, projection ALL). */
export const NAME_INDEX_NAME = 'GSI1';

type Item = Record<string, NativeAttributeValue>;

export interface DynamoDbCatalogStoreOptions {
  readonly sleep?: (ms: number) => Promise<void>;
}

function ts(prefix: string, t: Timestamp | undefined): Item {
  return t === undefined ? {} : { [`${prefix}S`]: t.seconds, [`${prefix}Ns`]: t.nanoseconds };
}

function readTs(item: Item, prefix: string): Timestamp | undefined {
  const seconds = item[`${prefix}S`] as unknown;
  const nanoseconds = item[`${prefix}Ns`] as unknown;
  return typeof seconds === 'number' && typeof nanoseconds === 'number'
    ? { seconds, nanoseconds }
    : undefined;
}

/**
 * The key condition and filter of a directory Query. With a name and a version bound the bound is
 * part of the key condition: `sk BETWEEN "<name>/" AND "<name>/<bound>"` holds exactly the name's
 * versions up to the bound (every sort key between two keys that start with "<name>/" starts with
 * it too, and versions sort as text), so DynamoDB reads none of the later versions: a Query's read
 * units follow the items the key condition matches, before any FilterExpression
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html).
 * BETWEEN is inclusive; an exclusive bound keeps the filter, which then drops at most the one
 * version equal to the bound. Without a name the versions of different names interleave in sort
 * order, so the bound can only be a filter (docs/catalog.md, "Reading at a version").
 */
function directoryConditions(
  pk: string,
  query: DirectoryQuery,
): { keyCondition: string; filter?: string; names: Record<string, string>; values: Item } {
  const names: Record<string, string> = { '#pk': 'pk' };
  const values: Item = { ':pk': pk };
  let keyCondition = '#pk = :pk';
  const bound = query.upTo;
  if (query.name !== undefined) {
    names['#sk'] = 'sk';
    values[':prefix'] = namePrefix(query.name);
    if (bound === undefined) {
      keyCondition += ' AND begins_with(#sk, :prefix)';
    } else {
      values[':last'] = versionSortKey(query.name, bound.version);
      keyCondition += ' AND #sk BETWEEN :prefix AND :last';
    }
  }
  if (bound === undefined || (query.name !== undefined && bound.inclusive)) {
    return { keyCondition, names, values };
  }
  names['#version'] = 'version';
  values[':version'] = bound.version;
  const filter = bound.inclusive ? '#version <= :version' : '#version < :version';
  return { keyCondition, filter, names, values };
}

export function toCatalogDbItem(item: CatalogItem): Item {
  const meta = item.meta;
  return {
    ...keysOf(item),
    kind: 'fileVersion',
    fmt: CATALOG_FORMAT_VERSION,
    volumeId: item.volumeId,
    partition: item.partition,
    dir: item.dir,
    name: item.name,
    path: item.path,
    version: item.version,
    imageId: item.imageId,
    createdAt: item.createdAt,
    ...(item.removed === true ? { removed: true } : {}),
    ...(meta === undefined
      ? {}
      : {
          type: meta.type,
          inode: meta.inode,
          size: meta.size,
          mode: meta.mode,
          uid: meta.uid,
          gid: meta.gid,
          nlink: meta.nlink,
          ...ts('mtime', meta.mtime),
          ...ts('ctime', meta.ctime),
          ...ts('atime', meta.atime),
          ...ts('crtime', meta.crtime),
          ...(meta.symlinkTarget === undefined ? {} : { target: meta.symlinkTarget }),
          ...(meta.device === undefined ? {} : { devMajor: meta.device.major, devMinor: meta.device.minor }),
          ...(meta.windowsAttributes === undefined ? {} : { winAttr: meta.windowsAttributes }),
          ...(meta.shortName === undefined ? {} : { shortName: meta.shortName }),
          ...(meta.streams === undefined
            ? {}
            : { streams: meta.streams.map((stream) => ({ name: stream.name, size: stream.size })) }),
          ...(meta.reparseTag === undefined ? {} : { reparseTag: meta.reparseTag }),
          ...(meta.encrypted === true ? { encrypted: true } : {}),
        }),
  };
}

/** The Windows metadata of an item (NTFS, FAT, exFAT), as toCatalogDbItem stores it. */
function windowsMetaOf(item: Item): Partial<FileMeta> {
  const streams = Array.isArray(item.streams)
    ? (item.streams as { name: unknown; size: unknown }[]).map((stream) => ({
        name: String(stream.name),
        size: Number(stream.size),
      }))
    : undefined;
  return {
    ...(typeof item.winAttr === 'number' ? { windowsAttributes: item.winAttr } : {}),
    ...(typeof item.shortName === 'string' ? { shortName: item.shortName } : {}),
    ...(streams === undefined ? {} : { streams }),
    ...(typeof item.reparseTag === 'number' ? { reparseTag: item.reparseTag } : {}),
    ...(item.encrypted === true ? { encrypted: true as const } : {}),
  };
}

export function fromCatalogDbItem(item: Item): CatalogItem {
  if (item.kind !== 'fileVersion' || !READABLE_CATALOG_FORMAT_VERSIONS.includes(item.fmt as number)) {
    throw new IntegrityError(`catalog item ${String(item.pk)} / ${String(item.sk)} has an unknown layout`, {
      context: { pk: String(item.pk), sk: String(item.sk) },
    });
  }
  const base = { ...versionOf(item), dir: item.dir as string };
  if (item.removed === true) return { ...base, removed: true };
  const crtime = readTs(item, 'crtime');
  const meta: FileMeta = {
    type: item.type as FileMeta['type'],
    inode: item.inode as number,
    size: item.size as number,
    mode: item.mode as number,
    uid: item.uid as number,
    gid: item.gid as number,
    nlink: item.nlink as number,
    mtime: readTs(item, 'mtime')!,
    ctime: readTs(item, 'ctime')!,
    atime: readTs(item, 'atime')!,
    ...(crtime === undefined ? {} : { crtime }),
    ...(typeof item.target === 'string' ? { symlinkTarget: item.target } : {}),
    ...(typeof item.devMajor === 'number'
      ? { device: { major: item.devMajor, minor: item.devMinor as number } }
      : {}),
    ...windowsMetaOf(item),
  };
  return { ...base, meta };
}

/** Which file version an item (a version item or its name-search projection) is. */
function versionOf(item: Item) {
  return {
    volumeId: item.volumeId as string,
    partition: item.partition as number,
    name: item.name as string,
    path: item.path as string,
    version: item.version as string,
    imageId: item.imageId as string,
    createdAt: item.createdAt as string,
  };
}

/** A name-search index item (its projection) as a search hit. */
function searchHitOf(item: Item): NameSearchHit {
  const mtime = readTs(item, 'mtime');
  return {
    ...versionOf(item),
    ...(item.removed === true ? { removed: true as const } : {}),
    ...(typeof item.type === 'string' ? { type: item.type as FileMeta['type'] } : {}),
    ...(typeof item.size === 'number' ? { size: item.size } : {}),
    ...(mtime === undefined ? {} : { mtime }),
  };
}

export class DynamoDbCatalogStore implements CatalogStore {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: DynamoDbCatalogStoreOptions = {},
  ) {
    this.sleep = options.sleep ?? sleepMs;
    this.pager = new DynamoDbPager(client);
  }

  private async send<T>(
    operation: string,
    run: () => Promise<T>,
    context: Record<string, string> = {},
  ): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw translateSdkError(error, `DynamoDB ${operation}`, { table: this.tableName, ...context });
    }
  }

  async queryDirectory(query: DirectoryQuery): Promise<DirectoryPage> {
    const pk = directoryPartitionKey(query.volumeId, query.partition, query.dir);
    const { keyCondition, filter, names, values } = directoryConditions(pk, query);
    const out = await this.send(
      'Query',
      () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: keyCondition,
            ...(filter === undefined ? {} : { FilterExpression: filter }),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            Limit: query.pageSize,
            ...(query.newestFirst === true ? { ScanIndexForward: false } : {}),
            ...(query.startAfter === undefined ? {} : { ExclusiveStartKey: { pk, sk: query.startAfter } }),
          }),
        ),
      { pk },
    );
    const last = out.LastEvaluatedKey?.sk as unknown;
    return {
      items: (out.Items ?? []).map(fromCatalogDbItem),
      ...(typeof last === 'string' ? { lastKey: last } : {}),
    };
  }

  async queryName(query: NameQuery): Promise<NamePage> {
    const gsi1pk = nameIndexPartitionKey(query.volumeId, query.name);
    const start = query.startAfter;
    const out = await this.send('Query', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: NAME_INDEX_NAME,
          KeyConditionExpression: '#gpk = :gpk',
          ExpressionAttributeNames: { '#gpk': 'gsi1pk' },
          ExpressionAttributeValues: { ':gpk': gsi1pk },
          Limit: query.pageSize,
          ...(start === undefined
            ? {}
            : { ExclusiveStartKey: { gsi1pk, gsi1sk: start.indexSk, pk: start.pk, sk: start.sk } }),
        }),
      ),
    );
    const last = out.LastEvaluatedKey;
    return {
      items: (out.Items ?? []).map(fromCatalogDbItem),
      ...(last === undefined
        ? {}
        : { lastKey: { indexSk: last.gsi1sk as string, pk: last.pk as string, sk: last.sk as string } }),
    };
  }

  async searchNames(query: NameSearchQuery): Promise<NameSearchPage> {
    const start = query.startAfter;
    const values: Item = { ':v': query.volumeId };
    let condition = '#v = :v';
    if (query.prefix !== '') {
      values[':p'] = query.prefix;
      condition += ' AND begins_with(#n, :p)';
    }
    const out = await this.send('Query', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: NAME_SEARCH_INDEX_NAME,
          KeyConditionExpression: condition,
          ExpressionAttributeNames: { '#v': 'volumeId', ...(query.prefix === '' ? {} : { '#n': 'name' }) },
          ExpressionAttributeValues: values,
          Limit: query.pageSize,
          ...(start === undefined
            ? {}
            : {
                ExclusiveStartKey: { volumeId: query.volumeId, name: start.name, pk: start.pk, sk: start.sk },
              }),
        }),
      ),
    );
    const last = out.LastEvaluatedKey;
    return {
      // Other items that carry volumeId and name (none today) are in the index too: keep versions.
      items: (out.Items ?? []).filter((item) => item.kind === 'fileVersion').map(searchHitOf),
      ...(last === undefined
        ? {}
        : { lastKey: { name: last.name as string, pk: last.pk as string, sk: last.sk as string } }),
    };
  }

  async putItems(items: readonly CatalogItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) {
      await this.batchPut(items.slice(i, i + BATCH_WRITE_ITEMS).map(toCatalogDbItem));
    }
  }

  private async batchPut(items: Item[]): Promise<void> {
    await this.batchWrite(
      items.map((Item) => ({ PutRequest: { Item } })),
      (left) =>
        new ThrottledError(`DynamoDB BatchWriteItem left ${left.length} items unprocessed`, {
          context: { table: this.tableName, unprocessed: left.length },
        }),
    );
  }

  /** One BatchWriteItem of at most BATCH_WRITE_ITEMS requests, re-sending its UnprocessedItems. */
  private async batchWrite(
    requests: WriteRequest[],
    exhausted: (left: WriteRequest[]) => Error,
  ): Promise<void> {
    await batchWrite(this.client, this.tableName, requests, {
      operation: 'DynamoDB BatchWriteItem',
      exhausted,
      sleep: this.sleep,
    });
  }

  async putImageCatalog(record: ImageCatalogRecord): Promise<void> {
    await this.send('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: imageCatalogPartitionKey(record.volumeId),
            sk: record.version,
            kind: 'imageCatalog',
            imageId: record.imageId,
            record: JSON.stringify(record),
          },
        }),
      ),
    );
  }

  async getImageCatalog(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined> {
    const out = await this.send('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: imageCatalogPartitionKey(volumeId), sk: version },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item === undefined ? undefined : (JSON.parse(out.Item.record as string) as ImageCatalogRecord);
  }

  async latestImageCatalogBefore(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined> {
    const out = await this.send('Query', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk < :version',
          ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
          ExpressionAttributeValues: { ':pk': imageCatalogPartitionKey(volumeId), ':version': version },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    const item = out.Items?.[0];
    return item === undefined ? undefined : (JSON.parse(item.record as string) as ImageCatalogRecord);
  }

  async putApplications(image: ImageRef, applications: readonly ApplicationRecord[]): Promise<void> {
    const pk = applicationPartitionKey(image.volumeId, image.imageId);
    const keep = new Set(applications.map((a) => applicationSortKey(a.partition, a.name)));
    const stale = (await this.queryApplicationItems(pk)).filter((item) => !keep.has(item.sk as string));
    const requests = [
      ...stale.map((item) => ({ DeleteRequest: { Key: { pk, sk: item.sk as string } } })),
      ...applications.map((app) => ({
        PutRequest: {
          Item: {
            pk,
            sk: applicationSortKey(app.partition, app.name),
            kind: 'application',
            application: JSON.stringify(app),
          },
        },
      })),
    ];
    for (let i = 0; i < requests.length; i += BATCH_WRITE_ITEMS) {
      await this.batchWrite(
        requests.slice(i, i + BATCH_WRITE_ITEMS),
        () =>
          new ThrottledError('DynamoDB BatchWriteItem left application items unprocessed', {
            context: { table: this.tableName },
          }),
      );
    }
  }

  private queryApplicationItems(pk: string): Promise<Item[]> {
    return this.pager.queryAll(
      'DynamoDB Query',
      { table: this.tableName },
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'pk' },
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      },
    );
  }

  async listApplications(volumeId: string, imageId: string): Promise<ApplicationRecord[]> {
    const items = await this.queryApplicationItems(applicationPartitionKey(volumeId, imageId));
    return items.map((item) => JSON.parse(item.application as string) as ApplicationRecord);
  }

  async putTreePages(volumeId: string, pages: readonly TreePage[]): Promise<void> {
    const items = pages.map((page) => ({
      pk: treePartitionKey(volumeId, page.hash),
      sk: page.hash,
      kind: 'catalogTree',
      body: page.body,
    }));
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) {
      await this.batchPut(items.slice(i, i + BATCH_WRITE_ITEMS));
    }
  }

  async getTreePages(volumeId: string, hashes: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unique = [...new Set(hashes)];
    for (let i = 0; i < unique.length; i += BATCH_GET_ITEMS) {
      const keys: Item[] = unique
        .slice(i, i + BATCH_GET_ITEMS)
        .map((hash) => ({ pk: treePartitionKey(volumeId, hash), sk: hash }));
      await resendUnprocessed(
        keys,
        async (asking) => {
          const got = await this.send('BatchGetItem', () =>
            this.client.send(
              new BatchGetCommand({
                RequestItems: { [this.tableName]: { Keys: asking, ConsistentRead: true } },
              }),
            ),
          );
          for (const item of got.Responses?.[this.tableName] ?? []) {
            out.set(item.sk as string, item.body as string);
          }
          return (got.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Item[];
        },
        (left) =>
          new ThrottledError(`DynamoDB BatchGetItem left ${left.length} keys unprocessed`, {
            context: { table: this.tableName, unprocessed: left.length },
          }),
        this.sleep,
      );
    }
    return out;
  }
}
