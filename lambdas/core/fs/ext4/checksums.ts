/**
 * ext4 metadata checksums (metadata_csum, on by default since e2fsprogs 1.43): the superblock,
 * group descriptors, inodes, directory leaf blocks and extent tree blocks each carry a CRC-32C.
 * Verifying them turns most corruption into a typed error for the damaged object instead of
 * silently wrong metadata. Formulas follow the kernel (fs/ext4) and libext2fs (csum.c).
 */
import { crc32cRaw, crc32cRawRange, crc32cRawU32 } from '../bytes.ts';

const ZERO16 = new Uint8Array(2);

/** Superblock: crc32c(~0, the first 1020 bytes), stored in the last 4. */
export function superblockChecksumOk(sb: Uint8Array): boolean {
  const stored = new DataView(sb.buffer, sb.byteOffset, sb.byteLength).getUint32(0x3fc, true);
  return crc32cRaw(0xffffffff, sb.subarray(0, 0x3fc)) === stored;
}

/** Group descriptor: low 16 bits of crc32c(seed, group, descriptor with bg_checksum zeroed). */
export function groupDescriptorChecksumOk(seed: number, group: number, desc: Uint8Array): boolean {
  const view = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  let crc = crc32cRawU32(seed, group);
  crc = crc32cRawRange(crc, desc, 0, 0x1e);
  crc = crc32cRaw(crc, ZERO16);
  if (desc.length > 0x20) crc = crc32cRawRange(crc, desc, 0x20, desc.length);
  return (crc & 0xffff) === view.getUint16(0x1e, true);
}

/** Per-inode seed: crc32c(fs seed, inode number, generation); also seeds its directory and extent blocks. */
export function inodeSeed(fsSeed: number, inode: number, generation: number): number {
  return crc32cRawU32(crc32cRawU32(fsSeed, inode), generation);
}

const GOOD_OLD_INODE_SIZE = 128;
const CSUM_LO = 0x7c;
const CSUM_HI = 0x82;

/** Inode: crc32c over the record with both checksum halves zeroed; the high half only when it fits. */
export function inodeChecksumOk(seed: number, raw: Uint8Array, extraIsize: number): boolean {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let crc = crc32cRawRange(seed, raw, 0, CSUM_LO);
  crc = crc32cRaw(crc, ZERO16);
  crc = crc32cRawRange(crc, raw, CSUM_LO + 2, GOOD_OLD_INODE_SIZE);
  const hiFits = raw.length > GOOD_OLD_INODE_SIZE && CSUM_HI + 2 <= GOOD_OLD_INODE_SIZE + extraIsize;
  if (raw.length > GOOD_OLD_INODE_SIZE) {
    crc = crc32cRawRange(crc, raw, GOOD_OLD_INODE_SIZE, CSUM_HI);
    let rest = CSUM_HI;
    if (hiFits) {
      crc = crc32cRaw(crc, ZERO16);
      rest += 2;
    }
    crc = crc32cRawRange(crc, raw, rest, raw.length);
  }
  const lo = view.getUint16(CSUM_LO, true);
  const matches = hiFits
    ? crc >>> 0 === ((view.getUint16(CSUM_HI, true) << 16) | lo) >>> 0
    : (crc & 0xffff) === lo;
  // libext2fs: an all-zero inode has no checksum to check (looked at only when the sum differs).
  return matches || allZero(raw);
}

function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i += 1) if (bytes[i] !== 0) return false;
  return true;
}

/** Directory leaf block: a 12-byte tail (inode 0, rec_len 12, type 0xDE) holds crc32c of the rest. */
export function dirBlockTail(block: Uint8Array): number | undefined {
  const at = block.length - 12;
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (view.getUint32(at, true) !== 0 || view.getUint16(at + 4, true) !== 12) return undefined;
  if (block[at + 6] !== 0 || block[at + 7] !== 0xde) return undefined;
  return view.getUint32(at + 8, true);
}

export function dirBlockChecksumOk(seed: number, block: Uint8Array, stored: number): boolean {
  return crc32cRawRange(seed, block, 0, block.length - 12) === stored;
}

/** Extent tree block: the 4 bytes after eh_max entries hold crc32c of everything before them. */
export function extentBlockChecksumOk(seed: number, block: Uint8Array, ehMax: number): boolean {
  const at = 12 + 12 * ehMax;
  if (at + 4 > block.length) return false;
  const stored = new DataView(block.buffer, block.byteOffset, block.byteLength).getUint32(at, true);
  return crc32cRawRange(seed, block, 0, at) === stored;
}
