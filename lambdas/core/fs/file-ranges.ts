/**
 * The byte-range rules every filesystem reader applies to a file's data: a requested range checked
 * and clamped to the file's size, readFile()'s size limit, data that must lie on the device, and a
 * file's extents turned into pieces with holes as zeros.
 */
import type { ErrorContext } from '../errors.ts';
import { FilesystemCorruptError, FilesystemLimitError } from './errors.ts';
import { STREAM_PIECE_BYTES, type ReadStreamOptions } from './filesystem.ts';

/** Bytes of [offset, offset+length) that lie inside a file of `size` bytes; RangeError for a bad range. */
export function clampRange(size: number, offset: number, length: number | undefined): number {
  if (
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
  ) {
    throw new RangeError(`invalid range ${offset}+${length}`);
  }
  if (offset >= size) return 0;
  return Math.min(length ?? size - offset, size - offset);
}

/** readFile() returns at most `maxReadBytes`; larger reads must stream. `context` names the file. */
export function checkReadBytes(wanted: number, maxReadBytes: number, context: ErrorContext): void {
  if (wanted > maxReadBytes) {
    throw new FilesystemLimitError(
      `read of ${wanted} bytes exceeds the ${maxReadBytes}-byte limit; use readFileStream`,
      { ...context, length: wanted },
    );
  }
}

/** A file's data at `physicalOffset` must lie on the device. */
export function checkOnDevice(
  inode: number,
  physicalOffset: number,
  length: number,
  deviceBytes: number,
): void {
  if (physicalOffset + length > deviceBytes) {
    throw new FilesystemCorruptError(
      `inode ${inode}: data at byte ${physicalOffset} lies past the device end`,
      {
        inode,
        physicalOffset,
      },
    );
  }
}

/** Where a piece of a file's data lies; an unwritten extent reads as zeros. */
export interface DataExtent {
  readonly logicalOffset: number;
  readonly physicalOffset: number;
  readonly length: number;
  readonly unwritten?: boolean;
}

/**
 * The bytes [offset, offset+total) of a file whose data lies in `extents` (logical order, from
 * `offset` on), as pieces of at most `piece` bytes: holes and unwritten extents as zero-filled
 * pieces, data read by `read(physicalOffset, length)`.
 */
export async function* extentPieces(
  extents: AsyncIterable<DataExtent>,
  offset: number,
  total: number,
  piece: number,
  read: (physicalOffset: number, length: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const end = offset + total;
  let position = offset;
  for await (const extent of extents) {
    if (extent.logicalOffset >= end) break;
    const from = Math.max(position, extent.logicalOffset);
    const to = Math.min(end, extent.logicalOffset + extent.length);
    if (to <= from || extent.unwritten === true) continue;
    for (; position < from; position += Math.min(piece, from - position)) {
      yield new Uint8Array(Math.min(piece, from - position));
    }
    while (position < to) {
      const n = Math.min(piece, to - position);
      yield await read(extent.physicalOffset + (position - extent.logicalOffset), n);
      position += n;
    }
  }
  for (; position < end; position += Math.min(piece, end - position)) {
    yield new Uint8Array(Math.min(piece, end - position));
  }
}

/** The pieces joined into one array of `total` bytes. */
export async function joinPieces(pieces: AsyncIterable<Uint8Array>, total: number): Promise<Uint8Array> {
  const out = new Uint8Array(total);
  let at = 0;
  for await (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * The pieces readFileStream() yields for `options` of a file of `size` bytes: the range from
 * `options.offset` (0) for `options.length` (the rest), clamped to the file, in pieces of
 * `options.pieceBytes` (STREAM_PIECE_BYTES, at least 1) from the extents `extentsFrom(offset)`
 * lists (see extentPieces).
 */
export async function* streamFileRange(
  size: number,
  options: ReadStreamOptions,
  extentsFrom: (offset: number) => AsyncIterable<DataExtent>,
  read: (physicalOffset: number, length: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const offset = options.offset ?? 0;
  const total = clampRange(size, offset, options.length);
  yield* extentPieces(
    extentsFrom(offset),
    offset,
    total,
    Math.max(1, options.pieceBytes ?? STREAM_PIECE_BYTES),
    read,
  );
}
