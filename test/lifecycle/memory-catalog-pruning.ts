/**
 * The catalog-pruning port over the in-memory catalog store (test/catalog/memory-catalog-store.ts),
 * in the order the DynamoDB adapter reads GSI3: by name, then table keys; small pages so that a
 * name's items often straddle two. Counts its requests.
 */
import { keysOf } from '../../lambdas/core/catalog/catalog-item-keys.ts';
import { compareCodePoints } from '../../lambdas/core/catalog/catalog-types.ts';
import type {
  CatalogItemKey,
  CatalogPruningStore,
  CatalogVersionPage,
  ImageCatalogRef,
} from '../../lambdas/core/lifecycle/catalog-pruning.ts';
import type { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';

export class MemoryCatalogPruning implements CatalogPruningStore {
  requests = 0;
  deletedItems = 0;

  constructor(
    private readonly store: MemoryCatalogStore,
    private readonly pageSize = 7,
  ) {}

  listVersionItems(volumeId: string, cursor: string | undefined): Promise<CatalogVersionPage> {
    this.requests += 1;
    const all = [...this.store.items.values()]
      .flatMap((m) => [...m.values()])
      .filter((item) => item.volumeId === volumeId)
      .map((item) => ({
        ...keysOf(item),
        name: item.name,
        versionKey: item.version,
        removed: item.removed === true,
      }))
      .sort(
        (a, b) =>
          compareCodePoints(a.name, b.name) || compareCodePoints(a.pk, b.pk) || compareCodePoints(a.sk, b.sk),
      );
    // The cursor is the last position returned (as DynamoDB's LastEvaluatedKey), so deletes
    // between pages do not shift it.
    const after = cursor === undefined ? undefined : (JSON.parse(cursor) as [string, string, string]);
    const rest =
      after === undefined
        ? all
        : all.filter(
            (x) =>
              (compareCodePoints(x.name, after[0]) ||
                compareCodePoints(x.pk, after[1]) ||
                compareCodePoints(x.sk, after[2])) > 0,
          );
    const items = rest.slice(0, this.pageSize).map(({ pk, sk, name, versionKey, removed }) => ({
      pk,
      sk,
      name,
      versionKey,
      removed,
    }));
    const last = items.at(-1);
    const more = rest.length > items.length && last !== undefined;
    return Promise.resolve({
      items,
      ...(more ? { cursor: JSON.stringify([last.name, last.pk, last.sk]) } : {}),
    });
  }

  deleteItems(keys: readonly CatalogItemKey[]): Promise<void> {
    this.requests += 1;
    if (keys.length > 25) throw new Error(`BatchWriteItem of ${keys.length} requests`);
    for (const { pk, sk } of keys) {
      const partition = this.store.items.get(pk);
      if (partition?.delete(sk) === true) this.deletedItems += 1;
      if (partition?.size === 0) this.store.items.delete(pk);
    }
    return Promise.resolve();
  }

  listImageCatalogs(volumeId: string): Promise<ImageCatalogRef[]> {
    this.requests += 1;
    return Promise.resolve(
      [...this.store.records.values()]
        .filter((record) => record.volumeId === volumeId)
        .map((record) => ({ versionKey: record.version, imageId: record.imageId })),
    );
  }

  deleteImageCatalog(volumeId: string, catalog: ImageCatalogRef): Promise<void> {
    this.requests += 2;
    this.store.applications.delete(`${volumeId}\n${catalog.imageId}`);
    this.store.records.delete(`${volumeId}\n${catalog.versionKey}`);
    return Promise.resolve();
  }
}
