/**
 * Safety limits of the ext2/3/4 reader. The image is written by an untrusted guest, so every loop,
 * recursion and allocation driven by on-disk numbers is bounded by one of these. Each value is
 * above anything a real filesystem produces, and low enough that a Lambda with 1 GiB survives.
 */
export interface Ext4Limits {
  /** Deepest directory nesting the walk descends into. */
  readonly maxDirectoryDepth: number;
  /** Largest directory (i_size) that is read. */
  readonly maxDirectoryBytes: number;
  /** Largest single readFile() result; larger reads must use readFileStream(). */
  readonly maxReadBytes: number;
  /** Most extents (or block runs) returned by fileExtents() for one file. */
  readonly maxExtentsPerFile: number;
  /** Components in a path given to lookup(). */
  readonly maxPathComponents: number;
}

/**
 * Linux's PATH_MAX is 4096, so a path the guest's own tools can open has at most 2048 components
 * ("a/" each); deeper trees exist only to attack a walker.
 */
export const MAX_DIRECTORY_DEPTH = 2048;
/** 4 GiB: ext4 with large_dir reaches ~2 GiB for 10 million+ entries; more is not a real directory. */
export const MAX_DIRECTORY_BYTES = 4 * 1024 ** 3;
/** 256 MiB per readFile(): a quarter of a 1 GiB Lambda; restores stream larger files. */
export const MAX_READ_BYTES = 256 * 1024 ** 2;
/** 4 Mi extents = 48 MiB of results: a 16 TiB file fragmented into 4 MiB pieces. */
export const MAX_EXTENTS_PER_FILE = 4 * 1024 ** 2;
/** Twice the component count of PATH_MAX (see MAX_DIRECTORY_DEPTH). */
export const MAX_PATH_COMPONENTS = 4096;
/** The kernel's EXT4_MAX_EXTENT_DEPTH: a deeper tree is corrupt, not big. */
export const MAX_EXTENT_TREE_DEPTH = 5;
/** PATH_MAX: the kernel refuses longer symlink targets. */
export const MAX_SYMLINK_TARGET_BYTES = 4096;
/** An inline-data xattr region cannot exceed the inode itself (the largest inode is one 64 KiB block). */
export const MAX_INLINE_DATA_BYTES = 65_536;

/**
 * Directory blocks remembered per walk to catch a block shared by two directories (crafted: the
 * same block listed again and again). 4 Mi blocks (about 100 MiB of Set) covers 16 GiB of
 * directories at 4 KiB, far beyond real trees; past it only the block-count budget applies.
 */
export const MAX_TRACKED_DIRECTORY_BLOCKS = 4 * 1024 ** 2;

/**
 * Group descriptors remembered once verified (a group number and its inode-table block each):
 * 65,536 groups are 8 TiB at 4 KiB blocks, about 5 MiB of Map; past it descriptors are re-read.
 */
export const MAX_REMEMBERED_INODE_TABLES = 65_536;

export const DEFAULT_EXT4_LIMITS: Ext4Limits = {
  maxDirectoryDepth: MAX_DIRECTORY_DEPTH,
  maxDirectoryBytes: MAX_DIRECTORY_BYTES,
  maxReadBytes: MAX_READ_BYTES,
  maxExtentsPerFile: MAX_EXTENTS_PER_FILE,
  maxPathComponents: MAX_PATH_COMPONENTS,
};
