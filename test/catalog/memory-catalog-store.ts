/**
 * An in-memory CatalogStore with DynamoDB's semantics where they matter: sort keys in code-point
 * (UTF-8 byte) order, a page Limit counted before the version filter, exclusive start keys that
 * need not exist. Counts its writes for the tests and the benchmarks.
 */
import { namePrefix, versionSortKey } from '../../lambdas/core/catalog/catalog-keys.ts';
import { keysOf } from '../../lambdas/core/catalog/catalog-item-keys.ts';
import type {
  CatalogStore,
  DirectoryPage,
  DirectoryQuery,
  NamePage,
  NameQuery,
  NameSearchPage,
  NameSearchPosition,
  NameSearchQuery,
  VersionBound,
} from '../../lambdas/core/catalog/catalog-store.ts';
import { compareCodePoints } from '../../lambdas/core/catalog/catalog-types.ts';
import type { CatalogItem, ImageCatalogRecord, ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import type { ApplicationRecord } from '../../lambdas/core/catalog/applications.ts';
import type { TreePage } from '../../lambdas/core/catalog/catalog-trees.ts';
import { directoryPartitionKey, nameIndexPartitionKey } from '../../lambdas/core/catalog/catalog-keys.ts';

function within(item: CatalogItem, bound: VersionBound | undefined): boolean {
  if (bound === undefined) return true;
  const order = compareCodePoints(item.version, bound.version);
  return bound.inclusive ? order <= 0 : order < 0;
}

export class MemoryCatalogStore implements CatalogStore {
  /** pk → sk → item */
  readonly items = new Map<string, Map<string, CatalogItem>>();
  readonly records = new Map<string, ImageCatalogRecord>();
  readonly applications = new Map<string, ApplicationRecord[]>();
  itemsPut = 0;
  putRequests = 0;
  queries = 0;
  /** Items the directory queries read (DynamoDB's ScannedCount: before the version filter). */
  itemsExamined = 0;
  /** Tree pages by volume and hash. */
  readonly trees = new Map<string, string>();
  treePagesPut = 0;
  treePagesRead = 0;
  /**
   * Every call, counted as the DynamoDB requests it stands for: one per query page, one per
   * BatchWriteItem of 25, one per BatchGetItem of 100, one per record get/put.
   */
  requests = 0;
  /** When false, putItems keeps nothing (memory benchmarks count writes only). */
  constructor(private readonly retain = true) {}

  queryDirectory(query: DirectoryQuery): Promise<DirectoryPage> {
    this.queries += 1;
    this.requests += 1;
    const partition = this.items.get(directoryPartitionKey(query.volumeId, query.partition, query.dir));
    const prefix = query.name === undefined ? undefined : namePrefix(query.name);
    // As the DynamoDB adapter: with a name, the version bound is part of the key range.
    const last =
      query.name === undefined || query.upTo === undefined
        ? undefined
        : versionSortKey(query.name, query.upTo.version);
    const direction = query.newestFirst === true ? -1 : 1;
    const keys = [...(partition?.keys() ?? [])]
      .filter((sk) => prefix === undefined || sk.startsWith(prefix))
      .filter((sk) => last === undefined || compareCodePoints(sk, last) <= 0)
      .filter(
        (sk) => query.startAfter === undefined || direction * compareCodePoints(sk, query.startAfter) > 0,
      )
      .sort((a, b) => direction * compareCodePoints(a, b));
    const examined = keys.slice(0, query.pageSize);
    this.itemsExamined += examined.length;
    const items = examined.map((sk) => partition!.get(sk)!).filter((item) => within(item, query.upTo));
    const more = keys.length > examined.length;
    return Promise.resolve({ items, ...(more ? { lastKey: examined.at(-1)! } : {}) });
  }

  queryName(query: NameQuery): Promise<NamePage> {
    this.queries += 1;
    this.requests += 1;
    const gsi1pk = nameIndexPartitionKey(query.volumeId, query.name);
    const order = (a: { k: ReturnType<typeof keysOf> }, b: { k: ReturnType<typeof keysOf> }): number =>
      compareCodePoints(a.k.gsi1sk, b.k.gsi1sk) ||
      compareCodePoints(a.k.pk, b.k.pk) ||
      compareCodePoints(a.k.sk, b.k.sk);
    const all = [...this.items.values()]
      .flatMap((m) => [...m.values()])
      .map((item) => ({ item, k: keysOf(item) }))
      .filter((x) => x.k.gsi1pk === gsi1pk)
      .sort(order);
    const start = query.startAfter;
    const rest =
      start === undefined
        ? all
        : all.filter(
            (x) => order(x, { k: { gsi1pk, gsi1sk: start.indexSk, pk: start.pk, sk: start.sk } }) > 0,
          );
    const examined = rest.slice(0, query.pageSize);
    const last = examined.at(-1);
    return Promise.resolve({
      items: examined.map((x) => x.item),
      ...(rest.length > examined.length && last !== undefined
        ? { lastKey: { indexSk: last.k.gsi1sk, pk: last.k.pk, sk: last.k.sk } }
        : {}),
    });
  }

  /** GSI3 (volumeId, name): by name, then table keys; the page Limit as DynamoDB counts it. */
  searchNames(query: NameSearchQuery): Promise<NameSearchPage> {
    this.queries += 1;
    this.requests += 1;
    const order = (a: NameSearchPosition, b: NameSearchPosition): number =>
      compareCodePoints(a.name, b.name) || compareCodePoints(a.pk, b.pk) || compareCodePoints(a.sk, b.sk);
    const all = [...this.items.values()]
      .flatMap((m) => [...m.values()])
      .filter((item) => item.volumeId === query.volumeId && item.name.startsWith(query.prefix))
      .map((item) => ({ item, at: { name: item.name, pk: keysOf(item).pk, sk: keysOf(item).sk } }))
      .sort((a, b) => order(a.at, b.at));
    const start = query.startAfter;
    const rest = start === undefined ? all : all.filter((x) => order(x.at, start) > 0);
    const examined = rest.slice(0, query.pageSize);
    const last = examined.at(-1);
    return Promise.resolve({
      items: examined.map(({ item }) => ({
        volumeId: item.volumeId,
        partition: item.partition,
        name: item.name,
        path: item.path,
        version: item.version,
        imageId: item.imageId,
        createdAt: item.createdAt,
        ...(item.removed === true ? { removed: true as const } : {}),
        ...(item.meta === undefined
          ? {}
          : { type: item.meta.type, size: item.meta.size, mtime: item.meta.mtime }),
      })),
      ...(rest.length > examined.length && last !== undefined ? { lastKey: last.at } : {}),
    });
  }

  putItems(items: readonly CatalogItem[]): Promise<void> {
    this.putRequests += 1;
    this.requests += Math.ceil(items.length / 25);
    this.itemsPut += items.length;
    if (this.retain) {
      for (const item of items) {
        const { pk, sk } = keysOf(item);
        let partition = this.items.get(pk);
        if (partition === undefined) this.items.set(pk, (partition = new Map<string, CatalogItem>()));
        partition.set(sk, structuredClone(item));
      }
    }
    return Promise.resolve();
  }

  putImageCatalog(record: ImageCatalogRecord): Promise<void> {
    this.requests += 1;
    this.records.set(`${record.volumeId}\n${record.version}`, structuredClone(record));
    return Promise.resolve();
  }

  getImageCatalog(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined> {
    this.requests += 1;
    return Promise.resolve(this.records.get(`${volumeId}\n${version}`));
  }

  latestImageCatalogBefore(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined> {
    this.requests += 1;
    const earlier = [...this.records.values()]
      .filter((r) => r.volumeId === volumeId && compareCodePoints(r.version, version) < 0)
      .sort((a, b) => compareCodePoints(a.version, b.version));
    return Promise.resolve(earlier.at(-1));
  }

  putApplications(image: ImageRef, applications: readonly ApplicationRecord[]): Promise<void> {
    this.requests += 2; // the query of stale records and one batch write
    this.applications.set(`${image.volumeId}\n${image.imageId}`, structuredClone([...applications]));
    return Promise.resolve();
  }

  listApplications(volumeId: string, imageId: string): Promise<ApplicationRecord[]> {
    const apps = this.applications.get(`${volumeId}\n${imageId}`) ?? [];
    return Promise.resolve(
      [...apps].sort((a, b) => a.partition - b.partition || compareCodePoints(a.name, b.name)),
    );
  }

  putTreePages(volumeId: string, pages: readonly TreePage[]): Promise<void> {
    this.requests += Math.ceil(pages.length / 25);
    this.treePagesPut += pages.length;
    for (const page of pages) this.trees.set(`${volumeId}\n${page.hash}`, page.body);
    return Promise.resolve();
  }

  getTreePages(volumeId: string, hashes: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(hashes)];
    this.requests += Math.ceil(unique.length / 100);
    this.treePagesRead += unique.length;
    const out = new Map<string, string>();
    for (const hash of unique) {
      const body = this.trees.get(`${volumeId}\n${hash}`);
      if (body !== undefined) out.set(hash, body);
    }
    return Promise.resolve(out);
  }
}
