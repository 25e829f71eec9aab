/**
 * The catalog on real filesystems: images made by mke2fs -d from generated trees and changed with
 * debugfs; the source directory is the oracle, and two walks of the images say which entries an
 * incremental must write.
 */
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { findByName, listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import {
  debugfs,
  generateTree,
  makeExtImage,
  makeGptDisk,
  makeMbrDisk,
  removeDir,
  run,
  scratchDir,
  spliceImage,
  writeSparseFile,
} from '../support/fs-images.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { imageAt } from './catalog-fixtures.ts';
import {
  changedPaths,
  copyFileSparse,
  expectCatalogEqualsSource,
  listAll,
  walkStats,
} from './catalog-images.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const MIB = 1024 * 1024;
const VALID_APPS = JSON.stringify({
  formatVersion: 1,
  checkpointId: 'cp-1',
  applications: [
    {
      name: 'orders-db',
      type: 'postgresql',
      version: '16.2',
      paths: ['/srv/pg'],
      databases: [{ name: 'orders', paths: ['/srv/pg/base/16384'] }],
    },
  ],
});

let work: string;
let source: string;
let image1: string;
let image2: string;

async function catalog(store: MemoryCatalogStore, imageFile: string, n: number, volumeId = 'vol-cat') {
  const reader = await FileByteRangeReader.open(imageFile);
  try {
    return await buildCatalog({ store }, { image: imageAt(volumeId, n), disk: reader });
  } finally {
    await reader.close();
  }
}

beforeAll(async () => {
  work = await scratchDir('catalog');
  source = path.join(work, 'src');
  await generateTree(source, { seed: 41, files: 1500, deepChain: 40, maxFileBytes: 200_000 });
  await mkdir(path.join(source, 'changes'));
  for (const name of ['keep.txt', 'modify.txt', 'remove.txt', 'chmod.txt']) {
    await writeFile(path.join(source, 'changes', name), `${name}\n`);
  }
  // A subtree that disappears as a whole in the second image.
  await mkdir(path.join(source, 'changes', 'olddir', 'deep'), { recursive: true });
  await writeFile(path.join(source, 'changes', 'olddir', 'x.txt'), 'x\n');
  await writeFile(path.join(source, 'changes', 'olddir', 'deep', 'gone-later.txt'), 'z\n');
  await writeSparseFile(path.join(source, 'sparse.bin'), 48 * MIB, [
    { offset: 0, data: Buffer.alloc(5000, 1) },
    { offset: 20 * MIB + 17, data: Buffer.alloc(70_000, 2) },
  ]);
  await mkdir(path.join(source, '.rbp'));
  await writeFile(path.join(source, '.rbp', 'applications.json'), VALID_APPS);
  image1 = path.join(work, 'image1.img');
  await makeExtImage(image1, { type: 'ext4', sizeBytes: 160 * MIB, blockSize: 4096, sourceDir: source });
  image2 = path.join(work, 'image2.img');
  await copyFileSparse(image1, image2);
  const added = path.join(work, 'added.txt');
  await writeFile(added, 'a new file\n');
  const modified = path.join(work, 'modified.txt');
  await writeFile(modified, 'modified content, longer than before\n');
  await debugfs(image2, [
    'cd /changes',
    `write ${added} added.txt`,
    'rm remove.txt',
    'rm modify.txt',
    `write ${modified} modify.txt`,
    'sif chmod.txt mode 0100600',
    'mkdir newdir',
    'symlink newlink /changes/keep.txt',
    'unlink olddir',
  ]);
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

describe('buildCatalog on a generated ext4 tree (4 KiB blocks)', () => {
  const store = new MemoryCatalogStore();

  it('catalogues every entry: the listing as of the image equals the source tree', async () => {
    const record = await catalog(store, image1, 1);
    expect(record.status).toBe('complete');
    expect(record.partitionScheme).toBe('none');
    expect(record.errorCount).toBe(0);
    // The generated tree has none of the application's paths: a warning for each.
    expect(record.warnings).toEqual(
      ['/srv/pg', '/srv/pg/base/16384'].map((missing) => ({
        partition: 0,
        path: missing,
        message: `application "orders-db" lists ${missing}, which does not exist in the image`,
      })),
    );
    const compared = await expectCatalogEqualsSource(store, imageAt('vol-cat', 1), 0, source);
    const walked = await walkStats(await FileByteRangeReader.open(image1));
    // Every entry of the filesystem (source + lost+found) was written once: a first image writes all.
    expect(record.changes).toEqual({ added: walked.size, changed: 0, removed: 0, itemsWritten: walked.size });
    expect(compared).toBe(walked.size - 1);
    expect(
      record.counts.files + record.counts.directories + record.counts.symlinks + record.counts.others,
    ).toBe(walked.size);
    expect(record.applicationCount).toBe(1);
    expect(await store.listApplications('vol-cat', imageAt('vol-cat', 1).imageId)).toEqual([
      {
        volumeId: 'vol-cat',
        imageId: imageAt('vol-cat', 1).imageId,
        partition: 0,
        name: 'orders-db',
        type: 'postgresql',
        version: '16.2',
        paths: ['/srv/pg'],
        databases: [{ name: 'orders', paths: ['/srv/pg/base/16384'] }],
      },
    ]);
  });

  it('an incremental writes items for exactly the entries that changed', async () => {
    const before = store.itemsPut;
    const record = await catalog(store, image2, 2);
    const expected = changedPaths(
      await walkStats(await FileByteRangeReader.open(image1)),
      await walkStats(await FileByteRangeReader.open(image2)),
    );
    // What debugfs did, plus the directory whose metadata those operations changed.
    expect(expected).toEqual(
      expect.arrayContaining([
        '/changes/added.txt',
        '/changes/remove.txt',
        '/changes/modify.txt',
        '/changes/chmod.txt',
        '/changes/newdir',
        '/changes/newlink',
        '/changes/olddir',
        '/changes/olddir/x.txt',
        '/changes/olddir/deep',
        '/changes/olddir/deep/gone-later.txt',
      ]),
    );
    expect(expected.length).toBeLessThanOrEqual(12);
    const version2 = versionKeyOf(imageAt('vol-cat', 2));
    const written = [...store.items.values()]
      .flatMap((m) => [...m.values()])
      .filter((i) => i.version === version2)
      .map((i) => i.path)
      .sort();
    expect(written).toEqual(expected);
    expect(store.itemsPut - before).toBe(expected.length);
    expect(record.changes.itemsWritten).toBe(expected.length);
    expect(record.changes.removed).toBe(5);
  });

  it('lists /changes as it was in each image', async () => {
    const names = async (n: number) =>
      (await listAll(store, imageAt('vol-cat', n), 0, '/changes')).map(
        (e) => `${e.name}:${e.type}:${e.size}`,
      );
    expect(await names(1)).toEqual([
      'chmod.txt:file:10',
      'keep.txt:file:9',
      'modify.txt:file:11',
      'olddir:directory:4096',
      'remove.txt:file:11',
    ]);
    expect(await names(2)).toEqual([
      'added.txt:file:11',
      'chmod.txt:file:10',
      'keep.txt:file:9',
      'modify.txt:file:37',
      'newdir:directory:4096',
      'newlink:symlink:17',
    ]);
    // The whole tree as of image 1 is still the source tree.
    await expectCatalogEqualsSource(store, imageAt('vol-cat', 1), 0, source);
  });

  it('answers versions of a path and find-by-name exactly', async () => {
    const [i1, i2] = [imageAt('vol-cat', 1), imageAt('vol-cat', 2)];
    const versions = await listVersions(store, 'vol-cat', 0, '/changes/modify.txt');
    expect(versions.map((v) => [v.meta.size, v.since.imageId, v.until?.imageId])).toEqual([
      [11, i1.imageId, i2.imageId],
      [37, i2.imageId, undefined],
    ]);
    const chmod = await listVersions(store, 'vol-cat', 0, '/changes/chmod.txt');
    const sourceMode = Number((await lstat(path.join(source, 'changes/chmod.txt'))).mode);
    expect(sourceMode).not.toBe(0o100600);
    expect(chmod.map((v) => v.meta.mode)).toEqual([sourceMode, 0o100600]);
    const removed = await findByName(store, 'vol-cat', 'remove.txt');
    expect(removed.items).toHaveLength(1);
    expect(removed.items[0]).toMatchObject({
      path: '/changes/remove.txt',
      since: { imageId: i1.imageId },
      until: { imageId: i2.imageId },
      removedAtUntil: true,
    });
    expect(
      (await findByName(store, 'vol-cat', 'added.txt')).items.map((v) => [v.path, v.since.imageId]),
    ).toEqual([['/changes/added.txt', i2.imageId]]);
    // Below a removed directory: gone from the image where the directory went.
    expect((await findByName(store, 'vol-cat', 'gone-later.txt')).items).toMatchObject([
      { path: '/changes/olddir/deep/gone-later.txt', until: { imageId: i2.imageId }, removedAtUntil: true },
    ]);
    expect(await listAll(store, i2, 0, '/changes/olddir/deep')).toEqual([]);
    expect((await listAll(store, i1, 0, '/changes/olddir/deep')).map((e) => e.name)).toEqual([
      'gone-later.txt',
    ]);
  });

  it('catalogues the same through a reader that returns Node Buffers (as the ImageReader does)', async () => {
    const file = await FileByteRangeReader.open(image2);
    const buffers = {
      size: file.size,
      read: async (offset: number, length: number) => {
        const bytes = await file.read(offset, length);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
    };
    const other = new MemoryCatalogStore();
    const record = await buildCatalog({ store: other }, { image: imageAt('vol-buffers', 1), disk: buffers });
    await file.close();
    expect(record.errors).toEqual([]);
    expect(record.changes.itemsWritten).toBe((await walkStats(await FileByteRangeReader.open(image2))).size);
  });

  it('an unchanged image writes no version items', async () => {
    const before = store.itemsPut;
    const record = await catalog(store, image2, 3);
    expect(store.itemsPut - before).toBe(0);
    expect(record.changes).toEqual({ added: 0, changed: 0, removed: 0, itemsWritten: 0 });
    expect(record.status).toBe('complete');
  });
});

describe('buildCatalog on other layouts', () => {
  it('catalogues a 1 KiB-block ext4 with a malformed application file (a warning, not a failure)', async () => {
    const dir = await scratchDir('catalog-1k');
    try {
      const src = path.join(dir, 'src');
      await generateTree(src, { seed: 7, files: 300, deepChain: 10, maxFileBytes: 50_000 });
      await mkdir(path.join(src, '.rbp'));
      await writeFile(
        path.join(src, '.rbp', 'applications.json'),
        '{"formatVersion":1,"applications":[{"name":"x"}]}',
      );
      const img = path.join(dir, 'small.img');
      await makeExtImage(img, { type: 'ext4', sizeBytes: 40 * MIB, blockSize: 1024, sourceDir: src });
      const store = new MemoryCatalogStore();
      const record = await catalog(store, img, 1, 'vol-1k');
      expect(record.status).toBe('complete');
      expect(record.applicationCount).toBe(0);
      expect(record.warnings).toEqual([
        {
          partition: 0,
          path: '/.rbp/applications.json',
          message:
            'application metadata is malformed: does not match the schema: applications.0.type: Invalid option: expected one of "postgresql"|"mysql"|"mariadb"|"mssql"|"oracle"|"mongodb"|"generic"',
        },
      ]);
      await expectCatalogEqualsSource(store, imageAt('vol-1k', 1), 0, src);
    } finally {
      await removeDir(dir);
    }
  });

  it('catalogues the ext partitions of GPT and MBR disks and records the others as unsupported', async () => {
    const dir = await scratchDir('catalog-disks');
    try {
      const src = path.join(dir, 'src');
      await generateTree(src, { seed: 9, files: 200, maxFileBytes: 20_000, specialFiles: false });
      const fsImage = path.join(dir, 'fs.img');
      await makeExtImage(fsImage, { type: 'ext4', sizeBytes: 24 * MIB, sourceDir: src });
      const swapImage = path.join(dir, 'swap.img');
      await run('truncate', ['-s', String(8 * MIB), swapImage]);
      await run('mkswap', [swapImage]);

      const gpt = path.join(dir, 'gpt.img');
      await makeGptDisk(gpt, 64 * MIB, [
        { startSector: 2048, endSector: 2048 + (24 * MIB) / 512 - 1, typeCode: '8300', name: 'root' },
        { startSector: 51200, endSector: 51200 + (8 * MIB) / 512 - 1, typeCode: '8200', name: 'swap' },
      ]);
      await spliceImage(gpt, 2048 * 512, fsImage);
      await spliceImage(gpt, 51200 * 512, swapImage);
      const store = new MemoryCatalogStore();
      const record = await catalog(store, gpt, 1, 'vol-gpt');
      expect(record.partitionScheme).toBe('gpt');
      expect(record.status).toBe('complete');
      expect(record.partitions.map((p) => [p.index, p.fsType, p.status])).toEqual([
        [1, 'ext4', 'complete'],
        [2, 'swap', 'unsupported'],
      ]);
      expect(record.warnings).toEqual([
        { message: 'no application metadata file (/.rbp/applications.json) on any filesystem' },
      ]);
      await expectCatalogEqualsSource(store, imageAt('vol-gpt', 1), 1, src);

      const mbr = path.join(dir, 'mbr.img');
      await makeMbrDisk(
        mbr,
        64 * MIB,
        'label: dos\nstart=2048, size=16384, type=82\nstart=20480, size=49152, type=83\n',
      );
      await spliceImage(mbr, 2048 * 512, swapImage);
      await spliceImage(mbr, 20480 * 512, fsImage);
      const mbrStore = new MemoryCatalogStore();
      const mbrRecord = await catalog(mbrStore, mbr, 1, 'vol-mbr');
      expect(mbrRecord.partitionScheme).toBe('mbr');
      expect(mbrRecord.partitions.map((p) => [p.index, p.fsType, p.status])).toEqual([
        [1, 'swap', 'unsupported'],
        [2, 'ext4', 'complete'],
      ]);
      await expectCatalogEqualsSource(mbrStore, imageAt('vol-mbr', 1), 2, src);

      const blank = path.join(dir, 'blank.img');
      await run('truncate', ['-s', String(4 * MIB), blank]);
      const blankRecord = await catalog(new MemoryCatalogStore(), blank, 1, 'vol-blank');
      expect(blankRecord.status).toBe('unsupported');
      expect(blankRecord.partitions.map((p) => [p.index, p.fsType, p.status])).toEqual([
        [0, 'unknown', 'unsupported'],
      ]);
    } finally {
      await removeDir(dir);
    }
  });
});
