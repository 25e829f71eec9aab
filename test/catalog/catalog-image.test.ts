/**
 * catalogImage, the build-catalog step's core: two real ext4 images backed up by the engine (full,
 * then incremental from ListChangedBlocks), catalogued through the chunk store. The second catalog
 * gets the chunks that changed from the two manifests, skips unchanged subtrees, and lists every
 * directory exactly like a catalog built from scratch.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { catalogImage } from '../../lambdas/core/catalog/catalog-image.ts';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import { changedChunksBetween } from '../../lambdas/core/catalog/changed-chunks.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { fastRetry, noPacing } from '../engine/engine-fixture.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { debugfs, generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { walkStats } from './catalog-images.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const MIB = 1024 * 1024;
let work: string;
let first: Uint8Array;
let second: Uint8Array;

beforeAll(async () => {
  work = await scratchDir('catalog-image');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 31, files: 400, deepChain: 10, maxFileBytes: 40_000 });
  const image = path.join(work, 'disk.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 4096, sourceDir: src });
  first = new Uint8Array(await readFile(image));
  const stats = await walkStats(new MemoryByteRangeReader(first));
  const files = [...stats].filter(([p, s]) => s.startsWith('["file"') && !p.includes('"')).map(([p]) => p);
  await writeFile(path.join(work, 'payload'), 'changed\n');
  await debugfs(image, [
    `rm "${files[3]!}"`,
    `write ${path.join(work, 'payload')} "${files[3]!}"`,
    `sif "${files[200]!}" mtime 20300101000000`,
  ]);
  second = new Uint8Array(await readFile(image));
}, 60_000);

afterAll(async () => {
  await removeDir(work);
});

function writeDisk(ebs: MemoryEbs, volumeId: string, bytes: Uint8Array, before?: Uint8Array): void {
  for (let off = 0; off < bytes.length; off += EBS_BLOCK_SIZE_BYTES) {
    const block = bytes.subarray(off, off + EBS_BLOCK_SIZE_BYTES);
    const old = before?.subarray(off, off + EBS_BLOCK_SIZE_BYTES);
    if (old !== undefined && Buffer.from(old).equals(Buffer.from(block))) continue;
    if (old !== undefined || block.some((b) => b !== 0)) ebs.write(volumeId, off, block);
  }
}

describe('catalogImage', () => {
  it('skips unchanged subtrees of an engine incremental and answers like a catalog from scratch', async () => {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-c', 1);
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const deps = { ebs, images, records, readPacer: noPacing, listPacer: noPacing };
    /** A backup of vol-c's snapshot as image `imageId` (an incremental of `parent` when given). */
    const backup = (imageId: string, snapshotId: string, createdAt: string, parent?: string) =>
      runBackup(deps, {
        volumeId: 'vol-c',
        imageId,
        snapshotId,
        volumeSizeGib: 1,
        createdAt,
        ...(parent === undefined ? {} : { parent: { imageId: parent } }),
      });
    writeDisk(ebs, 'vol-c', first);
    const snap1 = ebs.createSnapshot('vol-c');
    const one = await backup('img-1', snap1, '2026-01-01T00:00:00.000Z');
    writeDisk(ebs, 'vol-c', second, first);
    const snap2 = ebs.createSnapshot('vol-c');
    const two = await backup('img-2', snap2, '2026-01-02T00:00:00.000Z', 'img-1');
    const manifests: ImageManifest[] = [one.manifest, two.manifest];

    const expected = new Set<number>();
    for (let c = 0; c * CHUNK_SIZE_BYTES < first.length; c += 1) {
      const range = [c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES] as const;
      if (!Buffer.from(first.subarray(...range)).equals(Buffer.from(second.subarray(...range))))
        expected.add(c);
    }
    expect(await changedChunksBetween(images, manifests[0]!, manifests[1]!)).toEqual(expected);

    const store = new MemoryCatalogStore();
    await catalogImage({ records, images, catalog: store }, { volumeId: 'vol-c', imageId: 'img-1' });
    const record = await catalogImage(
      { records, images, catalog: store },
      { volumeId: 'vol-c', imageId: 'img-2' },
    );
    expect(record.partitions[0]!.skipped!.subtrees).toBeGreaterThan(0);
    expect(record.changes.added + record.changes.changed + record.changes.removed).toBe(
      record.changes.itemsWritten,
    );

    const scratch = new MemoryCatalogStore();
    const image2 = { volumeId: 'vol-c', imageId: 'img-2', createdAt: '2026-01-02T00:00:00.000Z' };
    const full = await buildCatalog(
      { store: scratch },
      { image: image2, disk: new ImageReader(images, manifests[1]!) },
    );
    expect(record.counts).toEqual(full.counts);
    const stats = await walkStats(new MemoryByteRangeReader(second));
    const dirs = ['/', ...[...stats].filter(([, s]) => s.startsWith('["directory"')).map(([p]) => p)];
    for (const dir of dirs) {
      const strip = (items: { since: unknown; atime: unknown }[]): unknown[] =>
        items.map(({ since: _s, atime: _a, ...rest }) => rest);
      const got = await listDirectory(store, image2, 0, dir, { limit: 1000 });
      const want = await listDirectory(scratch, image2, 0, dir, { limit: 1000 });
      expect(strip(got.items), dir).toEqual(strip(want.items));
    }
  }, 60_000);
});
