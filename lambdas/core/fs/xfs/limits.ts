/**
 * Safety limits of the XFS reader, beyond those every reader shares (../limits.ts).
 * The image is written by an untrusted guest, so every loop,
 * recursion and allocation driven by on-disk numbers is bounded by one of these. Each value is
 * above anything a real filesystem produces, and low enough that a Lambda with 1 GiB survives.
 */
import { DEFAULT_WALK_LIMITS, type WalkLimits } from '../limits.ts';

export { MAX_TRACKED_DIRECTORY_BLOCKS } from '../limits.ts';

export interface XfsLimits extends WalkLimits {
  /** Largest directory data section (di_size) that is read. */
  readonly maxDirectoryBytes: number;
  /** Most extents one file's map may hold (extent list or B+tree leaves). */
  readonly maxExtentsPerFile: number;
}

/**
 * 32 GiB: XFS keeps directory data blocks below the leaf section at byte 2^35
 * (XFS_DIR2_LEAF_OFFSET), so no directory's data section can be larger.
 */
export const MAX_DIRECTORY_BYTES = 32 * 1024 ** 3;
/** 4 Mi extents = about 100 MiB of results: a 16 TiB file fragmented into 4 MiB pieces. */
export const MAX_EXTENTS_PER_FILE = 4 * 1024 ** 2;
/**
 * Levels of a block-map B+tree below the in-inode root. The kernel's bound
 * (xfs_bmap_compute_maxlevels) is 9 for 2^48 extents with 1 KiB blocks; more is corruption.
 */
export const MAX_BMBT_LEVELS = 10;
/** XFS_SYMLINK_MAXLEN: the kernel refuses longer symlink targets. */
export const MAX_SYMLINK_TARGET_BYTES = 1024;
/** XFS_MAX_BLOCKSIZE (64 KiB): the largest block and directory block XFS defines. */
export const MAX_BLOCK_BYTES = 65_536;

export const DEFAULT_XFS_LIMITS: XfsLimits = {
  ...DEFAULT_WALK_LIMITS,
  maxDirectoryBytes: MAX_DIRECTORY_BYTES,
  maxExtentsPerFile: MAX_EXTENTS_PER_FILE,
};
