/**
 * A file's bytes as of an image, read through the image reader: only the byte ranges its extents
 * cover (so only the chunks that hold its data are fetched), several pieces in flight, yielded in
 * order; holes and unwritten extents come back as zeros without any read. Data that is not stored
 * as plain extents (NTFS resident or compressed data) and alternate data streams are read through
 * the filesystem's own readFileStream.
 *
 * A restore that resumes in a later invocation regenerates its output from the start and drops
 * what is already stored: `from` names that prefix, and the pieces wholly inside it come back as
 * zeros without any read (their bytes are dropped anyway).
 */
import { CHUNK_SIZE_BYTES } from '../geometry.ts';
import type { FilesystemReader, SlicedReader } from '../fs/index.ts';
import type { ByteRangeReader } from '../ports.ts';

/** Pieces read in parallel: 8 × 1 MiB keeps a few GETs' latency off the critical path, 8 MiB in memory. */
export const RESTORE_READ_CONCURRENCY = 8;
/** Largest piece: one chunk, so a piece never spans two chunk GETs. */
export const RESTORE_PIECE_BYTES = CHUNK_SIZE_BYTES;

type Piece =
  | { readonly kind: 'zero'; readonly length: number }
  | { readonly kind: 'data'; readonly offset: number; readonly length: number };

/** Pieces of [from, to) of the partition reader, split on the disk's chunk grid. */
function* dataPieces(offsetInDisk: number, from: number, to: number): Generator<Piece> {
  let position = from;
  while (position < to) {
    const diskPosition = offsetInDisk + position;
    const chunkEnd =
      (Math.floor(diskPosition / RESTORE_PIECE_BYTES) + 1) * RESTORE_PIECE_BYTES - offsetInDisk;
    const end = Math.min(to, chunkEnd);
    yield { kind: 'data', offset: position, length: end - position };
    position = end;
  }
}

function* zeroPieces(length: number): Generator<Piece> {
  for (let done = 0; done < length; done += RESTORE_PIECE_BYTES) {
    yield { kind: 'zero', length: Math.min(RESTORE_PIECE_BYTES, length - done) };
  }
}

async function* filePieces(
  fs: FilesystemReader,
  offsetInDisk: number,
  inode: number,
  size: number,
): AsyncGenerator<Piece> {
  let position = 0;
  for await (const extent of fs.extents(inode)) {
    if (extent.logicalOffset >= size) break;
    if (extent.logicalOffset > position) yield* zeroPieces(extent.logicalOffset - position);
    const start = Math.max(position, extent.logicalOffset);
    const end = Math.min(size, extent.logicalOffset + extent.length);
    if (end <= start) continue;
    const physical = extent.physicalOffset + (start - extent.logicalOffset);
    yield* dataPieces(offsetInDisk, physical, physical + (end - start));
    position = end;
  }
  if (position < size) yield* zeroPieces(size - position);
}

/**
 * The bytes of regular file `inode` of `fs`, which was opened on `partition` (the same reader:
 * extents are offsets in it). Memory: at most `concurrency` pieces. Pieces that end at or before
 * byte `from` of the file are zeros, not read (plain extents only; other data is read whole).
 */
export async function* readFileBytes(
  fs: FilesystemReader,
  partition: ByteRangeReader,
  inode: number,
  concurrency = RESTORE_READ_CONCURRENCY,
  stream?: string,
  from = 0,
): AsyncGenerator<Uint8Array> {
  const stat = await fs.stat(inode);
  if (stream !== undefined || stat.plainExtents === false) {
    yield* fs.readFileStream(inode, {
      pieceBytes: RESTORE_PIECE_BYTES,
      ...(stream === undefined ? {} : { stream }),
    });
    return;
  }
  const offsetInDisk = 'offsetInDisk' in partition ? (partition as SlicedReader).offsetInDisk : 0;
  const window: Promise<Uint8Array>[] = [];
  let position = 0;
  try {
    for await (const piece of filePieces(fs, offsetInDisk, inode, stat.size)) {
      position += piece.length;
      const pending =
        piece.kind === 'zero' || position <= from
          ? Promise.resolve(new Uint8Array(piece.length))
          : partition.read(piece.offset, piece.length);
      pending.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      window.push(pending);
      if (window.length >= Math.max(1, concurrency)) yield await window.shift()!;
    }
    while (window.length > 0) yield await window.shift()!;
  } finally {
    window.length = 0;
  }
}

/** A data region of a file: [offset, offset + length) holds data; everything else is a hole. */
export interface DataRegion {
  readonly offset: number;
  readonly length: number;
}

/**
 * The data regions of regular file `inode` (its extents clipped to its size, adjacent ones
 * merged), or undefined when its data is not plain extents (then it has no holes we can name).
 */
export async function fileDataMap(fs: FilesystemReader, inode: number): Promise<DataRegion[] | undefined> {
  const stat = await fs.stat(inode);
  if (stat.plainExtents === false) return undefined;
  const regions: { offset: number; length: number }[] = [];
  for await (const extent of fs.extents(inode)) {
    if (extent.logicalOffset >= stat.size) break;
    const end = Math.min(stat.size, extent.logicalOffset + extent.length);
    const last = regions.at(-1);
    const start = Math.max(extent.logicalOffset, last === undefined ? 0 : last.offset + last.length);
    if (end <= start) continue;
    if (last !== undefined && last.offset + last.length === start) last.length += end - start;
    else regions.push({ offset: start, length: end - start });
  }
  return regions;
}

/** The file offset of byte `dataByte` of the regions' data laid end to end. */
function fileOffsetOfData(regions: readonly DataRegion[], dataByte: number): number {
  let left = dataByte;
  for (const { offset, length } of regions) {
    if (left < length) return offset + left;
    left -= length;
  }
  return Number.MAX_SAFE_INTEGER;
}

/**
 * Only the bytes of `regions` of regular file `inode`, in order (what a sparse archive entry
 * stores after its map): readFileBytes with the holes left out. Data before byte `from` of that
 * output is zeros, not read (see readFileBytes).
 */
export async function* readFileRegions(
  fs: FilesystemReader,
  partition: ByteRangeReader,
  inode: number,
  regions: readonly DataRegion[],
  from = 0,
): AsyncGenerator<Uint8Array> {
  let position = 0;
  let region = 0;
  const fileFrom = from === 0 ? 0 : fileOffsetOfData(regions, from);
  for await (const piece of readFileBytes(fs, partition, inode, undefined, undefined, fileFrom)) {
    let at = 0;
    while (at < piece.length && region < regions.length) {
      const { offset, length } = regions[region]!;
      const absolute = position + at;
      if (absolute < offset) {
        at = Math.min(piece.length, offset - position);
        continue;
      }
      const take = Math.min(piece.length - at, offset + length - absolute);
      yield piece.subarray(at, at + take);
      at += take;
      if (position + at >= offset + length) region += 1;
    }
    position += piece.length;
    if (region >= regions.length) return;
  }
}
