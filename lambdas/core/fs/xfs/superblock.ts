/**
 * The XFS superblock (sector 0 of the filesystem; big-endian), validated before anything else is
 * read. Field offsets are those of `struct xfs_dsb` in the kernel's fs/xfs/libxfs/xfs_format.h;
 * the on-disk format is described in the XFS Algorithms & Data Structures document
 * (https://www.kernel.org/pub/linux/utils/fs/xfs/docs/xfs_filesystem_structure.pdf).
 */
import { decodeNulTerminated, formatUuid } from '../bytes.ts';
import { FilesystemCorruptError, UnsupportedFilesystemError } from '../errors.ts';
import { BeBytes, xfsChecksumOk } from './be-bytes.ts';
import { MAX_BLOCK_BYTES } from './limits.ts';

export const XFS_SB_MAGIC = 0x58465342; // "XFSB"
/** The superblock lives in the first sector; 512 bytes hold every field this reader uses. */
export const SUPERBLOCK_READ_BYTES = 512;
const SB_CRC_OFFSET = 224;

/** sb_versionnum bits (XFS_SB_VERSION_*). */
const VERSION_NUMBITS = 0x000f;
const VERSION_DIRV2BIT = 0x2000;
const VERSION_MOREBITSBIT = 0x8000;
/** sb_features2: the directory entry file type byte on v4 filesystems (XFS_SB_VERSION2_FTYPE). */
const FEATURES2_FTYPE = 0x200;

/** sb_features_incompat bits of v5 filesystems (XFS_SB_FEAT_INCOMPAT_*). */
export const INCOMPAT = {
  FTYPE: 0x1,
  SPINODES: 0x2,
  META_UUID: 0x4,
  BIGTIME: 0x8,
  NEEDSREPAIR: 0x10,
  NREXT64: 0x20,
  EXCHRANGE: 0x40,
  PARENT: 0x80,
} as const;
/** Incompatible features that change nothing this reader parses, or that it handles. */
const KNOWN_INCOMPAT = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);

export interface XfsSuperblock {
  readonly version: 4 | 5;
  readonly blockSize: number;
  readonly blockLog: number;
  readonly dataBlocks: number;
  readonly uuid: string;
  /** The UUID stamped into v5 metadata blocks: sb_meta_uuid with META_UUID, else sb_uuid. */
  readonly metaUuid: Uint8Array;
  readonly rootInode: number;
  readonly agBlocks: number;
  readonly agCount: number;
  readonly agBlockLog: number;
  readonly sectorSize: number;
  readonly inodeSize: number;
  readonly inodeLog: number;
  readonly inodesPerBlockLog: number;
  readonly label: string;
  /** Directory block size in bytes (blocksize << sb_dirblklog). */
  readonly dirBlockSize: number;
  /** Directory entries carry a file type byte. */
  readonly hasFtype: boolean;
  readonly incompat: number;
  readonly realtimeBlocks: number;
  /** sb_logstart: the internal log's first block (AG-encoded), 0 for an external log. */
  readonly logStart: number;
  /** sb_logblocks: the log's length in filesystem blocks. */
  readonly logBlocks: number;
}

function log2Exact(value: number): number | undefined {
  if (!Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0) return undefined;
  return Math.log2(value);
}

export function parseSuperblock(bytes: Uint8Array, verifyChecksum: boolean): XfsSuperblock {
  const raw = new BeBytes(bytes);
  if (raw.u32(0) !== XFS_SB_MAGIC) throw new FilesystemCorruptError('no XFS superblock magic (XFSB)');
  const versionnum = raw.u16(100);
  const numbits = versionnum & VERSION_NUMBITS;
  if (numbits !== 4 && numbits !== 5) {
    throw new UnsupportedFilesystemError(`XFS superblock version ${numbits} is not read (4 and 5 are)`, {
      version: numbits,
    });
  }
  const version = numbits;
  const blockSize = raw.u32(4);
  const blockLog = raw.u8(120);
  const sectorSize = raw.u16(102);
  const inodeSize = raw.u16(104);
  const inodesPerBlock = raw.u16(106);
  const agBlocks = raw.u32(84);
  const agCount = raw.u32(88);
  const agBlockLog = raw.u8(124);
  const dirBlockLog = raw.u8(192);
  const bad = (what: string): never => {
    throw new FilesystemCorruptError(`XFS superblock: ${what}`, { blockSize, sectorSize, inodeSize });
  };
  if (log2Exact(blockSize) !== blockLog || blockSize < 512 || blockSize > MAX_BLOCK_BYTES) {
    bad(`invalid block size ${blockSize} (log ${blockLog})`);
  }
  if (
    log2Exact(sectorSize) !== raw.u8(121) ||
    sectorSize < 512 ||
    sectorSize > 32_768 ||
    sectorSize > blockSize
  ) {
    bad(`invalid sector size ${sectorSize}`);
  }
  if (
    log2Exact(inodeSize) !== raw.u8(122) ||
    inodeSize < 256 ||
    inodeSize > 2048 ||
    inodeSize > blockSize ||
    inodesPerBlock !== blockSize / inodeSize ||
    log2Exact(inodesPerBlock) !== raw.u8(123)
  ) {
    bad(`invalid inode size ${inodeSize} (${inodesPerBlock} per block)`);
  }
  if (agBlocks < 5 || agCount < 1 || agBlockLog !== Math.ceil(Math.log2(agBlocks)) || agBlockLog > 31) {
    bad(`invalid allocation group geometry (${agCount} groups of ${agBlocks} blocks, log ${agBlockLog})`);
  }
  const dirBlockSize = blockSize * 2 ** dirBlockLog;
  if (dirBlockLog > 8 || dirBlockSize > MAX_BLOCK_BYTES)
    bad(`invalid directory block size (log ${dirBlockLog})`);
  const dataBlocks = raw.u64(8);
  if (dataBlocks > agBlocks * agCount || dataBlocks <= agBlocks * (agCount - 1)) {
    bad(`${dataBlocks} data blocks do not fit ${agCount} groups of ${agBlocks} blocks`);
  }
  if (dataBlocks * blockSize > Number.MAX_SAFE_INTEGER) bad('filesystem larger than 2^53 bytes');
  if (version === 5 && verifyChecksum && !xfsChecksumOk(bytes.subarray(0, sectorSize), SB_CRC_OFFSET)) {
    bad('checksum mismatch');
  }
  let incompat = 0;
  let hasFtype: boolean;
  if (version === 5) {
    incompat = raw.u32(216);
    const unknown = incompat & ~KNOWN_INCOMPAT;
    if (unknown !== 0) {
      throw new UnsupportedFilesystemError(
        `XFS incompatible features 0x${unknown.toString(16)} are not read`,
        { incompat },
      );
    }
    hasFtype = (incompat & INCOMPAT.FTYPE) !== 0;
  } else {
    if ((versionnum & VERSION_DIRV2BIT) === 0) {
      throw new UnsupportedFilesystemError('XFS v4 with version 1 directories is not read');
    }
    hasFtype = (versionnum & VERSION_MOREBITSBIT) !== 0 && (raw.u32(200) & FEATURES2_FTYPE) !== 0;
  }
  const uuid = raw.slice(32, 16);
  return {
    version,
    blockSize,
    blockLog,
    dataBlocks,
    uuid: formatUuid(uuid),
    metaUuid: version === 5 && incompat & INCOMPAT.META_UUID ? raw.slice(248, 16).slice() : uuid.slice(),
    rootInode: raw.u64(56),
    agBlocks,
    agCount,
    agBlockLog,
    sectorSize,
    inodeSize,
    inodeLog: raw.u8(122),
    inodesPerBlockLog: raw.u8(123),
    label: decodeNulTerminated(raw.slice(108, 12)),
    dirBlockSize,
    hasFtype,
    incompat,
    realtimeBlocks: raw.u64(16),
    logStart: raw.u64(48),
    logBlocks: raw.u32(96),
  };
}
