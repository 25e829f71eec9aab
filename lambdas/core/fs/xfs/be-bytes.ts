/** Bounds-checked big-endian reads (XFS stores its metadata big-endian) and the CRC-32C it checks. */
import { EndianBytes, crc32cRaw, crc32cRawRange } from '../bytes.ts';

/** Big-endian fields: XFS stores its metadata big-endian. */
export class BeBytes extends EndianBytes {
  constructor(bytes: Uint8Array) {
    super(bytes, false);
  }
}

/**
 * XFS metadata checksums: the standard CRC-32C (seed ~0, result inverted) of the whole structure
 * with its own 4-byte checksum field taken as zero, stored little-endian
 * (xfs_start_cksum_safe / xfs_end_cksum in the kernel's libxfs/xfs_cksum.h).
 */
export function xfsChecksumOk(block: Uint8Array, crcOffset: number): boolean {
  if (crcOffset < 0 || crcOffset + 4 > block.length) return false;
  let crc = crc32cRawRange(0xffffffff, block, 0, crcOffset);
  crc = crc32cRaw(crc, ZERO32);
  crc = crc32cRawRange(crc, block, crcOffset + 4, block.length);
  const stored =
    (block[crcOffset]! |
      (block[crcOffset + 1]! << 8) |
      (block[crcOffset + 2]! << 16) |
      (block[crcOffset + 3]! << 24)) >>>
    0;
  return (crc ^ 0xffffffff) >>> 0 === stored;
}

const ZERO32 = new Uint8Array(4);
