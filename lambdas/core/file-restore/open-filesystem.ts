/** Opens the filesystem of one partition (or logical volume) of a disk image, for restores. */
import { NotFoundError, ValidationError } from '../errors.ts';
import { isReadableFsType, openVolume, type FilesystemReader, type SlicedReader } from '../fs/index.ts';
import type { ByteRangeReader } from '../ports.ts';

export interface OpenedFilesystem {
  readonly fs: FilesystemReader;
  /** The filesystem's reader: file extents are offsets in it. */
  readonly reader: SlicedReader;
  readonly partition: number;
}

/**
 * `partition` as catalogued (the index in the partition table, 0 for a whole-disk filesystem, a
 * logical volume's number). Without one, the disk must hold exactly one readable filesystem.
 */
export async function openImageFilesystem(
  image: ByteRangeReader,
  partition?: number,
): Promise<OpenedFilesystem> {
  const volume = await openVolume(image, partition === undefined ? {} : { only: partition });
  const readable = volume.filesystems.filter(
    (f) => isReadableFsType(f.fsType) && f.partition.skip === undefined,
  );
  let chosen;
  if (partition === undefined) {
    if (readable.length !== 1) {
      throw new ValidationError(
        `the image holds ${readable.length} readable filesystems (partitions ${readable.map((f) => f.index).join(', ') || 'none'}); name one`,
        { context: { partitions: readable.map((f) => f.index).join(',') } },
      );
    }
    chosen = readable[0]!;
  } else {
    chosen = volume.filesystems.find((f) => f.index === partition);
    if (chosen === undefined) {
      throw new NotFoundError(`the image has no partition ${partition}`, { context: { partition } });
    }
  }
  if (chosen.status === 'unsupported') {
    throw new ValidationError(`partition ${chosen.index} cannot be restored from: ${chosen.reason}`, {
      context: { partition: chosen.index, fsType: chosen.fsType },
    });
  }
  if (chosen.status === 'error') throw chosen.error;
  return { fs: chosen.fs, reader: chosen.reader, partition: chosen.index };
}
