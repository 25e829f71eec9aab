/** Reading partition tables and filesystems from a volume image, through the ByteRangeReader port. */
export { readPartitionTable, SECTOR_BYTES } from './partitions.ts';
export type { Partition, PartitionTable, PartitionScheme } from './partitions.ts';
export { SKIPPED_PARTITION_TYPES } from './partitions.ts';
export { detectFsType } from './fs-type.ts';
export type { FsType } from './fs-type.ts';
export { sliceReader, PageCachedReader } from './cached-reader.ts';
export type { SlicedReader, PageCacheOptions } from './cached-reader.ts';
export {
  FilesystemCorruptError,
  UnsupportedFilesystemError,
  FilesystemLimitError,
  FileNotFoundInImageError,
} from './errors.ts';
export {
  STREAM_PIECE_BYTES,
  WINDOWS_ATTRIBUTES,
  synthesizedPermissions,
  modeTypeBits,
} from './filesystem.ts';
export type {
  FilesystemReader,
  ReadableFsType,
  DataStream,
  FileExtent,
  WalkEntry,
  WalkError,
  WalkItem,
  WalkOptions,
  ReadStreamOptions,
  InodeStat,
  FileType,
  Timestamp,
} from './filesystem.ts';
export { openExt4, Ext4Filesystem } from './ext4/filesystem.ts';
export type { OpenExt4Options } from './ext4/filesystem.ts';
export type { DirEntry } from './ext4/directory.ts';
export { DEFAULT_EXT4_LIMITS } from './ext4/limits.ts';
export type { Ext4Limits } from './ext4/limits.ts';
export {
  openVolume,
  openFilesystem,
  isReadableFsType,
  registerFilesystemOpener,
  LV_NUMBER_BASE,
} from './volume.ts';
export type {
  VolumeContents,
  VolumeFilesystem,
  OpenVolumeOptions,
  OpenFilesystemOptions,
  FilesystemOpener,
  LogicalVolume,
  LogicalVolumeReader,
} from './volume.ts';
export { openFat, openExfat, FatFilesystem, ExfatFilesystem, DEFAULT_FAT_LIMITS } from './fat/index.ts';
export type { FatLimits } from './fat/index.ts';
export type { JournalReplay } from './ext4/journal.ts';
