/** Opens the ext filesystem of one partition of a disk image, for restores. */
import { NotFoundError, ValidationError } from '../errors.ts';
import {
  openExt4,
  readPartitionTable,
  sliceReader,
  type Ext4Filesystem,
  type SlicedReader,
} from '../fs/index.ts';
import type { ByteRangeReader } from '../ports.ts';
import { plainBytesReader } from '../catalog/plain-bytes-reader.ts';

const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);

export interface OpenedFilesystem {
  readonly fs: Ext4Filesystem;
  /** The partition's reader: file extents are offsets in it. */
  readonly reader: SlicedReader;
  readonly partition: number;
}

/**
 * `partition` as catalogued (the index in the partition table; 0 for a whole-disk filesystem).
 * Without one, the disk must hold exactly one ext filesystem.
 */
export async function openImageFilesystem(
  image: ByteRangeReader,
  partition?: number,
): Promise<OpenedFilesystem> {
  const disk = plainBytesReader(image);
  const table = await readPartitionTable(disk);
  const candidates = table.partitions.filter((p) => EXT_TYPES.has(p.fsType));
  let chosen;
  if (partition === undefined) {
    if (candidates.length !== 1) {
      throw new ValidationError(
        `the image holds ${candidates.length} ext filesystems (partitions ${candidates.map((p) => p.index).join(', ') || 'none'}); name one`,
        { context: { partitions: candidates.map((p) => p.index).join(',') } },
      );
    }
    chosen = candidates[0]!;
  } else {
    chosen = table.partitions.find((p) => p.index === partition);
    if (chosen === undefined)
      throw new NotFoundError(`the image has no partition ${partition}`, { context: { partition } });
    if (!EXT_TYPES.has(chosen.fsType)) {
      throw new ValidationError(
        `partition ${partition} holds ${chosen.fsType}, which cannot be restored from`,
        {
          context: { partition, fsType: chosen.fsType },
        },
      );
    }
  }
  const reader = sliceReader(disk, chosen.startByte, chosen.sizeBytes);
  return { fs: await openExt4(reader), reader, partition: chosen.index };
}
