/**
 * Safety limits of the XFS reader. The image is written by an untrusted guest, so every loop,
 * recursion and allocation driven by on-disk numbers is bounded by one of these. Each value is
 * above anything a real filesystem produces, and low enough that a Lambda with 1 GiB survives.
 */
export interface XfsLimits {
  /** Deepest directory nesting the walk descends into. */
  readonly maxDirectoryDepth: number;
  /** Largest directory data section (di_size) that is read. */
  readonly maxDirectoryBytes: number;
  /** Largest single readFile() result; larger reads must use readFileStream(). */
  readonly maxReadBytes: number;
  /** Most extents one file's map may hold (extent list or B+tree leaves). */
  readonly maxExtentsPerFile: number;
  /** Components in a path given to lookup(). */
  readonly maxPathComponents: number;
}

/**
 * Linux's PATH_MAX is 4096, so a path the guest's own tools can open has at most 2048 components
 * ("a/" each); deeper trees exist only to attack a walker.
 */
export const MAX_DIRECTORY_DEPTH = 2048;
/**
 * 32 GiB: XFS keeps directory data blocks below the leaf section at byte 2^35
 * (XFS_DIR2_LEAF_OFFSET), so no directory's data section can be larger.
 */
export const MAX_DIRECTORY_BYTES = 32 * 1024 ** 3;
/** 256 MiB per readFile(): a quarter of a 1 GiB Lambda; restores stream larger files. */
export const MAX_READ_BYTES = 256 * 1024 ** 2;
/** 4 Mi extents = about 100 MiB of results: a 16 TiB file fragmented into 4 MiB pieces. */
export const MAX_EXTENTS_PER_FILE = 4 * 1024 ** 2;
/** Twice the component count of PATH_MAX (see MAX_DIRECTORY_DEPTH). */
export const MAX_PATH_COMPONENTS = 4096;
/**
 * Levels of a block-map B+tree below the in-inode root. The kernel's bound
 * (xfs_bmap_compute_maxlevels) is 9 for 2^48 extents with 1 KiB blocks; more is corruption.
 */
export const MAX_BMBT_LEVELS = 10;
/** XFS_SYMLINK_MAXLEN: the kernel refuses longer symlink targets. */
export const MAX_SYMLINK_TARGET_BYTES = 1024;
/** XFS_MAX_BLOCKSIZE (64 KiB): the largest block and directory block XFS defines. */
export const MAX_BLOCK_BYTES = 65_536;
/**
 * Directory blocks remembered per walk to catch a block shared by two directories (crafted: the
 * same block listed again and again). 4 Mi blocks covers 16 GiB of directories at 4 KiB; past it
 * only the block-count budget applies.
 */
export const MAX_TRACKED_DIRECTORY_BLOCKS = 4 * 1024 ** 2;

export const DEFAULT_XFS_LIMITS: XfsLimits = {
  maxDirectoryDepth: MAX_DIRECTORY_DEPTH,
  maxDirectoryBytes: MAX_DIRECTORY_BYTES,
  maxReadBytes: MAX_READ_BYTES,
  maxExtentsPerFile: MAX_EXTENTS_PER_FILE,
  maxPathComponents: MAX_PATH_COMPONENTS,
};
