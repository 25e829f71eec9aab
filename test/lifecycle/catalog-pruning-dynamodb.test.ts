/**
 * Catalog pruning through the DynamoDB adapter (GSI3 listing, BatchWriteItem deletes, catalog and
 * application records) on moto: the same history pruned in the in-memory store and in the product
 * table leaves the same items, and every remaining image lists every directory as before.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { DynamoDbLifecycleCatalog } from '../../lambdas/aws/dynamodb-lifecycle-catalog.ts';
import type { ApplicationRecord } from '../../lambdas/core/catalog/applications.ts';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import { versionKeyOf, type CatalogItem, type ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import {
  pruneVolumeCatalog,
  type CatalogPruningStore,
} from '../../lambdas/core/lifecycle/catalog-pruning.ts';
import { imageAt, imageCatalogRecord, meta, version } from '../catalog/catalog-fixtures.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryCatalogPruning } from './memory-catalog-pruning.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
afterAll(() => client?.destroy());

const VOLUME = 'vol-0prune';
const images = [1, 2, 3, 4, 5].map((n) => imageAt(VOLUME, n));
const DIRS = ['/', '/etc', '/var/log'];

/**
 * Five images: `a` changes in 2 and 4, `b` is removed in 3 and re-created in 5, `c` only exists in
 * 2..3, `log` exists in every directory (the same name in three directories: one GSI3 name), and
 * 60 files in /var/log are rewritten by every image (more than one BatchWriteItem to delete).
 */
function history(): CatalogItem[] {
  const [i1, i2, i3, i4, i5] = images as [ImageRef, ImageRef, ImageRef, ImageRef, ImageRef];
  const items: CatalogItem[] = [
    version(i1, 0, '/', 'a', meta({ size: 1 })),
    version(i2, 0, '/', 'a', meta({ size: 2 })),
    version(i4, 0, '/', 'a', meta({ size: 4 })),
    version(i1, 0, '/', 'b', meta({ inode: 20 })),
    version(i3, 0, '/', 'b', 'removed'),
    version(i5, 0, '/', 'b', meta({ inode: 21 })),
    version(i2, 0, '/etc', 'c', meta({ inode: 30 })),
    version(i4, 0, '/etc', 'c', 'removed'),
  ];
  for (const dir of DIRS) items.push(version(i1, 0, dir, 'log', meta({ inode: 40 + dir.length })));
  for (const [n, image] of images.entries()) {
    for (let f = 0; f < 60; f += 1) {
      items.push(
        version(image, 0, '/var/log', `f${String(f).padStart(2, '0')}`, meta({ size: n, inode: 100 + f })),
      );
    }
  }
  return items;
}

async function seed(store: CatalogStore): Promise<void> {
  await store.putItems(history());
  for (const image of images) {
    await store.putImageCatalog(imageCatalogRecord(image, 'complete'));
    const app: ApplicationRecord = {
      ...image,
      partition: 0,
      name: 'db',
      type: 'generic',
      paths: ['/var/log'],
      databases: [],
    };
    await store.putApplications(image, [app]);
  }
}

async function listings(store: CatalogStore, image: ImageRef): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const dir of DIRS) out[dir] = (await listDirectory(store, image, 0, dir, { limit: 1000 })).items;
  return out;
}

async function allVersionKeys(pruning: CatalogPruningStore): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await pruning.listVersionItems(VOLUME, cursor);
    keys.push(...page.items.map((item) => `${item.pk} ${item.sk}`));
    cursor = page.cursor;
  } while (cursor !== undefined);
  return keys.sort();
}

describe('catalog pruning in DynamoDB (moto)', () => {
  it('deletes what the in-memory store deletes; remaining images list as before', async () => {
    client = await createCatalogTable(local.clientConfig(), 'catalog-prune');
    const table = new DynamoDbCatalogStore(client, 'catalog-prune');
    const memory = new MemoryCatalogStore();
    await seed(table);
    await seed(memory);
    const dynamo = new DynamoDbLifecycleCatalog(client, 'catalog-prune');
    const memoryPruning = new MemoryCatalogPruning(memory);
    expect(await allVersionKeys(dynamo)).toEqual(await allVersionKeys(memoryPruning));

    // Images 2, 3 and 5 deleted: 1 and 4 remain, 5 is still the newest catalog (the next build's base).
    const live = [images[0]!, images[3]!];
    const before = await Promise.all(live.map((image) => listings(table, image)));
    const liveKeys = live.map(versionKeyOf);
    const result = await pruneVolumeCatalog(dynamo, VOLUME, liveKeys, { onlyWhenStale: true });
    const expected = await pruneVolumeCatalog(memoryPruning, VOLUME, liveKeys, { onlyWhenStale: true });
    expect(result).toEqual(expected);
    expect(result).toMatchObject({ pruned: true, catalogsDeleted: 2 });
    // /var/log: 60 items of 2 and 3 (five BatchWriteItems in all with the rest); image 5's stay.
    expect(result.itemsDeleted).toBeGreaterThan(120);
    expect(await allVersionKeys(dynamo)).toEqual(await allVersionKeys(memoryPruning));
    expect(await Promise.all(live.map((image) => listings(table, image)))).toEqual(before);
    expect(await table.getImageCatalog(VOLUME, versionKeyOf(images[1]!))).toBeUndefined();
    expect(await table.listApplications(VOLUME, images[2]!.imageId)).toEqual([]);
    expect((await table.getImageCatalog(VOLUME, versionKeyOf(images[4]!)))?.imageId).toBe(images[4]!.imageId);
    expect(await table.listApplications(VOLUME, images[3]!.imageId)).toHaveLength(1);

    // Nothing stale any more: the next call is one Query of the catalog records and stops.
    expect(await pruneVolumeCatalog(dynamo, VOLUME, liveKeys, { onlyWhenStale: true })).toMatchObject({
      pruned: false,
    });
  }, 120_000);
});
