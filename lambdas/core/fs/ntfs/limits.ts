/**
 * Safety limits of the NTFS reader, beyond those every reader shares (../limits.ts).
 * The image is written by an untrusted guest, so every loop,
 * recursion and allocation driven by on-disk numbers is bounded by one of these. Each value is
 * above anything Windows or ntfs-3g produce, and low enough that a Lambda with 1 GiB survives.
 */
import { DEFAULT_WALK_LIMITS, type WalkLimits } from '../limits.ts';

export interface NtfsLimits extends WalkLimits {
  /** Most runs (extents) in the runlist of one stream, over all its attribute pieces. */
  readonly maxRunsPerStream: number;
}

/** Smallest FILE/INDX record: one 512-byte update-sequence stride. */
export const MIN_RECORD_BYTES = 512;
/**
 * Largest FILE record accepted. Windows uses 1 KiB (4 KiB on 4Kn disks); the boot sector can
 * encode more, but 64 KiB is already the largest cluster and nothing writes bigger records.
 */
export const MAX_RECORD_BYTES = 65_536;
/** Largest INDX record: Windows always uses 4 KiB; 64 KiB is the largest cluster. */
export const MAX_INDEX_RECORD_BYTES = 65_536;
/** Largest cluster: NTFS allows up to 2 MiB since Windows 10 1709; larger is not NTFS. */
export const MAX_CLUSTER_BYTES = 2 * 1024 * 1024;
/**
 * Attributes gathered for one file (base record plus extension records). A maximal 256 KiB
 * $ATTRIBUTE_LIST of 32-byte entries names 8,192 attributes.
 */
export const MAX_ATTRIBUTES_PER_FILE = 8192;
/** Windows caps $ATTRIBUTE_LIST at 256 KiB (it must fit one contiguous non-resident stream). */
export const MAX_ATTRIBUTE_LIST_BYTES = 256 * 1024;
/** Distinct extension records one file may use: one per attribute at worst. */
export const MAX_EXTENSION_RECORDS = MAX_ATTRIBUTES_PER_FILE;
/**
 * Runs of one stream: 1 Mi runs (about 40 MiB of run objects) is a 4 TiB file fragmented into
 * 4 MiB pieces; a 256 KiB attribute list cannot describe many more.
 */
export const MAX_RUNS_PER_STREAM = 1024 * 1024;
/**
 * B+tree depth of a directory index. With 4 KiB INDX records of at least ~10 entries each, depth
 * 12 is 10^12 entries; anything deeper is a loop or a forgery.
 */
export const MAX_INDEX_DEPTH = 32;
/** Windows only ever writes compression units of 16 clusters (log2 = 4). */
export const MAX_COMPRESSION_UNIT_LOG2 = 4;
/** LZNT1 compression exists only for clusters up to 4 KiB (so units are at most 64 KiB). */
export const MAX_COMPRESSED_CLUSTER_BYTES = 4096;
/** MAXIMUM_REPARSE_DATA_BUFFER_SIZE of the Windows SDK: 16 KiB. */
export const MAX_REPARSE_BYTES = 16 * 1024;
/** Linux's PATH_MAX, used as the longest symlink target decoded. */
export const MAX_SYMLINK_TARGET_BYTES = 4096;
/** $VOLUME_NAME holds at most 128 UTF-16 characters. */
export const MAX_VOLUME_NAME_BYTES = 256;
/** Parsed FILE records kept in memory (the walk reads each once; lookups and reads reuse them). */
export const RECORD_CACHE_ENTRIES = 256;

export const DEFAULT_NTFS_LIMITS: NtfsLimits = {
  ...DEFAULT_WALK_LIMITS,
  maxRunsPerStream: MAX_RUNS_PER_STREAM,
};
