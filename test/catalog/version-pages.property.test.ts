/**
 * Versions of a path a page at a time (catalog/version-pages.ts): for any history of versions and
 * removals and any page size, the pages put together equal the whole list (listVersions), every
 * page but the last is full, and each page costs a bounded number of store Queries whatever the
 * length of the history.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogItem } from '../../lambdas/core/catalog/catalog-types.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { pageVersions } from '../../lambdas/core/catalog/version-pages.ts';
import { meta } from './catalog-fixtures.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const VOLUME = 'vol-pages';

function item(index: number, removed: boolean, path = '/etc/hosts'): CatalogItem {
  const imageId = `img-${String(index).padStart(5, '0')}`;
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, index)).toISOString();
  const base = {
    volumeId: VOLUME,
    partition: 1,
    dir: '/etc',
    name: path.slice(5),
    path,
    version: versionKeyOf({ imageId, createdAt }),
    imageId,
    createdAt,
  };
  if (removed) return { ...base, removed: true };
  const t = { seconds: 1_767_225_600 + index, nanoseconds: 0 };
  return {
    ...base,
    meta: meta({ size: index, mtime: t, ctime: t, atime: t }),
  };
}

describe('versions of a path, page by page', () => {
  it('pages put together equal the whole list; full pages; bounded Queries per page', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        async (removals, limit) => {
          const store = new MemoryCatalogStore();
          // Neighbours sort before and after /etc/hosts and must never leak into its pages.
          await store.putItems([
            item(0, false, '/etc/host'),
            ...removals.map((removed, i) => item(i + 1, removed && i > 0)),
            item(0, false, '/etc/hostsz'),
          ]);
          const whole = await listVersions(store, VOLUME, 1, '/etc/hosts');
          const pages = [];
          let cursor: string | undefined;
          do {
            store.queries = 0;
            const page = await pageVersions(store, VOLUME, 1, '/etc/hosts', {
              limit,
              ...(cursor === undefined ? {} : { cursor }),
            });
            // limit versions, the item after them, and removals between: at most this many Queries.
            expect(store.queries).toBeLessThanOrEqual(2 + removals.length);
            pages.push(page.items);
            cursor = page.cursor;
          } while (cursor !== undefined);
          expect(pages.flat()).toEqual(whole);
          for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads one Query for a page of 200 of 10,000 versions', async () => {
    const store = new MemoryCatalogStore();
    await store.putItems(Array.from({ length: 10_000 }, (_, i) => item(i, false)));
    const page = await pageVersions(store, VOLUME, 1, '/etc/hosts', { limit: 200 });
    expect(store.queries).toBe(1);
    expect(page.items).toHaveLength(200);
    expect(page.items.at(-1)?.until?.imageId).toBe('img-00200');
    expect(page.cursor).toBeDefined();
  });
});
