/**
 * Readers may return Node Buffers (the ImageReader does). A Buffer's slice() is a view, not a copy
 * as Uint8Array's is, and its `.buffer` can be a shared pool; the filesystem readers assume plain
 * Uint8Array semantics. This wrapper re-types each result as a plain Uint8Array view (no copy).
 */
import type { ByteRangeReader } from '../ports.ts';
import { canFill } from './cached-reader.ts';

export function plainBytesReader(reader: ByteRangeReader): ByteRangeReader {
  if ((reader as { readonly plainBytes?: boolean }).plainBytes === true) return reader;
  const plain = {
    size: reader.size,
    plainBytes: true,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const bytes = await reader.read(offset, length);
      return Object.getPrototypeOf(bytes) === Uint8Array.prototype
        ? bytes
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  };
  // Filling the caller's buffer returns nothing to re-type: kept, so the page cache reuses its pages.
  if (!canFill(reader)) return plain;
  return {
    ...plain,
    readInto: (offset: number, target: Uint8Array) => reader.readInto(offset, target),
  } as ByteRangeReader;
}
