/**
 * The product path the end-to-end disk tests (Windows-like, RHEL-like, exFAT) drive: a catalog of
 * a disk image file through buildCatalog with a given store, and files restored through the
 * file-restore path (openImageFilesystem + readFileBytes) compared with their source byte for byte.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import type { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { removeDir, scratchDir, type GptPartitionSpec } from '../support/fs-images.ts';

const SECTORS_PER_MIB = 2048;

/**
 * A scratch directory for the calling test file, made before its tests and removed after them;
 * the returned function gives its path. Call it at the top level, before the file's own beforeAll:
 * vitest runs beforeAll hooks in the order they are registered and afterAll hooks in reverse.
 */
export function useScratchDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await scratchDir(prefix);
  });
  afterAll(async () => {
    if (dir !== undefined) await removeDir(dir);
  });
  return () => {
    if (dir === undefined) throw new Error(`the ${prefix} scratch directory is made in beforeAll`);
    return dir;
  };
}

/** A GPT partition laid out in whole MiB (`start` and `size`), as makeGptDisk takes it. */
export function partitionInMiB(
  p: { readonly start: number; readonly size: number },
  typeCode: string,
  name: string,
): GptPartitionSpec {
  return {
    startSector: p.start * SECTORS_PER_MIB,
    endSector: (p.start + p.size) * SECTORS_PER_MIB - 1,
    typeCode,
    name,
  };
}

/** Catalogues `disk` as image `n` of `volumeId`. */
export async function catalogDisk(store: MemoryCatalogStore, disk: string, volumeId: string, n: number) {
  const reader = await FileByteRangeReader.open(disk);
  try {
    return await buildCatalog({ store }, { image: imageAt(volumeId, n), disk: reader });
  } finally {
    await reader.close();
  }
}

/**
 * Restores each of `files` (paths in the filesystem) from `partition` of `disk` (none: the disk's
 * only readable filesystem) and expects it equal to the same path under `sourceRoot`. Returns the
 * partition opened and the number of files compared.
 */
export async function restoreAndCompare(
  disk: string,
  partition: number | undefined,
  sourceRoot: string,
  files: Iterable<string>,
): Promise<{ partition: number; files: number }> {
  const reader = await FileByteRangeReader.open(disk);
  try {
    const opened = await openImageFilesystem(reader, partition);
    let count = 0;
    for (const file of files) {
      const parts: Buffer[] = [];
      for await (const piece of readFileBytes(opened.fs, opened.reader, await opened.fs.lookup(file)))
        parts.push(Buffer.from(piece));
      expect(Buffer.concat(parts).equals(await readFile(path.join(sourceRoot, file))), file).toBe(true);
      count += 1;
    }
    return { partition: opened.partition, files: count };
  } finally {
    await reader.close();
  }
}
