/**
 * Which bytes of a filesystem a directory listing depends on, so that an incremental catalog can
 * tell, from the bytes that changed between two images, which directories may list differently and
 * skip the rest without reading them (docs/catalog.md, "Catalog cost that follows the change").
 *
 * A reader that implements this promises: if `layoutKey()` is equal for two images and no byte in
 * the ranges named below differs between them (as the reader sees the bytes, journal replay
 * included), then listing that directory yields exactly the same names, inode numbers, metadata,
 * symlink targets and errors in both. Readers without it are always walked in full.
 */
import type { ByteRangeReader } from '../ports.ts';
import type { FileType, FilesystemReader } from './filesystem.ts';
import { Ext4Filesystem } from './ext4/filesystem.ts';
import { ext4MetadataRanges } from './ext4/metadata-ranges.ts';
import { XfsFilesystem } from './xfs/filesystem.ts';
import { xfsMetadataRanges } from './xfs/metadata-ranges.ts';

/** A half-open byte range [start, end) of the reader the filesystem was opened on. */
export type ByteSpan = readonly [start: number, end: number];

export interface MetadataRangeSource {
  /**
   * Everything a listing reads that is not named per directory (superblock geometry, feature flags,
   * where each group's inode table is, descriptor checksums), as one comparable string.
   */
  layoutKey(): Promise<string>;
  /** A directory's own record and the blocks holding its entries (with extent-tree or indirect blocks). */
  directoryRanges(inode: number): Promise<ByteSpan[]>;
  /** What one entry's catalogued metadata is read from: its inode record, and a slow symlink's target blocks. */
  entryRanges(inode: number, type: FileType | undefined, size: number): Promise<ByteSpan[]>;
  /**
   * An entry's own record (for anything but a symlink, all of entryRanges) without waiting, when
   * where it lies is already known; undefined otherwise (then ask entryRanges). Lets a caller test
   * thousands of entries without a promise each.
   */
  recordSpanNow?(inode: number): ByteSpan | undefined;
  /** The bytes as the filesystem reads them (the journal's blocks applied), for comparing two images. */
  readonly effective: ByteRangeReader;
  /** Ranges whose bytes come from the journal rather than their place on disk. */
  readonly replayed: readonly ByteSpan[];
}

/** The range source of a filesystem reader, when its kind has one (ext2/3/4 and XFS today). */
export function metadataRangesOf(fs: FilesystemReader): MetadataRangeSource | undefined {
  if (fs instanceof Ext4Filesystem) return ext4MetadataRanges(fs);
  if (fs instanceof XfsFilesystem) return xfsMetadataRanges(fs);
  return undefined;
}
