/**
 * One call for the catalog: the partition table of a volume image and, for each partition, either
 * an opened ext filesystem, "unsupported" (a filesystem this reader does not read: xfs, ntfs,
 * vfat, swap, LVM, unknown; recorded, not an error) or the error that stopped opening it.
 */
import { isRetryable } from '../errors.ts';
import type { ByteRangeReader } from '../ports.ts';
import { sliceReader } from './cached-reader.ts';
import { openExt4 } from './ext4/filesystem.ts';
import type { Ext4Filesystem, OpenExt4Options } from './ext4/filesystem.ts';
import { readPartitionTable } from './partitions.ts';
import type { Partition, PartitionTable } from './partitions.ts';

export type VolumeFilesystem =
  | { readonly partition: Partition; readonly status: 'readable'; readonly fs: Ext4Filesystem }
  | { readonly partition: Partition; readonly status: 'unsupported'; readonly reason: string }
  | { readonly partition: Partition; readonly status: 'error'; readonly error: Error };

export interface VolumeContents {
  readonly table: PartitionTable;
  readonly filesystems: readonly VolumeFilesystem[];
}

const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);

export async function openVolume(
  disk: ByteRangeReader,
  options: OpenExt4Options = {},
): Promise<VolumeContents> {
  const table = await readPartitionTable(disk);
  const filesystems: VolumeFilesystem[] = [];
  for (const partition of table.partitions) {
    if (!EXT_TYPES.has(partition.fsType)) {
      filesystems.push({
        partition,
        status: 'unsupported',
        reason: `${partition.fsType} filesystems are not read`,
      });
      continue;
    }
    try {
      const fs = await openExt4(sliceReader(disk, partition.startByte, partition.sizeBytes), options);
      filesystems.push({ partition, status: 'readable', fs });
    } catch (error) {
      if (isRetryable(error)) throw error;
      filesystems.push({
        partition,
        status: 'error',
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }
  return { table, filesystems };
}
