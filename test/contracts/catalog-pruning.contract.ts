/**
 * The contract of CatalogPruningStore (lambdas/core/lifecycle/catalog-pruning.ts): the catalog as
 * pruning reads and deletes it. Every file-version item of a volume is listed exactly once through
 * every page, with its key, name, version and whether it records a removal, and the items of one
 * name come together (a name's items are never split by another name's, the name-search index
 * order); no other volume's item is listed. Deleting items is idempotent (absent keys are no
 * error). A volume's image catalog records are listed whatever their status, and deleting one
 * removes the record and its application records, also idempotently.
 *
 * Run against MemoryCatalogPruning over MemoryCatalogStore (test/lifecycle/memory-catalog-pruning.ts)
 * and DynamoDbLifecycleCatalog over DynamoDbCatalogStore on moto
 * (test/lifecycle/lifecycle-ports.contract.test.ts); each `make` gives a catalog never written.
 */
import { describe, expect, it } from 'vitest';
import type { ApplicationRecord } from '../../lambdas/core/catalog/applications.ts';
import { keysOf } from '../../lambdas/core/catalog/catalog-item-keys.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import { versionKeyOf, type CatalogItem, type ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import type {
  CatalogPruningStore,
  PrunableCatalogItem,
} from '../../lambdas/core/lifecycle/catalog-pruning.ts';
import { imageCatalogRecord, meta, version } from '../catalog/catalog-fixtures.ts';
import { imageAt } from '../catalog/image-refs.ts';

export interface CatalogPruningUnderTest {
  /** Where Build Catalog writes the items and records pruning reads. */
  readonly catalog: CatalogStore;
  readonly pruning: CatalogPruningStore;
}

const VOLUME = 'vol-0prunecontract';
const OTHER_VOLUME = 'vol-0pruneother';
/**
 * Files written by one image in one directory: with the named ones, more items than one GSI3 page
 * of the adapter (1,000) holds.
 */
const MANY_FILES = 1_005;

/** The listing's view of an item: what pruning reads of it. */
function prunable(item: CatalogItem): PrunableCatalogItem {
  const { pk, sk } = keysOf(item);
  return { pk, sk, name: item.name, versionKey: item.version, removed: item.removed === true };
}

const byKey = (items: readonly PrunableCatalogItem[]) =>
  [...items].sort((a, b) => (`${a.pk} ${a.sk}` < `${b.pk} ${b.sk}` ? -1 : 1));

async function everyItem(pruning: CatalogPruningStore, volumeId: string): Promise<PrunableCatalogItem[]> {
  const items: PrunableCatalogItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await pruning.listVersionItems(volumeId, cursor);
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return items;
}

function application(image: ImageRef): ApplicationRecord {
  return { ...image, partition: 0, name: 'db', type: 'generic', paths: ['/var/lib/db'], databases: [] };
}

export function catalogPruningContract(name: string, make: () => Promise<CatalogPruningUnderTest>): void {
  describe(`catalog pruning store contract: ${name}`, () => {
    it("lists every version item of the volume once through every page, a name's items together", async () => {
      const { catalog, pruning } = await make();
      const [i1, i2, i3] = [1, 2, 3].map((n) => imageAt(VOLUME, n)) as [ImageRef, ImageRef, ImageRef];
      const items: CatalogItem[] = [
        version(i1, 0, '/', 'a', meta({ size: 1 })),
        version(i2, 0, '/', 'a', meta({ size: 2 })),
        version(i1, 0, '/', 'b', meta({ inode: 20 })),
        version(i2, 0, '/', 'b', 'removed'),
        version(i3, 0, '/', 'b', meta({ inode: 21 })),
        version(i1, 0, '/', 'élan', meta({ inode: 22 })),
        version(i2, 1, '/', 'Zed', meta({ inode: 23 })),
        ...['/', '/etc', '/var/log'].map((dir) =>
          version(i1, 0, dir, 'log', meta({ inode: 40 + dir.length })),
        ),
        ...Array.from({ length: MANY_FILES }, (_, f) =>
          version(i3, 0, '/var/spool', `f${String(f).padStart(4, '0')}`, meta({ inode: 100 + f })),
        ),
      ];
      await catalog.putItems(items);
      await catalog.putItems([version(imageAt(OTHER_VOLUME, 1), 0, '/', 'a', meta())]);

      const listed = await everyItem(pruning, VOLUME);
      expect(listed).toHaveLength(items.length);
      expect(byKey(listed)).toEqual(byKey(items.map(prunable)));
      // A name that appears again after another name would split its items.
      const runs = listed.map((item) => item.name).filter((n, i, names) => i === 0 || names[i - 1] !== n);
      expect(new Set(runs).size).toBe(runs.length);
      expect(await everyItem(pruning, 'vol-0never')).toEqual([]);
    });

    it('deletes items by key, idempotently; absent keys are no error; other items stay', async () => {
      const { catalog, pruning } = await make();
      const i1 = imageAt(VOLUME, 1);
      const items = ['a', 'b', 'c', 'd'].map((file) => version(i1, 0, '/', file, meta()));
      await catalog.putItems(items);
      const gone = [items[0]!, items[2]!].map((item) => ({ pk: keysOf(item).pk, sk: keysOf(item).sk }));
      await pruning.deleteItems(gone);
      await pruning.deleteItems([...gone, { pk: gone[0]!.pk, sk: 'never' }]);
      expect(byKey(await everyItem(pruning, VOLUME))).toEqual(byKey([items[1]!, items[3]!].map(prunable)));
    });

    it("lists the volume's image catalog records of any status; deleting one takes its applications, idempotently", async () => {
      const { catalog, pruning } = await make();
      const [i1, i2] = [1, 2].map((n) => imageAt(VOLUME, n)) as [ImageRef, ImageRef];
      await catalog.putImageCatalog(imageCatalogRecord(i1, 'complete'));
      await catalog.putImageCatalog(imageCatalogRecord(i2, 'failed'));
      await catalog.putImageCatalog(imageCatalogRecord(imageAt(OTHER_VOLUME, 1), 'complete'));
      for (const image of [i1, i2]) await catalog.putApplications(image, [application(image)]);
      const refs = (await pruning.listImageCatalogs(VOLUME))
        .slice()
        .sort((a, b) => (a.versionKey < b.versionKey ? -1 : 1));
      expect(refs).toEqual([
        { versionKey: versionKeyOf(i1), imageId: i1.imageId },
        { versionKey: versionKeyOf(i2), imageId: i2.imageId },
      ]);

      await pruning.deleteImageCatalog(VOLUME, refs[0]!);
      await pruning.deleteImageCatalog(VOLUME, refs[0]!);
      expect(await pruning.listImageCatalogs(VOLUME)).toEqual([refs[1]]);
      expect(await catalog.getImageCatalog(VOLUME, versionKeyOf(i1))).toBeUndefined();
      expect(await catalog.listApplications(VOLUME, i1.imageId)).toEqual([]);
      expect(await catalog.listApplications(VOLUME, i2.imageId)).toEqual([application(i2)]);
      expect(await pruning.listImageCatalogs('vol-0never')).toEqual([]);
    });
  });
}
