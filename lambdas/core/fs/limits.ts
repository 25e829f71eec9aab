/**
 * Safety limits every filesystem reader shares (ext2/3/4, XFS, FAT/exFAT, NTFS). The image is
 * written by an untrusted guest, so every loop, recursion and allocation driven by on-disk numbers
 * is bounded. Each value is above anything a real filesystem produces, and low enough that a
 * Lambda with 1 GiB survives. Each reader's limits.ts adds the bounds of its own structures.
 */
export interface WalkLimits {
  /** Deepest directory nesting the walk descends into. */
  readonly maxDirectoryDepth: number;
  /** Largest single readFile() result; larger reads must use readFileStream(). */
  readonly maxReadBytes: number;
  /** Components in a path given to lookup(). */
  readonly maxPathComponents: number;
}

/**
 * Linux's PATH_MAX is 4096, so a path the guest's own tools can open has at most 2048 components
 * ("a/" each; Windows' MAX_PATH of 260 characters allows far fewer); deeper trees exist only to
 * attack a walker.
 */
export const MAX_DIRECTORY_DEPTH = 2048;
/** 256 MiB per readFile(): a quarter of a 1 GiB Lambda; restores stream larger files. */
export const MAX_READ_BYTES = 256 * 1024 ** 2;
/** Twice the component count of PATH_MAX (see MAX_DIRECTORY_DEPTH). */
export const MAX_PATH_COMPONENTS = 4096;
/**
 * Directory blocks remembered per walk to catch a block shared by two directories (crafted: the
 * same block listed again and again). 4 Mi blocks (about 100 MiB of Set) covers 16 GiB of
 * directories at 4 KiB, far beyond real trees; past it only the block-count budget applies.
 */
export const MAX_TRACKED_DIRECTORY_BLOCKS = 4 * 1024 ** 2;

export const DEFAULT_WALK_LIMITS: WalkLimits = {
  maxDirectoryDepth: MAX_DIRECTORY_DEPTH,
  maxReadBytes: MAX_READ_BYTES,
  maxPathComponents: MAX_PATH_COMPONENTS,
};
