/**
 * The catalog model: temporal file versions. A version item says "from image V on, the entry
 * `name` of directory `dir` looks like this", and stays current until a later item for the same
 * name (a new version or a removal marker). Versions are ordered by a per-volume version key
 * (`createdAt#imageId` of the image record: ISO-8601 UTC sorts as text), so an incremental writes
 * only what changed and "as of image X" is "the latest item with version <= X's".
 */
import type { DataStream, FileType, Timestamp } from '../fs/index.ts';
import type { SubtreeSummary } from './catalog-trees.ts';

/**
 * Catalog layout version (docs/catalog.md), written on every version item and catalog record.
 * 2 added directory tree pages and the partitions' `tree` summaries; 3 stores names and symlink
 * targets that are not valid UTF-8 in the reversible form of fs/name-encoding.ts instead of a
 * lossy decoding. Valid UTF-8 names are the same in all three, so readers accept each.
 */
export const CATALOG_FORMAT_VERSION = 3;
/** Versions whose version items readers accept. */
export const READABLE_CATALOG_FORMAT_VERSIONS: readonly number[] = [1, 2, 3];

/** The image a catalog is built for or queried at. `createdAt` comes from the image record. */
export interface ImageRef {
  readonly volumeId: string;
  readonly imageId: string;
  /** ISO-8601 UTC with milliseconds (ImageRecord.createdAt). */
  readonly createdAt: string;
}

/** Sortable per-volume position of an image: later images have larger keys (text order). */
export function versionKeyOf(image: Pick<ImageRef, 'createdAt' | 'imageId'>): string {
  return `${image.createdAt}#${image.imageId}`;
}

/** The inode metadata stored per version (what a listing shows and what "changed" compares). */
export interface FileMeta {
  readonly type: FileType;
  readonly inode: number;
  readonly size: number;
  /** Full st_mode (type bits and permissions). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: Timestamp;
  readonly ctime: Timestamp;
  /** Not compared (reading a file changes it); kept for display and restores. */
  readonly atime: Timestamp;
  readonly crtime?: Timestamp;
  readonly symlinkTarget?: string;
  readonly device?: { readonly major: number; readonly minor: number };
  /** NTFS, FAT, exFAT: Windows FILE_ATTRIBUTE_* bits (mode, uid and gid are then synthesized; docs/filesystems.md). */
  readonly windowsAttributes?: number;
  /** The DOS 8.3 alias of a long name (NTFS, FAT), when it differs from the name. */
  readonly shortName?: string;
  /** NTFS alternate data streams, restorable as `path:name`. */
  readonly streams?: readonly DataStream[];
  /** NTFS reparse tag (recorded, never followed). */
  readonly reparseTag?: number;
  /** EFS-encrypted: listed, not restorable. */
  readonly encrypted?: true;
}

/** One stored version (or removal marker) of one directory entry. */
export interface CatalogItem {
  readonly volumeId: string;
  /** Partition index from the partition table (0: a filesystem on the whole disk). */
  readonly partition: number;
  /** Parent directory path ("/" for entries of the root). */
  readonly dir: string;
  readonly name: string;
  readonly path: string;
  /** versionKeyOf(the image that introduced this version). */
  readonly version: string;
  readonly imageId: string;
  readonly createdAt: string;
  /** A removal marker: from this image on, the entry does not exist. */
  readonly removed?: true;
  /** Absent on removal markers. */
  readonly meta?: FileMeta;
}

export type CatalogStatus = 'running' | 'complete' | 'partial' | 'failed' | 'unsupported';

export interface CatalogCounts {
  /** Regular files (each path; hard links count once per path). */
  files: number;
  directories: number;
  symlinks: number;
  /** Devices, fifos and sockets. */
  others: number;
  /** Sum of regular file sizes, hard-linked files counted once (size / nlink per path). */
  bytes: number;
}

export interface CatalogChanges {
  added: number;
  changed: number;
  removed: number;
  /** Version items written (= added + changed + removed). */
  itemsWritten: number;
}

export interface RecordedProblem {
  readonly partition?: number;
  readonly path?: string;
  readonly message: string;
}

export interface PartitionCatalog {
  /** The partition's index, or a logical volume's number (docs/catalog.md, "Partitions and logical volumes"). */
  readonly index: number;
  readonly fsType: string;
  /** For a filesystem in an LVM2 logical volume: "vg/lv". */
  readonly logicalVolume?: string;
  readonly status: 'complete' | 'partial' | 'failed' | 'unsupported';
  /** Why an unsupported partition is not catalogued (no reader for its filesystem, MSR, swap, ...). */
  readonly reason?: string;
  readonly label?: string;
  readonly uuid?: string;
  readonly counts: CatalogCounts;
  readonly changes: CatalogChanges;
  readonly errorCount: number;
  /**
   * Subtrees carried over from the previous image without reading them (their bytes did not
   * change), and 1 MiB regions compared byte for byte to find that out.
   */
  readonly skipped?: {
    readonly subtrees: number;
    readonly regionsCompared: number;
    /** Entries the walk still read (in the directories that had to be walked). */
    readonly entriesWalked: number;
  };
  /** The root directory's tree summary (format 2), what the next incremental starts from. */
  readonly tree?: PartitionTree;
}

/** Where a partition's directory tree starts, and what its layout was (catalog-trees.ts). */
export interface PartitionTree {
  readonly root: SubtreeSummary;
  /** The reader's layout key (MetadataRangeSource); absent when the reader has no range source. */
  readonly layout?: string;
  /** Byte offset and size of the partition in the disk, which the layout must match too. */
  readonly startByte: number;
  readonly sizeBytes: number;
}

/** The catalog's result for one image: its status, counts and what went wrong (capped lists). */
export interface ImageCatalogRecord {
  readonly volumeId: string;
  readonly imageId: string;
  readonly createdAt: string;
  readonly version: string;
  readonly formatVersion: number;
  readonly status: CatalogStatus;
  readonly partitionScheme?: string;
  readonly partitions: readonly PartitionCatalog[];
  readonly counts: CatalogCounts;
  readonly changes: CatalogChanges;
  readonly errorCount: number;
  /** The first MAX_RECORDED_PROBLEMS errors (damaged files and directories). */
  readonly errors: readonly RecordedProblem[];
  /** Things worth knowing that did not stop the catalog (application file missing or malformed, ...). */
  readonly warnings: readonly RecordedProblem[];
  readonly applicationCount: number;
}

/** Errors and warnings kept in the record: enough to act on, small enough for one 400 KB item. */
export const MAX_RECORDED_PROBLEMS = 100;

export function emptyCounts(): CatalogCounts {
  return { files: 0, directories: 0, symlinks: 0, others: 0, bytes: 0 };
}

export function emptyChanges(): CatalogChanges {
  return { added: 0, changed: 0, removed: 0, itemsWritten: 0 };
}

export function addCounts(into: CatalogCounts, more: CatalogCounts): void {
  into.files += more.files;
  into.directories += more.directories;
  into.symlinks += more.symlinks;
  into.others += more.others;
  into.bytes += more.bytes;
}

export function addChanges(into: CatalogChanges, more: CatalogChanges): void {
  into.added += more.added;
  into.changed += more.changed;
  into.removed += more.removed;
  into.itemsWritten += more.itemsWritten;
}

/**
 * "Changed" (docs/catalog.md): any difference in type, inode number, size, mode, uid, gid, link
 * count, mtime, ctime, crtime (seconds and nanoseconds), symlink target or device numbers, and on
 * Windows filesystems the attributes, short name, streams, reparse tag and EFS flag. atime is ignored. ctime moves on every inode change the kernel makes (writes, chmod, chown, link,
 * rename), so this is at least as strict as rsync's size+mtime quick check.
 */
export function fingerprintOf(meta: FileMeta): string {
  const t = (ts: Timestamp | undefined): string =>
    ts === undefined ? '-' : `${ts.seconds}.${ts.nanoseconds}`;
  return [
    meta.type,
    meta.inode,
    meta.size,
    meta.mode,
    meta.uid,
    meta.gid,
    meta.nlink,
    t(meta.mtime),
    t(meta.ctime),
    t(meta.crtime),
    meta.symlinkTarget ?? '',
    meta.device === undefined ? '' : `${meta.device.major}:${meta.device.minor}`,
    // Windows metadata only where it exists, so ext/XFS fingerprints are unchanged.
    ...(meta.windowsAttributes === undefined
      ? []
      : [
          meta.windowsAttributes,
          meta.shortName ?? '',
          (meta.streams ?? []).map((s) => `${s.name}:${s.size}`).join('/'),
          meta.reparseTag ?? '',
          meta.encrypted === true ? 'e' : '',
        ]),
  ].join('|');
}

/**
 * Code-point order, which is UTF-8 byte order: the order DynamoDB sorts string keys in. (JS `<`
 * compares UTF-16 code units and differs for characters above U+FFFF.)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs === ys) return x < y ? -1 : 1;
    return xs ? 1 : -1; // a surrogate (code point >= U+10000) sorts after any other BMP unit
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
