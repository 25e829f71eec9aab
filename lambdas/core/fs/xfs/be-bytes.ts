/** Bounds-checked big-endian reads (XFS stores its metadata big-endian) and the CRC-32C it checks. */
import { combineHiLo, crc32cRaw } from '../bytes.ts';
import { FilesystemCorruptError } from '../errors.ts';

export class BeBytes {
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  private check(offset: number, width: number): void {
    if (offset < 0 || offset + width > this.bytes.length) {
      throw new FilesystemCorruptError(
        `structure field at offset ${offset} (+${width}) lies outside its ${this.bytes.length}-byte record`,
      );
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }

  u16(offset: number): number {
    this.check(offset, 2);
    return this.view.getUint16(offset, false);
  }

  u32(offset: number): number {
    this.check(offset, 4);
    return this.view.getUint32(offset, false);
  }

  i32(offset: number): number {
    this.check(offset, 4);
    return this.view.getInt32(offset, false);
  }

  /** A 64-bit big-endian value as a number; values above 2^53 are reported as corruption. */
  u64(offset: number): number {
    this.check(offset, 8);
    return combineHiLo(this.view.getUint32(offset, false), this.view.getUint32(offset + 4, false));
  }

  /** A 64-bit big-endian value exactly (timestamps, "null" inode numbers). */
  u64big(offset: number): bigint {
    this.check(offset, 8);
    return this.view.getBigUint64(offset, false);
  }

  slice(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/**
 * XFS metadata checksums: the standard CRC-32C (seed ~0, result inverted) of the whole structure
 * with its own 4-byte checksum field taken as zero, stored little-endian
 * (xfs_start_cksum_safe / xfs_end_cksum in the kernel's libxfs/xfs_cksum.h).
 */
export function xfsChecksumOk(block: Uint8Array, crcOffset: number): boolean {
  if (crcOffset < 0 || crcOffset + 4 > block.length) return false;
  let crc = crc32cRaw(0xffffffff, block.subarray(0, crcOffset));
  crc = crc32cRaw(crc, ZERO32);
  crc = crc32cRaw(crc, block.subarray(crcOffset + 4));
  const stored = new DataView(block.buffer, block.byteOffset, block.byteLength).getUint32(crcOffset, true);
  return (crc ^ 0xffffffff) >>> 0 === stored;
}

const ZERO32 = new Uint8Array(4);
