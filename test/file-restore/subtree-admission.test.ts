/**
 * POST /restores refuses at once (400 RestoreTooLarge) a subdirectory restore whose catalogued
 * bytes exceed what the restore worker can write (293 GiB at 8 MiB parts), as it does a file's and
 * `/`'s: the subtree's bytes come from the catalog's tree summaries along the path (one page per
 * level, a binary search in a directory of several pages), never from a walk below it. Undecided
 * (no tree, the page cap reached): admitted. The catalog is built from a real ext4 image holding
 * 300 GiB sparse files, with 4-entry tree pages so that /wide has ten.
 */
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { cataloguedSubtreeBytes } from '../../lambdas/core/file-restore/catalogued-subtree.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { restoreAdmission, type RestoreAdmission } from '../support/restore-admission.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** The S3 adapter's first part size (RESTORE_PART_BYTES in lambdas/aws/s3-restore.ts). */
const PART_BYTES = 8 * MIB;
/** maxResumableBytes(PART_BYTES): 10,000 parts of 8, 16, 32 and 64 MiB. */
const LIMIT = 314_572_800_000;
const ref = imageAt('vol-0123456789abcdef0', 1);

let work: string;
let reader: FileByteRangeReader;
let catalog: MemoryCatalogStore;
let api: RestoreAdmission;

async function sparse(file: string, bytes: number): Promise<void> {
  await writeFile(file, '');
  await truncate(file, bytes);
}

beforeAll(async () => {
  work = await scratchDir('subtree-admission');
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'big/data'), { recursive: true });
  await mkdir(path.join(source, 'small'), { recursive: true });
  // Sparse: mke2fs -d keeps the holes, so the 64 MiB filesystem holds the 300 GiB files.
  await sparse(path.join(source, 'big/data/huge.img'), 300 * GIB);
  await writeFile(path.join(source, 'big/notes.txt'), 'twenty bytes of text');
  await sparse(path.join(source, 'small/fits.img'), GIB);
  for (let i = 0; i < 40; i += 1) {
    const dir = path.join(source, `wide/d${String(i).padStart(2, '0')}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'f'), 'x');
  }
  await sparse(path.join(source, 'wide/d27/huge.img'), 300 * GIB);
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 64 * MIB, sourceDir: source });
  reader = await FileByteRangeReader.open(imageFile);
  catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image: ref, disk: reader, treePageEntries: 4 });
  api = restoreAdmission(catalog, ref, PART_BYTES, { subtrees: true });
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await removeDir(work);
});

const restore = (body: Record<string, unknown>) => api.restore(body);

describe('POST /restores of a subdirectory larger than one restore can write', () => {
  it.each([
    ['/big', 322_122_547_220],
    ['/big/data', 322_122_547_200],
    ['/wide/d27', 322_122_547_201],
    ['/wide', 322_122_547_240],
  ])('refuses %s with a 400 and writes no job', async (dir, bytes) => {
    const answer = await restore({ kind: 'directory', path: dir });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      code: 'InvalidRequest',
      message: `the files of ${dir} hold ${bytes} bytes in image ${ref.imageId}, more than the ${LIMIT} bytes one restore can write (one upload of 10000 parts); restore a smaller file or directory`,
      details: { reason: 'RestoreTooLarge', imageId: ref.imageId, bytes, limitBytes: LIMIT },
    });
    expect(api.jobs.jobs.size).toBe(0);
    expect(api.launched).toEqual([]);
  });

  it('admits a subdirectory the catalog shows below the limit', async () => {
    expect((await restore({ kind: 'directory', path: '/small' })).status).toBe(202);
    expect((await restore({ kind: 'directory', path: '/wide/d03' })).status).toBe(202);
    expect(api.jobs.jobs.size).toBe(2);
    expect(api.launched).toHaveLength(2);
  });
});

describe('cataloguedSubtreeBytes', () => {
  it('reads one page per level and a binary search in a directory of ten pages', async () => {
    // The root's 4 entries are one page; /wide's 40 are ten: pages 4, 7, 5 and 6 hold d27.
    expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/wide/d27')).toEqual({
      bytes: 322_122_547_201,
      pagesRead: 5,
    });
    expect(await cataloguedSubtreeBytes(catalog, ref, 0, '/big/data')).toEqual({
      bytes: 322_122_547_200,
      pagesRead: 2,
    });
  });

  it('is undecided when the page cap is reached, the name is absent or the partition unknown', async () => {
    expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/wide/d27', 4)).toBeUndefined();
    expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/wide/d27', 5)).toBeDefined();
    expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/wide/d40')).toBeUndefined();
    expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/big/notes.txt')).toBeUndefined();
    expect(await cataloguedSubtreeBytes(catalog, ref, 7, '/big')).toBeUndefined();
  });

  it('admits a restore of a catalog without trees (format 1): the worker limit applies', async () => {
    const key = [...catalog.records.keys()].find((k) => k.includes(versionKeyOf(ref)))!;
    const record = catalog.records.get(key)!;
    catalog.records.set(key, {
      ...record,
      partitions: record.partitions.map(({ tree: _tree, ...partition }) => partition),
    });
    try {
      expect(await cataloguedSubtreeBytes(catalog, ref, undefined, '/big')).toBeUndefined();
      const before = api.jobs.jobs.size;
      expect((await restore({ kind: 'directory', path: '/big' })).status).toBe(202);
      expect(api.jobs.jobs.size).toBe(before + 1);
    } finally {
      catalog.records.set(key, record);
    }
  });
});
