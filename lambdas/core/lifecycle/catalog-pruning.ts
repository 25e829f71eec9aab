/**
 * Catalog pruning: which file-version items of one directory entry no live image needs any more
 * (docs/catalog.md, "Model: temporal file versions"; docs/lifecycle.md, "Catalog pruning").
 *
 * The items of one entry (same `pk` = `FV#<volumeId>#<partition>#<dir>`, same name) sorted by
 * version key form intervals: item i is what the entry looks like for every image whose version
 * key k satisfies v_i ≤ k < v_(i+1) (the last item is open-ended). An item is needed exactly when
 * its interval contains the version key of a live image. Removing the others narrows the validity
 * of the item before them to cover the gap, which holds no live image, so "the directory as of
 * image X" is unchanged for every live X. A removal marker is kept only when the nearest kept item
 * before it shows the entry as present (otherwise absence needs no marker).
 */

export interface CatalogVersionItem {
  /** `createdAt#imageId` of the image that wrote it. */
  readonly versionKey: string;
  readonly removed: boolean;
}

/** Index of the last key in sorted `keys` that is ≤ `key`, or -1. */
function lastAtOrBefore(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The version keys of the items to delete. `versions`: every item of one entry, in version-key
 * order; `liveVersionKeys`: version keys of the volume's live images, sorted.
 */
export function prunableVersions(
  versions: readonly CatalogVersionItem[],
  liveVersionKeys: readonly string[],
): string[] {
  const prune: string[] = [];
  let lastKeptPresent = false;
  versions.forEach((item, i) => {
    const next = versions[i + 1];
    // The first live key at or after v_i; the item is needed when it comes before v_(i+1).
    const index = lastAtOrBefore(liveVersionKeys, item.versionKey);
    const candidate =
      liveVersionKeys[index] === item.versionKey ? item.versionKey : liveVersionKeys[index + 1];
    const needed = candidate !== undefined && (next === undefined || candidate < next.versionKey);
    const keep = needed && (!item.removed || lastKeptPresent);
    if (keep) lastKeptPresent = !item.removed;
    else prune.push(item.versionKey);
  });
  return prune;
}

/** The state of the entry as of version key `at`: the latest item ≤ `at`, unless it is a removal. */
export function entryAsOf(
  versions: readonly CatalogVersionItem[],
  at: string,
): CatalogVersionItem | undefined {
  let current: CatalogVersionItem | undefined;
  for (const item of versions) {
    if (item.versionKey > at) break;
    current = item;
  }
  return current?.removed === true ? undefined : current;
}

// ---- the pruning job of one volume ----

/** DynamoDB BatchWriteItem takes at most 25 requests. */
export const CATALOG_DELETE_BATCH_ITEMS = 25;

/** The table key of a catalog item. */
export interface CatalogItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** A version item as pruning sees it: its key, its entry (`pk` + name) and its interval start. */
export interface PrunableCatalogItem extends CatalogItemKey {
  readonly name: string;
  readonly versionKey: string;
  readonly removed: boolean;
}

export interface CatalogVersionPage {
  /** Every item of one name comes before any item of the next name (the name-search index order). */
  readonly items: readonly PrunableCatalogItem[];
  /** Where the next page starts; absent at the end. */
  readonly cursor?: string;
}

/** An image catalog record (`CI#<volumeId>` / `<versionKey>`). */
export interface ImageCatalogRef {
  readonly versionKey: string;
  readonly imageId: string;
}

/** The catalog as pruning needs it (lambdas/aws/dynamodb-lifecycle-catalog.ts; a Map in tests). */
export interface CatalogPruningStore {
  /** One page of the volume's version items, grouped by name (a Query of GSI3 on `volumeId`). */
  listVersionItems(volumeId: string, cursor: string | undefined): Promise<CatalogVersionPage>;
  /** Deletes up to CATALOG_DELETE_BATCH_ITEMS items (idempotent: absent items are no error). */
  deleteItems(keys: readonly CatalogItemKey[]): Promise<void>;
  /** The volume's image catalog records, any status. */
  listImageCatalogs(volumeId: string): Promise<ImageCatalogRef[]>;
  /** Deletes an image's catalog record and its application records (idempotent). */
  deleteImageCatalog(volumeId: string, catalog: ImageCatalogRef): Promise<void>;
}

export interface CatalogPruneResult {
  readonly volumeId: string;
  /** False when every catalog record belongs to a live image or is the newest: nothing to do. */
  readonly pruned: boolean;
  readonly itemsExamined: number;
  readonly itemsDeleted: number;
  /** Image catalog records of deleted images removed (with their application records). */
  readonly catalogsDeleted: number;
}

/**
 * The catalog records pruning removes, and the version keys it keeps items for: the live images',
 * plus the newest catalog record's whatever its image's state. The next catalog build of the volume
 * diffs against its newest earlier catalog record (catalog-image.ts, `latestImageCatalogBefore`),
 * which is that newest one, so the items it sees must stay exactly as that record's image saw them
 * until a newer catalog exists; then the next pruning removes them.
 */
export function catalogPruningPlan(
  catalogs: readonly ImageCatalogRef[],
  liveVersionKeys: readonly string[],
): { readonly needed: string[]; readonly stale: ImageCatalogRef[] } {
  const newest = [...catalogs].sort((a, b) => (a.versionKey < b.versionKey ? -1 : 1)).at(-1)?.versionKey;
  const live = new Set(liveVersionKeys);
  const needed = [...new Set([...liveVersionKeys, ...(newest === undefined ? [] : [newest])])].sort();
  const stale = catalogs.filter((c) => !live.has(c.versionKey) && c.versionKey !== newest);
  return { needed, stale };
}

/**
 * Prunes one volume's catalog after image deletions: every version item no needed version key
 * sees is deleted (prunableVersions, one entry at a time, streamed in name order so memory holds
 * one name's items), then the catalog and application records of deleted images. The records go
 * last: a crash leaves them, and their presence is what makes the next run prune again
 * (`onlyWhenStale`). Safe beside a running catalog build of the volume: that build writes items
 * newer than every item listed here and reads the state of the newest catalog record, which is kept.
 */
export async function pruneVolumeCatalog(
  store: CatalogPruningStore,
  volumeId: string,
  liveVersionKeys: readonly string[],
  options: { readonly onlyWhenStale?: boolean } = {},
): Promise<CatalogPruneResult> {
  const catalogs = await store.listImageCatalogs(volumeId);
  const { needed, stale } = catalogPruningPlan(catalogs, liveVersionKeys);
  if (options.onlyWhenStale === true && stale.length === 0) {
    return { volumeId, pruned: false, itemsExamined: 0, itemsDeleted: 0, catalogsDeleted: 0 };
  }
  let itemsExamined = 0;
  let itemsDeleted = 0;
  let doomed: CatalogItemKey[] = [];
  const flush = async (all: boolean): Promise<void> => {
    while (doomed.length >= CATALOG_DELETE_BATCH_ITEMS || (all && doomed.length > 0)) {
      const batch = doomed.slice(0, CATALOG_DELETE_BATCH_ITEMS);
      doomed = doomed.slice(CATALOG_DELETE_BATCH_ITEMS);
      await store.deleteItems(batch);
      itemsDeleted += batch.length;
    }
  };
  const decide = async (sameName: readonly PrunableCatalogItem[]): Promise<void> => {
    const entries = new Map<string, PrunableCatalogItem[]>();
    for (const item of sameName) {
      const list = entries.get(item.pk);
      if (list === undefined) entries.set(item.pk, [item]);
      else list.push(item);
    }
    for (const items of entries.values()) {
      items.sort((a, b) => (a.versionKey < b.versionKey ? -1 : a.versionKey > b.versionKey ? 1 : 0));
      const prune = new Set(prunableVersions(items, needed));
      for (const item of items) if (prune.has(item.versionKey)) doomed.push({ pk: item.pk, sk: item.sk });
    }
    await flush(false);
  };
  let group: PrunableCatalogItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listVersionItems(volumeId, cursor);
    for (const item of page.items) {
      itemsExamined += 1;
      if (group.length > 0 && group[0]!.name !== item.name) {
        await decide(group);
        group = [];
      }
      group.push(item);
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  await decide(group);
  await flush(true);
  for (const catalog of stale) await store.deleteImageCatalog(volumeId, catalog);
  return { volumeId, pruned: true, itemsExamined, itemsDeleted, catalogsDeleted: stale.length };
}
