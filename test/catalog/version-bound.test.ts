/**
 * Versions of one path up to an image: the bound is part of the key range, so the versions written
 * after it are never read. On the in-memory store (items examined) and on DynamoDB (moto), where
 * each Query's ScannedCount (the items DynamoDB read, before any filter) is recorded by a client
 * middleware.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { entryAsOf } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogStore, DirectoryQuery } from '../../lambdas/core/catalog/catalog-store.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { countedQueries } from '../support/counted-queries.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { imageAt, meta, version } from './catalog-fixtures.ts';
import { createCatalogTable } from './local-catalog-table.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const VOLUME = 'vol-0bound000000000001';
/** Versions of /etc/hosts written up to the bound, and after it. */
const BEFORE = 10;
const AFTER = 50;
const bound = imageAt(VOLUME, BEFORE);

interface Counted {
  readonly store: CatalogStore;
  /** Items read by the directory queries since the last call. */
  takeScanned(): number;
}

/** 60 versions of /etc/hosts (the 30th a removal), one version each of its neighbours /etc/host and /etc/hosts2. */
async function seed(store: CatalogStore): Promise<void> {
  const items = [];
  for (let n = 1; n <= BEFORE + AFTER; n += 1) {
    const image = imageAt(VOLUME, n);
    items.push(version(image, 1, '/etc', 'hosts', n === 30 ? 'removed' : meta({ size: n })));
    if (n === 1 || n === BEFORE + AFTER) {
      items.push(version(image, 1, '/etc', 'host', meta({ size: 1000 + n })));
      items.push(version(image, 1, '/etc', 'hosts2', meta({ size: 2000 + n })));
    }
  }
  await store.putItems(items);
}

const hostsUpTo = (inclusive: boolean, extra: Partial<DirectoryQuery> = {}): DirectoryQuery => ({
  volumeId: VOLUME,
  partition: 1,
  dir: '/etc',
  name: 'hosts',
  upTo: { version: versionKeyOf(bound), inclusive },
  pageSize: 100,
  ...extra,
});

function versionBoundSuite(name: string, make: () => Promise<Counted>): void {
  describe(`versions of a path up to a bound: ${name}`, () => {
    it(`reads the ${BEFORE} versions at or before the bound and none of the ${AFTER} after it`, async () => {
      const { store, takeScanned } = await make();
      await seed(store);
      takeScanned();
      const inclusive = await store.queryDirectory(hostsUpTo(true));
      expect(inclusive.items.map((i) => i.imageId)).toEqual(
        Array.from({ length: BEFORE }, (_, k) => imageAt(VOLUME, k + 1).imageId),
      );
      expect(inclusive.lastKey).toBeUndefined();
      expect(takeScanned()).toBe(BEFORE);

      // An exclusive bound reads one item more than it answers: the version at the bound.
      const exclusive = await store.queryDirectory(hostsUpTo(false));
      expect(exclusive.items.map((i) => i.imageId)).toEqual(
        Array.from({ length: BEFORE - 1 }, (_, k) => imageAt(VOLUME, k + 1).imageId),
      );
      expect(takeScanned()).toBe(BEFORE);
    });

    it('newest first, one item: the version current at the bound, one item read', async () => {
      const { store, takeScanned } = await make();
      await seed(store);
      takeScanned();
      const page = await store.queryDirectory(hostsUpTo(true, { newestFirst: true, pageSize: 1 }));
      expect(page.items.map((i) => [i.imageId, i.meta?.size])).toEqual([[bound.imageId, BEFORE]]);
      expect(page.lastKey).toBeDefined();
      expect(takeScanned()).toBe(1);
      // Paging on from there goes on towards the older versions.
      const next = await store.queryDirectory(
        hostsUpTo(true, { newestFirst: true, pageSize: 2, startAfter: page.lastKey! }),
      );
      expect(next.items.map((i) => i.imageId)).toEqual([
        imageAt(VOLUME, 9).imageId,
        imageAt(VOLUME, 8).imageId,
      ]);
    });

    it('entryAsOf: the metadata as of each image, undefined where the path was removed, one item read each', async () => {
      const { store, takeScanned } = await make();
      await seed(store);
      takeScanned();
      const sizeAt = async (n: number) => (await entryAsOf(store, imageAt(VOLUME, n), 1, '/etc/hosts'))?.size;
      expect(await sizeAt(BEFORE)).toBe(BEFORE);
      expect(await sizeAt(29)).toBe(29);
      expect(await sizeAt(30)).toBeUndefined();
      expect(await sizeAt(31)).toBe(31);
      expect(await sizeAt(BEFORE + AFTER)).toBe(BEFORE + AFTER);
      expect(await entryAsOf(store, imageAt(VOLUME, 0), 1, '/etc/hosts')).toBeUndefined();
      expect(await entryAsOf(store, imageAt(VOLUME, 5), 1, '/etc/absent')).toBeUndefined();
      // One item for each image with a version at or before it; none before the first, none for an absent name.
      expect(takeScanned()).toBe(5);
      expect((await entryAsOf(store, imageAt(VOLUME, 5), 1, '/etc/host'))?.size).toBe(1001);
      expect((await entryAsOf(store, imageAt(VOLUME, 5), 1, '/etc/hosts2'))?.size).toBe(2001);
    });

    it('a directory listing at a version keeps the filter: every item of the directory is read', async () => {
      const { store, takeScanned } = await make();
      await seed(store);
      takeScanned();
      const page = await store.queryDirectory({
        volumeId: VOLUME,
        partition: 1,
        dir: '/etc',
        upTo: { version: versionKeyOf(bound), inclusive: true },
        pageSize: 100,
      });
      expect(page.items).toHaveLength(BEFORE + 2);
      expect(takeScanned()).toBe(BEFORE + AFTER + 4);
    });
  });
}

versionBoundSuite('in-memory', () => {
  const store = new MemoryCatalogStore();
  return Promise.resolve({
    store,
    takeScanned() {
      const n = store.itemsExamined;
      store.itemsExamined = 0;
      return n;
    },
  });
});

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

versionBoundSuite('DynamoDB (moto)', async () => {
  const table = `version-bound-${clients.length}`;
  const client = await createCatalogTable(local.clientConfig(), table);
  clients.push(client);
  const counts = countedQueries(client);
  let taken = 0;
  return {
    store: new DynamoDbCatalogStore(client, table),
    takeScanned() {
      const n = counts.scanned() - taken;
      taken = counts.scanned();
      return n;
    },
  };
});
