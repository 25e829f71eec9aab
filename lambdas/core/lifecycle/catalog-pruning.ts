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
