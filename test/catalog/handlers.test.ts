/** The build-catalog and restore-worker Lambdas called directly with injected stores. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildCatalogHandler } from '../../lambdas/handlers/build-catalog.ts';
import { createRestoreWorkerHandler } from '../../lambdas/handlers/restore-worker.ts';
import type { RestoreWorkerDeps } from '../../lambdas/aws/wiring.ts';
import { createRestoreJob } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { readFile } from 'node:fs/promises';
import { MemoryRestoreJobs, MemoryRestoreObjects } from '../file-restore/memory-restore.ts';
import { sourceFiles } from '../file-restore/restore-fixture.ts';
import { backUpImageFile } from './engine-image.ts';
import { expectCatalogEqualsSource } from './catalog-images.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

let work: string;
let source: string;
let backed: Awaited<ReturnType<typeof backUpImageFile>>;

beforeAll(async () => {
  work = await scratchDir('catalog-handlers');
  source = path.join(work, 'src');
  await generateTree(source, { seed: 3, files: 120, maxFileBytes: 40_000, specialFiles: false });
  const image = path.join(work, 'h.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 16 * 1024 * 1024, sourceDir: source });
  backed = await backUpImageFile(image, 'vol-h', 'img-h');
}, 60_000);

afterAll(async () => {
  await removeDir(work);
});

describe('Lambda build-catalog', () => {
  it('catalogues a committed image read through the chunk store', async () => {
    const catalog = new MemoryCatalogStore();
    const handler = createBuildCatalogHandler({ records: backed.records, images: backed.images, catalog });
    const out = await handler({ volumeId: 'vol-h', imageId: 'img-h', kind: 'full' });
    expect(out).toMatchObject({
      volumeId: 'vol-h',
      imageId: 'img-h',
      status: 'complete',
      errorCount: 0,
      warningCount: 1,
    });
    const image = { volumeId: 'vol-h', imageId: 'img-h', createdAt: backed.record.createdAt };
    expect((await catalog.getImageCatalog('vol-h', versionKeyOf(image)))?.status).toBe('complete');
    await expectCatalogEqualsSource(catalog, image, 0, source);
  });

  it('refuses a malformed event and an image without a record', async () => {
    const handler = createBuildCatalogHandler({
      records: backed.records,
      images: backed.images,
      catalog: new MemoryCatalogStore(),
    });
    await expect(handler({ volumeId: 'vol-h' })).rejects.toThrow(
      'build-catalog: invalid event: imageId: Invalid input: expected string, received undefined',
    );
    await expect(handler({ volumeId: 'vol-h', imageId: 'img-none' })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
  });
});

/** A files job must never touch the volume-restore side of the worker. */
const volumeSideUnused = new Proxy(
  {},
  {
    get: (_target, property) => {
      throw new Error(`a files job used the volume restore dependency ${String(property)}`);
    },
  },
) as RestoreWorkerDeps['volumes'];

describe('Lambda restore-worker (file, directory and application jobs)', () => {
  it('runs a pending job to its end', async () => {
    const jobs = new MemoryRestoreJobs();
    const objects = new MemoryRestoreObjects();
    const clock = { now: () => new Date('2026-04-02T00:00:00.000Z') };
    const handler = createRestoreWorkerHandler({
      volumes: volumeSideUnused,
      files: {
        jobs,
        objects,
        catalog: new MemoryCatalogStore(),
        clock,
        openImage: async (volumeId, imageId) =>
          new ImageReader(
            backed.images,
            await backed.images.getManifest(
              volumeId,
              imageId,
              (await backed.records.getImageRecord(volumeId, imageId)).manifestSha256,
            ),
          ),
      },
    });
    const target = (await sourceFiles(source)).find((p) => !p.includes('hardlink'))!;
    await createRestoreJob(
      { jobs, clock },
      {
        restoreId: 'rs-h1',
        volumeId: 'vol-h',
        imageId: 'img-h',
        kind: 'file',
        path: target,
        keyToken: 'tok',
      },
    );
    expect(await handler({ restoreId: 'rs-h1', kind: 'files' })).toEqual({
      restoreId: 'rs-h1',
      status: 'succeeded',
    });
    const stored = objects.objects.get((await jobs.get('rs-h1')).result!.key)!;
    expect(stored.body.equals(await readFile(path.join(source, target)))).toBe(true);
    await expect(handler({ restoreId: '../x', kind: 'files' })).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });
});
