/** A source tree and its ext4 image for the restore tests, and the oracle comparisons. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import {
  createRestoreJob,
  runRestoreJob,
  type RestoreDeps,
  type RestoreJob,
  type RestoreKind,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import {
  generateTree,
  makeExtImage,
  readSourceTree,
  run,
  writeSparseFile,
  type SourceEntry,
} from '../support/fs-images.ts';

const MIB = 1024 * 1024;

/** Restore job `restoreId` of `target` in `image` (a path; an application's name for an application restore). */
export interface RestoreRequest {
  readonly restoreId: string;
  readonly kind: RestoreKind;
  readonly target: string;
  readonly keyToken: string;
}

/** Creates restore job `job` of `image`, as POST /restores does; returns its restoreId. */
export async function createRestore(
  deps: RestoreDeps,
  image: ImageRef,
  job: RestoreRequest,
): Promise<string> {
  await createRestoreJob(deps, {
    restoreId: job.restoreId,
    volumeId: image.volumeId,
    imageId: image.imageId,
    kind: job.kind,
    ...(job.kind === 'application' ? { application: job.target } : { path: job.target }),
    keyToken: job.keyToken,
  });
  return job.restoreId;
}

/** Creates restore job `job` of `image` and runs it to its end as the restore worker does. */
export async function createAndRunRestore(
  deps: RestoreDeps,
  image: ImageRef,
  job: RestoreRequest,
): Promise<RestoreJob> {
  return runRestoreJob(deps, await createRestore(deps, image, job));
}

export const APPLICATIONS_JSON = JSON.stringify({
  formatVersion: 1,
  applications: [
    {
      name: 'orders-db',
      type: 'postgresql',
      version: '16.2',
      paths: ['/srv/pg/conf'],
      databases: [{ name: 'orders', paths: ['/srv/pg/data'] }],
    },
  ],
});

/** Generated tree + a sparse 40 MiB file + an application's files; image with 4 KiB blocks. */
export async function makeRestoreSource(
  work: string,
  files = 600,
): Promise<{ source: string; image: string }> {
  const source = path.join(work, 'src');
  await generateTree(source, { seed: 77, files, deepChain: 30, maxFileBytes: 3 * MIB });
  await writeSparseFile(path.join(source, 'sparse.bin'), 40 * MIB + 123, [
    { offset: 4096 * 3 + 5, data: Buffer.alloc(9000, 7) },
    { offset: 17 * MIB + 1, data: Buffer.alloc(2 * MIB + 3, 9) },
    { offset: 40 * MIB, data: Buffer.from('tail') },
  ]);
  await mkdir(path.join(source, 'srv/pg/conf'), { recursive: true });
  await mkdir(path.join(source, 'srv/pg/data/base'), { recursive: true });
  await writeFile(path.join(source, 'srv/pg/conf/postgresql.conf'), 'shared_buffers = 128MB\n');
  await writeFile(path.join(source, 'srv/pg/data/base/16384'), Buffer.alloc(300_000, 3));
  await writeFile(path.join(source, 'srv/pg/unrelated.log'), 'not part of the application\n');
  await mkdir(path.join(source, '.rbp'));
  await writeFile(path.join(source, '.rbp/applications.json'), APPLICATIONS_JSON);
  const image = path.join(work, 'restore.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 200 * MIB, blockSize: 4096, sourceDir: source });
  return { source, image };
}

/** Regular files of the source tree, as absolute image paths. */
export async function sourceFiles(source: string): Promise<string[]> {
  const tree = await readSourceTree(source);
  return [...tree.values()].filter((e) => e.stat.isFile()).map((e) => e.path);
}

/**
 * What the archive comparison checks of one tree entry: mode, owners, mtime in whole seconds (not
 * compared for symlinks), size (not compared for directories), link target and device number.
 */
function comparedMetadata(entry: SourceEntry): Record<string, unknown> {
  return {
    mode: entry.stat.mode,
    uid: entry.stat.uid,
    gid: entry.stat.gid,
    mtime: entry.stat.isSymbolicLink() ? 0n : entry.stat.mtimeNs / 1_000_000_000n,
    size: entry.stat.isDirectory() ? 0n : entry.stat.size,
    target: entry.symlinkTarget,
    rdev: entry.stat.rdev,
  };
}

/**
 * Unpacks `archive` with GNU tar (owners, modes and times kept) and checks that `members` of the
 * source (absolute paths) equal what came out: types, modes, owners, mtimes, sizes, link targets,
 * contents byte for byte, and hard links (paths sharing an inode in the source share one out).
 */
export async function expectArchiveEqualsSource(
  archive: Buffer,
  work: string,
  source: string,
  roots: readonly string[],
  /** In the image but not in the source (mke2fs makes /lost+found). */
  extraInImage: readonly string[] = ['/lost+found'],
): Promise<number> {
  const out = path.join(work, `untar-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  await mkdir(out);
  const tarFile = `${out}.tar`;
  await writeFile(tarFile, archive);
  await run('tar', ['-x', '-p', '--same-owner', '--numeric-owner', '-f', tarFile, '-C', out]);
  const sourceTree = await readSourceTree(source);
  const outTree = await readSourceTree(out);
  const inRoots = (p: string): boolean => roots.some((r) => r === '/' || p === r || p.startsWith(`${r}/`));
  const expectedPaths = [...sourceTree.keys()].filter(
    (p) => p !== '/' && inRoots(p) && !sourceTree.get(p)!.stat.isSocket(),
  );
  const extracted = [...outTree.keys()].filter((p) => p !== '/' && inRoots(p) && !extraInImage.includes(p));
  expect(extracted.sort()).toEqual(expectedPaths.sort());
  const sourceInodeToPath = new Map<bigint, string>();
  const outInodeOf = new Map<string, bigint>();
  for (const p of expectedPaths) {
    const want = sourceTree.get(p)!;
    const got = outTree.get(p)!;
    expect(comparedMetadata(got), p).toEqual(comparedMetadata(want));
    if (want.stat.isFile()) {
      expect((await readFile(path.join(out, p))).equals(await readFile(path.join(source, p))), p).toBe(true);
      const first = sourceInodeToPath.get(want.stat.ino);
      if (first === undefined) sourceInodeToPath.set(want.stat.ino, p);
      else expect(got.stat.ino, `${p} is a hard link of ${first}`).toBe(outInodeOf.get(first));
      outInodeOf.set(p, got.stat.ino);
    }
  }
  return expectedPaths.length;
}
