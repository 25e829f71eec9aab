/**
 * The product path the end-to-end disk tests (Windows-like, RHEL-like, exFAT) drive: a catalog of
 * a disk image file through buildCatalog with a given store, and files restored through the
 * file-restore path (openImageFilesystem + readFileBytes) compared with their source byte for byte,
 * and The Sleuth Kit's `fls -r -p` listing as the oracle of what the catalog must hold.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import type { CatalogEntryView } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { listAll } from '../catalog/catalog-images.ts';
import type { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { tskList } from '../support/fat-images.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import type { GptPartitionSpec } from '../support/fs-images.ts';
import { flsList } from './ntfs-images.ts';

const SECTORS_PER_MIB = 2048;

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
      const restored = await restoredBytes(opened, file);
      expect(restored.equals(await readFile(path.join(sourceRoot, file))), file).toBe(true);
      count += 1;
    }
    return { partition: opened.partition, files: count };
  } finally {
    await reader.close();
  }
}

/** The bytes the file-restore path gives for `file` (or its alternate data stream `stream`). */
async function restoredBytes(
  opened: Awaited<ReturnType<typeof openImageFilesystem>>,
  file: string,
  stream?: string,
): Promise<Buffer> {
  const inode = await opened.fs.lookup(file);
  const parts: Buffer[] = [];
  for await (const piece of readFileBytes(opened.fs, opened.reader, inode, undefined, stream))
    parts.push(Buffer.from(piece));
  return Buffer.concat(parts);
}

/** Restores the alternate data stream `path:stream` from `partition` of `disk` through the file-restore path. */
export async function restoreStream(
  disk: string,
  partition: number,
  file: string,
  stream: string,
): Promise<Buffer> {
  const reader = await FileByteRangeReader.open(disk);
  try {
    return await restoredBytes(await openImageFilesystem(reader, partition), file, stream);
  } finally {
    await reader.close();
  }
}

/** Every entry the catalog holds for `partition` as of `image`, by path (listed from the root down). */
export async function catalogEntries(
  store: MemoryCatalogStore,
  image: ImageRef,
  partition: number,
): Promise<Map<string, CatalogEntryView>> {
  const out = new Map<string, CatalogEntryView>();
  const pending = ['/'];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const entry of await listAll(store, image, partition, dir)) {
      out.set(entry.path, entry);
      if (entry.type === 'directory') pending.push(entry.path);
    }
  }
  return out;
}

/**
 * Every entry The Sleuth Kit's `fls -r -p` lists on the FAT or exFAT filesystem `offsetSectors`
 * into `disk` is in `catalog` with the same kind (file or directory). Returns the number checked.
 */
export async function expectFatListingInCatalog(
  disk: string,
  offsetSectors: number,
  catalog: ReadonlyMap<string, CatalogEntryView>,
): Promise<number> {
  const listed = await tskList(disk, offsetSectors);
  const wrong = listed.filter((t) => catalog.get(t.path)?.type !== t.type).map((t) => `${t.type} ${t.path}`);
  expect(wrong).toEqual([]);
  return listed.length;
}

/**
 * Every entry The Sleuth Kit's `fls -r -p` lists on the NTFS filesystem `offsetSectors` into
 * `disk` is in `catalog`, and every named $DATA stream (attribute type 128) it lists is among the
 * entry's streams. Returns the number of fls lines checked.
 */
export async function expectNtfsListingInCatalog(
  disk: string,
  offsetSectors: number,
  catalog: ReadonlyMap<string, CatalogEntryView>,
): Promise<number> {
  const listed = await flsList(disk, offsetSectors);
  const missing = listed.filter((e) => !catalog.has(e.path)).map((e) => e.path);
  expect(missing).toEqual([]);
  const streams = listed.filter((e) => e.stream !== undefined && e.attributeType === 128);
  const missingStreams = streams
    .filter((e) => !(catalog.get(e.path)?.streams ?? []).some((s) => s.name === e.stream))
    .map((e) => `${e.path}:${e.stream}`);
  expect(missingStreams).toEqual([]);
  return listed.length;
}
