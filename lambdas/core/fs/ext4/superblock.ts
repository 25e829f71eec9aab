/** The ext2/3/4 superblock: geometry, features, label, UUID; and where each group descriptor lives. */
import { LeBytes, combineHiLo, crc32cRaw, decodeNulTerminated, formatUuid } from '../bytes.ts';
import { superblockChecksumOk } from './checksums.ts';
import { FilesystemCorruptError, UnsupportedFilesystemError } from '../errors.ts';

export const SUPERBLOCK_OFFSET_BYTES = 1024;
export const SUPERBLOCK_BYTES = 1024;
const EXT_MAGIC = 0xef53;
/** ext4 supports 1 KiB (log 0) to 64 KiB (log 6) blocks. */
const MAX_LOG_BLOCK_SIZE = 6;

export const COMPAT = { HAS_JOURNAL: 0x4, SPARSE_SUPER2: 0x200 } as const;

export const INCOMPAT = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;

/** INCOMPAT features whose on-disk structures this reader understands (or that do not affect reading). */
const SUPPORTED_INCOMPAT =
  INCOMPAT.FILETYPE |
  INCOMPAT.RECOVER |
  INCOMPAT.META_BG |
  INCOMPAT.EXTENTS |
  INCOMPAT.BIT64 |
  INCOMPAT.MMP |
  INCOMPAT.FLEX_BG |
  INCOMPAT.EA_INODE |
  INCOMPAT.CSUM_SEED |
  INCOMPAT.LARGEDIR |
  INCOMPAT.INLINE_DATA |
  INCOMPAT.ENCRYPT |
  INCOMPAT.CASEFOLD;

const INCOMPAT_NAMES: Record<number, string> = {
  0x1: 'compression',
  0x8: 'journal_dev',
  0x1000: 'dirdata',
};

export const RO_COMPAT = {
  SPARSE_SUPER: 0x1,
  LARGE_FILE: 0x2,
  HUGE_FILE: 0x8,
  BIGALLOC: 0x200,
  METADATA_CSUM: 0x400,
} as const;

export interface Superblock {
  readonly inodesCount: number;
  readonly blocksCount: number;
  readonly firstDataBlock: number;
  readonly blockSize: number;
  readonly blocksPerGroup: number;
  readonly inodesPerGroup: number;
  readonly inodeSize: number;
  readonly firstInode: number;
  readonly revLevel: number;
  readonly featureCompat: number;
  readonly featureIncompat: number;
  readonly featureRoCompat: number;
  readonly uuid: string;
  readonly label: string;
  readonly lastMounted: string;
  readonly descSize: number;
  readonly firstMetaBg: number;
  readonly groupCount: number;
  readonly backupBgs: readonly [number, number];
  /** Seconds since the epoch of the last write, 0 when never written. */
  readonly writeTime: number;
  /** Inode of the internal journal (s_journal_inum), 0 when none or external. */
  readonly journalInode: number;
  /** metadata_csum: inodes, descriptors, directory and extent blocks carry CRC-32C checksums. */
  readonly metadataCsum: boolean;
  /** Seed of every metadata checksum: s_checksum_seed, or crc32c(~0, UUID). */
  readonly checksumSeed: number;
}

export function has(flags: number, bit: number): boolean {
  return (flags & bit) !== 0;
}

/** Parses and validates the 1 KiB superblock; `deviceBytes` bounds the geometry it may claim. */
export function parseSuperblock(raw: Uint8Array, deviceBytes: number, verifyChecksum = true): Superblock {
  const le = new LeBytes(raw);
  if (le.u16(0x38) !== EXT_MAGIC) {
    throw new FilesystemCorruptError('no ext2/3/4 superblock (magic 0xEF53 missing at byte 1080)', {
      magic: le.u16(0x38),
    });
  }
  const incompat = le.u32(0x60);
  const unknown = incompat & ~SUPPORTED_INCOMPAT;
  if (unknown !== 0) {
    const names: string[] = [];
    for (let bit = 1; bit !== 0 && bit <= unknown; bit <<= 1) {
      if (unknown & bit) names.push(INCOMPAT_NAMES[bit] ?? `0x${bit.toString(16)}`);
    }
    throw new UnsupportedFilesystemError(
      `ext filesystem uses unsupported INCOMPAT features: ${names.join(', ')}`,
      {
        featureIncompat: incompat,
        unsupported: unknown,
      },
    );
  }
  const metadataCsum = has(le.u32(0x64), RO_COMPAT.METADATA_CSUM);
  if (metadataCsum && verifyChecksum && !superblockChecksumOk(raw)) {
    throw new FilesystemCorruptError('ext superblock checksum mismatch', { stored: le.u32(0x3fc) });
  }
  const logBlockSize = le.u32(0x18);
  if (logBlockSize > MAX_LOG_BLOCK_SIZE) {
    throw new FilesystemCorruptError(`block size 2^(10+${logBlockSize}) is outside 1 KiB..64 KiB`, {
      logBlockSize,
    });
  }
  const blockSize = 1024 << logBlockSize;
  const is64 = has(incompat, INCOMPAT.BIT64);
  const blocksCount = is64 ? combineHiLo(le.u32(0x150), le.u32(0x4)) : le.u32(0x4);
  const firstDataBlock = le.u32(0x14);
  const blocksPerGroup = le.u32(0x20);
  const inodesPerGroup = le.u32(0x28);
  const inodesCount = le.u32(0x0);
  const revLevel = le.u32(0x4c);
  const inodeSize = revLevel === 0 ? 128 : le.u16(0x58);
  const firstInode = revLevel === 0 ? 11 : le.u32(0x54);
  const descSize = is64 ? le.u16(0xfe) : 32;

  const bad = (message: string): never => {
    throw new FilesystemCorruptError(`ext superblock: ${message}`, {
      blockSize,
      blocksCount,
      blocksPerGroup,
      inodesPerGroup,
      inodesCount,
      inodeSize,
    });
  };
  if (blocksPerGroup === 0 || blocksPerGroup > 8 * blockSize)
    bad(`blocks per group ${blocksPerGroup} is invalid`);
  if (inodesPerGroup === 0 || inodesPerGroup > 8 * blockSize)
    bad(`inodes per group ${inodesPerGroup} is invalid`);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    bad(`inode size ${inodeSize} is invalid`);
  }
  if (firstDataBlock !== (blockSize === 1024 ? 1 : 0) && firstDataBlock !== 0) {
    bad(`first data block ${firstDataBlock} is invalid`);
  }
  if (blocksCount <= firstDataBlock) bad(`block count ${blocksCount} is invalid`);
  if (blocksCount * blockSize > Number.MAX_SAFE_INTEGER) bad('size exceeds 2^53 bytes');
  if (is64 && (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)) {
    bad(`descriptor size ${descSize} is invalid`);
  }
  if (firstInode < 11 || firstInode > inodesCount) bad(`first inode ${firstInode} is invalid`);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (inodesCount > groupCount * inodesPerGroup)
    bad(`inode count ${inodesCount} exceeds groups × inodes per group`);
  // The descriptor table of the claimed geometry must fit in the device at least.
  if (groupCount * descSize > deviceBytes)
    bad(`${groupCount} block groups cannot fit in ${deviceBytes} bytes`);

  return {
    inodesCount,
    blocksCount,
    firstDataBlock,
    blockSize,
    blocksPerGroup,
    inodesPerGroup,
    inodeSize,
    firstInode,
    revLevel,
    featureCompat: le.u32(0x5c),
    featureIncompat: incompat,
    featureRoCompat: le.u32(0x64),
    uuid: formatUuid(le.slice(0x68, 16)),
    label: decodeNulTerminated(le.slice(0x78, 16)),
    lastMounted: decodeNulTerminated(le.slice(0x88, 64)),
    descSize,
    firstMetaBg: le.u32(0x104),
    groupCount,
    backupBgs: [le.u32(0x24c), le.u32(0x250)],
    writeTime: le.u32(0x30),
    metadataCsum,
    journalInode: has(le.u32(0x5c), COMPAT.HAS_JOURNAL) ? le.u32(0xe0) : 0,
    checksumSeed: has(incompat, INCOMPAT.CSUM_SEED)
      ? le.u32(0x270)
      : crc32cRaw(0xffffffff, le.slice(0x68, 16)),
  };
}

function isPowerOf(n: number, base: number): boolean {
  let x = n;
  while (x > 1 && x % base === 0) x /= base;
  return x === 1;
}

/** Whether block group `group` carries a superblock backup (and so, without meta_bg, a GDT copy). */
export function groupHasSuperblock(sb: Superblock, group: number): boolean {
  if (group === 0) return true;
  if (has(sb.featureCompat, COMPAT.SPARSE_SUPER2))
    return group === sb.backupBgs[0] || group === sb.backupBgs[1];
  if (group <= 1 || !has(sb.featureRoCompat, RO_COMPAT.SPARSE_SUPER)) return true;
  if (group % 2 === 0) return false;
  return isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

/** Byte offset of the descriptor of `group` (libext2fs ext2fs_descriptor_block_loc2 for the primary copy). */
export function groupDescriptorOffset(sb: Superblock, group: number): number {
  const descPerBlock = sb.blockSize / sb.descSize;
  const descBlockIndex = Math.floor(group / descPerBlock);
  const withinBlock = (group % descPerBlock) * sb.descSize;
  // Bigalloc with 1 KiB blocks reserves block 0, shifting group 0's descriptors by one.
  const zeroAdjust =
    descBlockIndex === 0 && sb.blockSize === 1024 && has(sb.featureRoCompat, RO_COMPAT.BIGALLOC) ? 1 : 0;
  let block: number;
  if (!has(sb.featureIncompat, INCOMPAT.META_BG) || descBlockIndex < sb.firstMetaBg) {
    block = sb.firstDataBlock + 1 + descBlockIndex + zeroAdjust;
  } else {
    // meta_bg: each descriptor block lives in the first group of its meta group.
    const firstGroup = descBlockIndex * descPerBlock;
    const hasSuper = groupHasSuperblock(sb, firstGroup) ? 1 : 0;
    block = sb.firstDataBlock + firstGroup * sb.blocksPerGroup + hasSuper + zeroAdjust;
  }
  return block * sb.blockSize + withinBlock;
}
