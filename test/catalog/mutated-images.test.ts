/**
 * The cataloguer on damaged images: real ext4 images with random bytes overwritten in their
 * metadata. Every run must end, quickly, with a catalog record (complete, partial or failed) and no
 * thrown error, also when a damaged image is catalogued as an incremental of a good one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { generateTree, makeExtImage, prng, removeDir, scratchDir } from '../support/fs-images.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { imageAt } from './catalog-fixtures.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

/** Mutated images tried, and the time each may take (a hang or a loop would exceed it). */
const IMAGES = 24;
const TIME_BOUND_MS = 10_000;
/** Bytes overwritten per image, all within the first 1 MiB (superblock, descriptors, inode tables, directories). */
const MUTATIONS = 300;

let work: string;
let pristine: Uint8Array;

beforeAll(async () => {
  work = await scratchDir('catalog-mutated');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 21, files: 250, deepChain: 12, maxFileBytes: 6000 });
  const image = path.join(work, 'm.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 4 * 1024 * 1024, blockSize: 1024, sourceDir: src });
  pristine = new Uint8Array(await readFile(image));
}, 60_000);

afterAll(async () => {
  await removeDir(work);
});

describe('buildCatalog on mutated images', () => {
  it(`ends with a record within ${TIME_BOUND_MS} ms on each of ${IMAGES} mutated images`, async () => {
    const statuses = new Map<string, number>();
    for (let seed = 1; seed <= IMAGES; seed += 1) {
      const rand = prng(seed);
      const bytes = pristine.slice();
      for (let i = 0; i < MUTATIONS; i += 1)
        bytes[1024 + Math.floor(rand() * (1024 * 1024 - 1024))] = Math.floor(rand() * 256);
      const store = new MemoryCatalogStore();
      await buildCatalog(
        { store },
        { image: imageAt('vol-m', 1), disk: new MemoryByteRangeReader(pristine) },
      );
      const started = performance.now();
      const record = await buildCatalog(
        { store },
        { image: imageAt('vol-m', 2), disk: new MemoryByteRangeReader(bytes) },
      );
      expect(performance.now() - started, `seed ${seed}`).toBeLessThan(TIME_BOUND_MS);
      expect(['complete', 'partial', 'failed', 'unsupported']).toContain(record.status);
      expect(record.errors.length).toBe(Math.min(record.errorCount, 100));
      statuses.set(record.status, (statuses.get(record.status) ?? 0) + 1);
    }
    // The mutations must actually hurt: not every image may come through clean.
    expect(statuses.get('complete') ?? 0).toBeLessThan(IMAGES);
  }, 120_000);
});
