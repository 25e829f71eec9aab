/**
 * Safety limits of the ext2/3/4 reader, beyond those every reader shares (../limits.ts).
 * The image is written by an untrusted guest, so every loop,
 * recursion and allocation driven by on-disk numbers is bounded by one of these. Each value is
 * above anything a real filesystem produces, and low enough that a Lambda with 1 GiB survives.
 */
import { DEFAULT_WALK_LIMITS, type WalkLimits } from '../limits.ts';

export { MAX_TRACKED_DIRECTORY_BLOCKS } from '../limits.ts';

export interface Ext4Limits extends WalkLimits {
  /** Largest directory (i_size) that is read. */
  readonly maxDirectoryBytes: number;
  /** Most extents (or block runs) returned by fileExtents() for one file. */
  readonly maxExtentsPerFile: number;
}

/** 4 GiB: ext4 with large_dir reaches ~2 GiB for 10 million+ entries; more is not a real directory. */
export const MAX_DIRECTORY_BYTES = 4 * 1024 ** 3;
/** 4 Mi extents = 48 MiB of results: a 16 TiB file fragmented into 4 MiB pieces. */
export const MAX_EXTENTS_PER_FILE = 4 * 1024 ** 2;
/** The kernel's EXT4_MAX_EXTENT_DEPTH: a deeper tree is corrupt, not big. */
export const MAX_EXTENT_TREE_DEPTH = 5;
/** PATH_MAX: the kernel refuses longer symlink targets. */
export const MAX_SYMLINK_TARGET_BYTES = 4096;
/** An inline-data xattr region cannot exceed the inode itself (the largest inode is one 64 KiB block). */
export const MAX_INLINE_DATA_BYTES = 65_536;

/**
 * Group descriptors remembered once verified (a group number and its inode-table block each):
 * 65,536 groups are 8 TiB at 4 KiB blocks, about 5 MiB of Map; past it descriptors are re-read.
 */
export const MAX_REMEMBERED_INODE_TABLES = 65_536;

export const DEFAULT_EXT4_LIMITS: Ext4Limits = {
  ...DEFAULT_WALK_LIMITS,
  maxDirectoryBytes: MAX_DIRECTORY_BYTES,
  maxExtentsPerFile: MAX_EXTENTS_PER_FILE,
};
