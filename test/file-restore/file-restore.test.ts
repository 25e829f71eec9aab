/**
 * File, directory and application restores from a real ext4 image (mke2fs -d of a generated tree,
 * read through a file-backed reader): every restored file equals its source byte for byte, and a
 * restored tar unpacked by GNU tar equals the source subtree.
 */
import { chown, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import {
  describeRestoreJob,
  runRestoreJob,
  type RestoreDeps,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import { disjointRoots, tarArchive } from '../../lambdas/core/file-restore/tar-archive.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { MemoryRestoreJobs, MemoryRestoreObjects } from './memory-restore.ts';
import {
  createAndRunRestore,
  expectArchiveEqualsSource,
  makeRestoreSource,
  sourceFiles,
} from './restore-fixture.ts';

const image = imageAt('vol-restore', 1);
const clock = { now: () => new Date('2026-02-01T10:00:00.000Z') };
let work: string;
let source: string;
let imageFile: string;
let reader: FileByteRangeReader;
let deps: RestoreDeps & { objects: MemoryRestoreObjects; jobs: MemoryRestoreJobs };
let nextId = 0;

async function restore(kind: 'file' | 'directory' | 'application', target: string) {
  nextId += 1;
  const restoreId = `rs-${nextId}`;
  return createAndRunRestore(deps, image, { restoreId, kind, target, keyToken: `token${nextId}` });
}

beforeAll(async () => {
  work = await scratchDir('file-restore');
  ({ source, image: imageFile } = await makeRestoreSource(work));
  reader = await FileByteRangeReader.open(imageFile);
  const catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image, disk: reader });
  deps = {
    jobs: new MemoryRestoreJobs(),
    objects: new MemoryRestoreObjects(),
    catalog,
    openImage: (volumeId, imageId) =>
      volumeId === image.volumeId && imageId === image.imageId
        ? Promise.resolve(reader)
        : Promise.reject(new Error('no such image')),
    clock,
  };
}, 120_000);

afterAll(async () => {
  await reader.close();
  await removeDir(work);
});

describe('file restore', () => {
  it('restores every regular file byte for byte (sparse, empty, large, unicode, hard-linked)', async () => {
    const files = await sourceFiles(source);
    expect(files.length).toBeGreaterThan(600);
    let bytes = 0;
    for (const file of files) {
      const job = await restore('file', file);
      expect(job.status, `${file}: ${job.failure?.reason}`).toBe('succeeded');
      const stored = deps.objects.objects.get(job.result!.key)!;
      const expected = await readFile(path.join(source, file));
      expect(stored.body.equals(expected), file).toBe(true);
      expect(job.result!.bytes).toBe(expected.length);
      bytes += expected.length;
    }
    expect(bytes).toBeGreaterThan(40 * 1024 * 1024);
    // Streaming: no piece larger than one chunk reached the uploader.
    expect(deps.objects.largestPiece).toBeLessThanOrEqual(1024 * 1024);
    // Over 600 restores one after another: about 30 s on a quiet machine, twice that when the machine is shared.
  }, 240_000);

  it('walks a job through pending, running, succeeded and describes it with a URL of at most 15 minutes', async () => {
    const job = await restore('file', '/srv/pg/conf/postgresql.conf');
    expect(deps.jobs.transitions.slice(-2)).toEqual(['pending->running', 'running->succeeded']);
    expect(job.result).toEqual({
      key: `restores/rs-${nextId}-token${nextId}/postgresql.conf`,
      fileName: 'postgresql.conf',
      contentType: 'application/octet-stream',
      bytes: 23,
      files: 1,
      problemCount: 0,
      problems: [],
    });
    const described = await describeRestoreJob(deps, job.restoreId);
    expect(described.downloadUrl).toBe(`memory://${job.result!.key}?expires=900&name=postgresql.conf`);
    expect(described.downloadExpiresAt).toBe('2026-02-01T10:15:00.000Z');
    await expect(describeRestoreJob(deps, job.restoreId, 901)).rejects.toThrow(
      'expiresInSeconds must be 1..900',
    );
    // Running a finished job again changes nothing.
    expect(await runRestoreJob(deps, job.restoreId)).toEqual(job);
  });

  it('fails a job with the reason for a missing path or a directory given as a file', async () => {
    const missing = await restore('file', '/no/such/file');
    expect(missing.status).toBe('failed');
    expect(missing.failure).toEqual({
      errorName: 'NotFoundError',
      reason: `/no/such/file does not exist in image ${image.imageId}: no such file or directory: /no/such/file`,
    });
    const dir = await restore('file', '/srv/pg');
    expect(dir.failure).toEqual({
      errorName: 'ValidationError',
      reason: '/srv/pg is a directory; only regular files can be restored as a file',
    });
    const app = await restore('application', 'no-such-app');
    expect(app.failure?.reason).toBe(`image ${image.imageId} has no application named "no-such-app"`);
  });
});

describe('file restore from other layouts', () => {
  it('restores inline-data files and files of a 1 KiB-block filesystem byte for byte', async () => {
    const dir = await scratchDir('restore-inline');
    try {
      const src = path.join(dir, 'src');
      await generateTree(src, { seed: 19, files: 200, maxFileBytes: 30_000, specialFiles: false });
      for (const [name, features, blockSize] of [
        ['inline.img', ['inline_data'], 4096],
        ['small-blocks.img', [], 1024],
      ] as const) {
        const img = path.join(dir, name);
        await makeExtImage(img, {
          type: 'ext4',
          sizeBytes: 32 * 1024 * 1024,
          blockSize,
          features,
          inodeSize: 256,
          sourceDir: src,
        });
        const disk = await FileByteRangeReader.open(img);
        try {
          const { fs, reader: partition } = await openImageFilesystem(disk);
          for (const file of await sourceFiles(src)) {
            const pieces: Uint8Array[] = [];
            for await (const piece of readFileBytes(fs, partition, await fs.lookup(file))) pieces.push(piece);
            expect(Buffer.concat(pieces).equals(await readFile(path.join(src, file))), `${name}${file}`).toBe(
              true,
            );
          }
        } finally {
          await disk.close();
        }
      }
    } finally {
      await removeDir(dir);
    }
  });
});

describe('directory and application restore', () => {
  it('restores the whole filesystem as a tar that unpacks to the source tree', async () => {
    const job = await restore('directory', '/');
    expect(job.status, job.failure?.reason).toBe('succeeded');
    const archive = deps.objects.objects.get(job.result!.key)!;
    expect(archive.contentType).toBe('application/x-tar');
    // lost+found comes from mke2fs, not the source: unpacked and compared separately.
    const compared = await expectArchiveEqualsSource(archive.body, work, source, ['/']);
    expect(compared).toBeGreaterThan(700);
    // The generated tree has one socket (dev/socket): tar cannot hold it, so it is reported.
    expect(job.result!.problems).toEqual([
      '/dev/socket: a socket cannot be stored in a tar archive; skipped',
    ]);
    expect(job.result!.files).toBe((await sourceFiles(source)).length);
  }, 120_000);

  it('restores a subtree and an application (its paths and its databases’ paths)', async () => {
    const dir = await restore('directory', '/srv/pg');
    await expectArchiveEqualsSource(deps.objects.objects.get(dir.result!.key)!.body, work, source, [
      '/srv/pg',
    ]);
    const app = await restore('application', 'orders-db');
    expect(app.result?.fileName).toBe('orders-db.tar');
    expect(app.result?.files).toBe(2);
    await expectArchiveEqualsSource(deps.objects.objects.get(app.result!.key)!.body, work, source, [
      '/srv/pg/conf',
      '/srv/pg/data',
    ]);
  });

  it('keeps owners above the ustar range and times before 1970 (pax records)', async () => {
    const dir = await scratchDir('restore-pax');
    try {
      const src = path.join(dir, 'src');
      await mkdir(path.join(src, 'odd'), { recursive: true });
      await writeFile(path.join(src, 'odd', 'big-ids'), 'owned by a large uid\n');
      await chown(path.join(src, 'odd', 'big-ids'), 300_000, 400_000);
      await writeFile(path.join(src, 'odd', 'old'), 'from 1960\n');
      await utimes(path.join(src, 'odd', 'old'), -315_619_200, -315_619_200);
      const img = path.join(dir, 'pax.img');
      await makeExtImage(img, { type: 'ext4', sizeBytes: 8 * 1024 * 1024, inodeSize: 256, sourceDir: src });
      const disk = await FileByteRangeReader.open(img);
      try {
        const { fs, reader: partition } = await openImageFilesystem(disk);
        const archive = tarArchive(fs, partition, ['/odd']);
        const pieces: Uint8Array[] = [];
        for await (const piece of archive.stream) pieces.push(piece);
        await expectArchiveEqualsSource(Buffer.concat(pieces), dir, src, ['/odd']);
      } finally {
        await disk.close();
      }
    } finally {
      await removeDir(dir);
    }
  });

  it('archives nested roots once', () => {
    expect(disjointRoots(['/a/b', '/a', '/c', '/a/b/c', '/ab'])).toEqual(['/a', '/ab', '/c']);
    expect(disjointRoots(['/x', '/'])).toEqual(['/']);
  });
});
