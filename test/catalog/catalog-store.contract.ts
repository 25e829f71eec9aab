/**
 * The behaviour every CatalogStore must have, run against the in-memory store and the DynamoDB
 * adapter on moto (same tests, same expected answers). Queries go through catalog-queries.ts, so
 * this also pins down listing "as of", versions, find-by-name and cursors on both.
 */
import { describe, expect, it } from 'vitest';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import {
  findByName,
  listDirectory,
  listVersions,
  previousDirectoryState,
} from '../../lambdas/core/catalog/catalog-queries.ts';
import { versionKeyOf, type ImageCatalogRecord } from '../../lambdas/core/catalog/catalog-types.ts';
import { imageAt, meta, version } from './catalog-fixtures.ts';

function record(volumeId: string, n: number, status: ImageCatalogRecord['status']): ImageCatalogRecord {
  const image = imageAt(volumeId, n);
  return {
    ...image,
    version: versionKeyOf(image),
    formatVersion: 1,
    status,
    partitions: [],
    counts: { files: n, directories: 0, symlinks: 0, others: 0, bytes: 0 },
    changes: { added: 0, changed: 0, removed: 0, itemsWritten: 0 },
    errorCount: 0,
    errors: [],
    warnings: [],
    applicationCount: 0,
  };
}

export function catalogStoreContract(name: string, makeStore: () => Promise<CatalogStore>): void {
  describe(`CatalogStore contract: ${name}`, () => {
    it('lists a directory as of each image, sorted in code-point order, across removals and re-creations', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-1';
      const [i1, i2, i3] = [imageAt(vol, 1), imageAt(vol, 2), imageAt(vol, 3)];
      await store.putItems([
        version(i1, 1, '/etc', 'b', meta({ size: 1 })),
        version(i1, 1, '/etc', 'a', meta({ size: 2 })),
        version(i1, 1, '/etc', '🎉', meta({ size: 3 })),
        version(i1, 1, '/etc', '\uFFFD', meta({ size: 4 })),
        version(i1, 1, '/etc', 'a-b', meta({ size: 5 })),
        version(i2, 1, '/etc', 'a', meta({ size: 20 })),
        version(i2, 1, '/etc', 'b', 'removed'),
        version(i3, 1, '/etc', 'b', meta({ size: 30 })),
        version(i1, 2, '/etc', 'other-partition', meta()),
        version(i1, 1, '/etc/sub', 'deeper', meta()),
      ]);
      const names = async (image: typeof i1) =>
        (await listDirectory(store, image, 1, '/etc')).items.map((e) => `${e.name}:${e.size}`);
      // "a-b" sorts before "a" because sort keys are "<name>/..." and "-" < "/" (docs/catalog.md).
      expect(await names(i1)).toEqual(['a-b:5', 'a:2', 'b:1', '\uFFFD:4', '🎉:3']);
      expect(await names(i2)).toEqual(['a-b:5', 'a:20', '\uFFFD:4', '🎉:3']);
      expect(await names(i3)).toEqual(['a-b:5', 'a:20', 'b:30', '\uFFFD:4', '🎉:3']);
      const listed = (await listDirectory(store, i3, 1, '/etc')).items[1]!;
      expect(listed).toMatchObject({ path: '/etc/a', partition: 1, since: { imageId: i2.imageId } });
    });

    it('pages a listing with an opaque cursor and returns every entry exactly once', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-2';
      const [i1, i2] = [imageAt(vol, 1), imageAt(vol, 2)];
      const items = [];
      for (let n = 0; n < 37; n += 1) {
        const name = `f${String(n).padStart(3, '0')}`;
        items.push(version(i1, 0, '/d', name, meta({ size: n })));
        if (n % 3 === 0)
          items.push(version(i2, 0, '/d', name, n % 2 === 0 ? 'removed' : meta({ size: 1000 + n })));
      }
      await store.putItems(items);
      const seen: string[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const page = await listDirectory(store, i2, 0, '/d', {
          limit: 5,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.items.map((e) => `${e.name}:${e.size}`));
        sizes.push(page.items.length);
        cursor = page.cursor;
      } while (cursor !== undefined);
      const expected: string[] = [];
      for (let n = 0; n < 37; n += 1) {
        if (n % 3 === 0 && n % 2 === 0) continue;
        expected.push(`f${String(n).padStart(3, '0')}:${n % 3 === 0 ? 1000 + n : n}`);
      }
      expect(seen).toEqual(expected);
      // Every page but the last is full; the last may be empty when only removals follow (f036 here).
      expect(sizes).toEqual([5, 5, 5, 5, 5, 5, 0]);
      await expect(listDirectory(store, i2, 0, '/d', { cursor: 'not-a-cursor' })).rejects.toThrow(
        'invalid cursor',
      );
    });

    it('lists every version of a path with its validity, and finds files by name across images', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-3';
      const [i1, i2, i3, i4] = [1, 2, 3, 4].map((n) => imageAt(vol, n)) as [
        ReturnType<typeof imageAt>,
        ReturnType<typeof imageAt>,
        ReturnType<typeof imageAt>,
        ReturnType<typeof imageAt>,
      ];
      await store.putItems([
        version(i1, 1, '/etc/nginx', 'nginx.conf', meta({ size: 1 })),
        version(i2, 1, '/etc/nginx', 'nginx.conf', meta({ size: 2 })),
        version(i3, 1, '/etc/nginx', 'nginx.conf', 'removed'),
        version(i4, 1, '/etc/nginx', 'nginx.conf', meta({ size: 4 })),
        version(i1, 1, '/etc/nginx', 'nginx.conf.bak', meta({ size: 9 })),
        version(i2, 1, '/srv', 'nginx.conf', meta({ size: 7 })),
      ]);
      const versions = await listVersions(store, vol, 1, '/etc/nginx/nginx.conf');
      expect(versions.map((v) => [v.meta.size, v.since.imageId, v.until?.imageId, v.removedAtUntil])).toEqual(
        [
          [1, i1.imageId, i2.imageId, false],
          [2, i2.imageId, i3.imageId, true],
          [4, i4.imageId, undefined, false],
        ],
      );
      expect(await listVersions(store, vol, 1, '/etc/nginx/missing')).toEqual([]);
      const found = await findByName(store, vol, 'nginx.conf');
      expect(found.items.map((v) => `${v.path}@${v.since.imageId}`)).toEqual([
        `/etc/nginx/nginx.conf@${i1.imageId}`,
        `/etc/nginx/nginx.conf@${i2.imageId}`,
        `/etc/nginx/nginx.conf@${i4.imageId}`,
        `/srv/nginx.conf@${i2.imageId}`,
      ]);
      expect(found.cursor).toBeUndefined();
      const first = await findByName(store, vol, 'nginx.conf', { limit: 1 });
      expect(first.items.map((v) => v.path)).toEqual([
        '/etc/nginx/nginx.conf',
        '/etc/nginx/nginx.conf',
        '/etc/nginx/nginx.conf',
      ]);
      const second = await findByName(store, vol, 'nginx.conf', { limit: 1, cursor: first.cursor! });
      expect(second.items.map((v) => v.path)).toEqual(['/srv/nginx.conf']);
      expect(second.cursor).toBeUndefined();
    });

    it('gives the state just before an image for the incremental comparison', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-4';
      const [i1, i2, i3] = [imageAt(vol, 1), imageAt(vol, 2), imageAt(vol, 3)];
      await store.putItems([
        version(i1, 1, '/', 'keep', meta({ size: 1 })),
        version(i1, 1, '/', 'gone', meta({ size: 1 })),
        version(i2, 1, '/', 'gone', 'removed'),
        version(i2, 1, '/', 'keep', meta({ size: 2 })),
        version(i3, 1, '/', 'keep', meta({ size: 3 })),
      ]);
      const before3 = await previousDirectoryState(store, vol, 1, '/', versionKeyOf(i3));
      expect(before3.map((i) => `${i.name}:${i.meta?.size}`)).toEqual(['keep:2']);
      const before2 = await previousDirectoryState(store, vol, 1, '/', versionKeyOf(i2));
      expect(before2.map((i) => `${i.name}:${i.meta?.size}`)).toEqual(['gone:1', 'keep:1']);
    });

    it('keeps the Windows metadata of NTFS, FAT and exFAT entries (attributes, short name, streams, reparse tag, EFS)', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-win';
      const image = imageAt(vol, 1);
      const windows = meta({
        windowsAttributes: 0x2021,
        shortName: 'REPORT~1.DOC',
        streams: [
          { name: 'Zone.Identifier', size: 26 },
          { name: 'summary', size: 0 },
        ],
        reparseTag: 0xa000000c,
        encrypted: true,
      });
      await store.putItems([
        version(image, 2, '/Users', 'Report for 2026.docx', windows),
        version(image, 2, '/Users', 'plain.txt', meta({ size: 7 })),
      ]);
      const before = await previousDirectoryState(store, vol, 2, '/Users', versionKeyOf(imageAt(vol, 2)));
      expect(before.map((item) => item.meta)).toEqual([windows, meta({ size: 7 })]);
    });

    it('keeps image catalog records and finds the latest before an image', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-5';
      await store.putImageCatalog(record(vol, 1, 'complete'));
      await store.putImageCatalog(record(vol, 3, 'partial'));
      await store.putImageCatalog(record(vol, 3, 'complete'));
      await store.putImageCatalog(record('vol-other', 2, 'complete'));
      expect(await store.getImageCatalog(vol, versionKeyOf(imageAt(vol, 3)))).toEqual(
        record(vol, 3, 'complete'),
      );
      expect(await store.getImageCatalog(vol, versionKeyOf(imageAt(vol, 2)))).toBeUndefined();
      expect((await store.latestImageCatalogBefore(vol, versionKeyOf(imageAt(vol, 3))))?.imageId).toBe(
        'img-0001',
      );
      expect((await store.latestImageCatalogBefore(vol, versionKeyOf(imageAt(vol, 9))))?.imageId).toBe(
        'img-0003',
      );
      expect(await store.latestImageCatalogBefore(vol, versionKeyOf(imageAt(vol, 1)))).toBeUndefined();
    });

    it('replaces the application records of an image', async () => {
      const store = await makeStore();
      const image = imageAt('vol-contract-6', 1);
      const app = (partition: number, name: string) => ({
        volumeId: image.volumeId,
        imageId: image.imageId,
        partition,
        name,
        type: 'postgresql' as const,
        version: '16',
        paths: ['/var/lib/postgresql'],
        databases: [{ name: 'orders', paths: ['/var/lib/postgresql/16/main/base/16384'] }],
      });
      await store.putApplications(image, [app(10, 'z'), app(2, 'b'), app(2, 'a')]);
      expect(
        (await store.listApplications(image.volumeId, image.imageId)).map((a) => `${a.partition}:${a.name}`),
      ).toEqual(['2:a', '2:b', '10:z']);
      await store.putApplications(image, [app(2, 'b')]);
      expect(await store.listApplications(image.volumeId, image.imageId)).toEqual([app(2, 'b')]);
      expect(await store.listApplications(image.volumeId, 'img-none')).toEqual([]);
    });

    it('hashes directory and path keys that DynamoDB could not hold and still answers exactly', async () => {
      const store = await makeStore();
      const vol = 'vol-contract-7';
      const i1 = imageAt(vol, 1);
      const longDir = `/${Array.from({ length: 12 }, (_, i) => `${'d'.repeat(200)}${i}`).join('/')}`;
      await store.putItems([version(i1, 1, longDir, 'leaf', meta({ size: 77 }))]);
      expect((await listDirectory(store, i1, 1, longDir)).items.map((e) => e.path)).toEqual([
        `${longDir}/leaf`,
      ]);
      expect((await listVersions(store, vol, 1, `${longDir}/leaf`)).map((v) => v.meta.size)).toEqual([77]);
      expect((await findByName(store, vol, 'leaf')).items.map((v) => v.path)).toEqual([`${longDir}/leaf`]);
    });
  });
}
