/**
 * Safety limits of the FAT12/16/32 and exFAT readers, beyond those every reader shares (../limits.ts).
 * The image is written by an untrusted guest:
 * every loop and allocation driven by an on-disk number is bounded by one of these or by the
 * cluster count of the volume itself. Each value is above what a real volume holds.
 */
import { DEFAULT_WALK_LIMITS, type WalkLimits } from '../limits.ts';

export interface FatLimits extends WalkLimits {
  /** Largest directory (its cluster chain) that is read. */
  readonly maxDirectoryBytes: number;
}

/**
 * exFAT allows directories of up to 256 MiB (exFAT specification §6.2.4: DataLength of a
 * directory at most 256 MiB); FAT's limit is 65,536 entries × 32 bytes = 2 MiB.
 */
export const MAX_DIRECTORY_BYTES = 256 * 1024 ** 2;
/** FAT specification: a directory holds at most 65,536 32-byte entries. */
export const MAX_FAT_DIRECTORY_BYTES = 65_536 * 32;
/** A long name is at most 255 UTF-16 units: 20 VFAT entries of 13 units each (FAT specification §7). */
export const MAX_LFN_ENTRIES = 20;
/** exFAT: NameLength is at most 255, so a file entry set has at most 1 + 1 + 17 secondary entries plus vendor entries; SecondaryCount is a byte. */
export const MAX_EXFAT_SECONDARY_ENTRIES = 255;
/**
 * Clusters of one chain remembered in a Set to catch a loop; past this a bitmap of the volume's
 * clusters (at most 32 MiB for 2^28 clusters) takes over.
 */
export const MAX_TRACKED_CHAIN_CLUSTERS = 65_536;
/** Bytes of the FAT read at once: 64 KiB holds 16,384 FAT32 entries, so walking a chain is few reads. */
export const FAT_WINDOW_BYTES = 65_536;
/** The up-case table is at most 2 × 65,536 bytes uncompressed (one entry per UTF-16 unit); more is corrupt. */
export const MAX_UPCASE_TABLE_BYTES = 2 * 65_536;

export const DEFAULT_FAT_LIMITS: FatLimits = {
  ...DEFAULT_WALK_LIMITS,
  maxDirectoryBytes: MAX_DIRECTORY_BYTES,
};
