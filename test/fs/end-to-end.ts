/**
 * The product path the end-to-end disk tests (Windows-like, RHEL-like, exFAT) drive: a catalog of
 * a disk image file through buildCatalog with a given store, and files restored through the
 * file-restore path (openImageFilesystem + readFileBytes) compared with their source byte for byte.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import type { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';

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
