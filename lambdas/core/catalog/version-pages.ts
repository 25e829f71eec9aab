/**
 * Versions of one path, a page at a time, read as a page from the store: the page's items and one
 * item after them (which ends the page's last version), never the path's whole history. The
 * cursor is the sort key of the page's last version item, so the next page is one Query starting
 * after it; nothing is kept between pages.
 */
import { decodeCursor, encodeCursor, splitPath } from './catalog-keys.ts';
import { keysOf } from './catalog-item-keys.ts';
import type { FileVersion, Page, PageRequest } from './catalog-queries.ts';
import { QUERY_PAGE_ITEMS, pageLimit, versionsOfGroup } from './catalog-queries.ts';
import type { CatalogStore } from './catalog-store.ts';
import type { CatalogItem } from './catalog-types.ts';

const CURSOR_KIND = 'versions';

function isVersion(item: CatalogItem): boolean {
  return item.removed !== true && item.meta !== undefined;
}

/** Every version of `path` on the volume's partition, oldest first, `request.limit` at a time. */
export async function pageVersions(
  store: CatalogStore,
  volumeId: string,
  partition: number,
  path: string,
  request: PageRequest = {},
): Promise<Page<FileVersion>> {
  const { dir, name } = splitPath(path);
  const limit = pageLimit(request.limit);
  let after = request.cursor === undefined ? undefined : decodeCursor(CURSOR_KIND, request.cursor);
  const items: CatalogItem[] = [];
  let versions = 0;
  /** Index in `items` of the page's last version, once `limit` versions are in. */
  let last = -1;
  let exhausted = false;
  // Read until the limit-th version and the item after it are in, or the path's items end. Each
  // Query asks for what is still missing (plus the one after), at most QUERY_PAGE_ITEMS.
  while (!(last >= 0 && last + 1 < items.length) && !exhausted) {
    const page = await store.queryDirectory({
      volumeId,
      partition,
      dir,
      name,
      pageSize: Math.min(QUERY_PAGE_ITEMS, limit - versions + 1),
      ...(after === undefined ? {} : { startAfter: after }),
    });
    for (const item of page.items) {
      items.push(item);
      if (last < 0 && isVersion(item)) {
        versions += 1;
        if (versions === limit) last = items.length - 1;
      }
    }
    after = page.lastKey;
    exhausted = after === undefined;
  }
  if (last < 0) return { items: versionsOfGroup(items) };
  const page = versionsOfGroup(items.slice(0, last + 2)).slice(0, limit);
  const more = items.slice(last + 1).some(isVersion) || !exhausted;
  return more ? { items: page, cursor: encodeCursor(CURSOR_KIND, keysOf(items[last]!).sk) } : { items: page };
}
