/**
 * The one way to open a disk's filesystems: the partition table, then for each partition (and each
 * LVM2 logical volume inside a physical-volume partition) the right reader, giving per filesystem
 * either an opened `FilesystemReader`, "unsupported" with the reason (a filesystem without a
 * reader, swap, the Windows MSR and recovery partitions; recorded, not an error) or the error that
 * stopped opening it. The catalog and file restore both open disks through here.
 *
 * Numbering (what the catalog and the API call `partition`): a partition keeps its index from the
 * partition table (0 for a filesystem on the whole disk). A logical volume gets
 * `LV_NUMBER_BASE × (its physical volume's partition index, or 1 for a whole-disk PV) + n`, n being
 * its 1-based position in the volume group's metadata, so numbers stay put when partitions or later
 * LVs are added; its `vg/lv` name is shown beside the number.
 */
import { isRetryable } from '../errors.ts';
import type { ByteRangeReader } from '../ports.ts';
import { sliceReader } from './cached-reader.ts';
import type { PageCacheOptions, SlicedReader } from './cached-reader.ts';
import { UnsupportedFilesystemError } from './errors.ts';
import { openExt4 } from './ext4/filesystem.ts';
import type { OpenExt4Options } from './ext4/filesystem.ts';
import { openExfat } from './fat/exfat.ts';
import { openFat } from './fat/fat.ts';
import { openNtfs } from './ntfs/filesystem.ts';
import { openXfs } from './xfs/filesystem.ts';
import { readLogicalVolumes } from './lvm/physical-volume.ts';
import type { FilesystemReader } from './filesystem.ts';
import type { FsType } from './fs-type.ts';
import { detectFsType } from './fs-type.ts';
import { readPartitionTable } from './partitions.ts';
import { plainBytesReader } from './plain-bytes-reader.ts';
import type { Partition, PartitionTable } from './partitions.ts';

/** Logical volumes are numbered from this × their PV's partition index (see the module comment). */
export const LV_NUMBER_BASE = 1000;

export interface OpenFilesystemOptions {
  /** Options of the ext2/3/4 reader (checksum verification, read-ahead, journal replay). */
  readonly ext4?: OpenExt4Options;
  /** Page cache of the other readers. */
  readonly cache?: PageCacheOptions;
}

export type FilesystemOpener = (
  reader: ByteRangeReader,
  options: OpenFilesystemOptions,
) => Promise<FilesystemReader>;

/** The reader for each filesystem type that has one. */
const OPENERS: Partial<Record<FsType, FilesystemOpener>> = {
  ext2: (reader, options) => openExt4(reader, options.ext4),
  ext3: (reader, options) => openExt4(reader, options.ext4),
  ext4: (reader, options) => openExt4(reader, options.ext4),
  vfat: (reader, options) => openFat(reader, options.cache === undefined ? {} : { cache: options.cache }),
  exfat: (reader, options) => openExfat(reader, options.cache === undefined ? {} : { cache: options.cache }),
  ntfs: (reader, options) => openNtfs(reader, options.cache === undefined ? {} : { cache: options.cache }),
  xfs: (reader, options) => openXfs(reader, options.cache === undefined ? {} : { cache: options.cache }),
};

/** Why a filesystem type without an opener is not read. */
const UNSUPPORTED_REASONS: Partial<Record<FsType, string>> = {
  btrfs:
    'btrfs filesystems are not read (no reader: subvolumes, chunk tree and RAID profiles are out of scope)',
  swap: 'swap space holds no files',
  unknown: 'no known filesystem signature',
};

/** Register a reader for a filesystem type (tests; a future reader before it is listed above). */
export function registerFilesystemOpener(fsType: FsType, opener: FilesystemOpener): void {
  OPENERS[fsType] = opener;
}

/** Whether files can be read from this filesystem type. */
export function isReadableFsType(fsType: string): boolean {
  return OPENERS[fsType as FsType] !== undefined;
}

/** Opens the filesystem of `fsType` on `reader`; UnsupportedFilesystemError when there is no reader for it. */
export async function openFilesystem(
  reader: ByteRangeReader,
  fsType: FsType,
  options: OpenFilesystemOptions = {},
): Promise<FilesystemReader> {
  const opener = OPENERS[fsType];
  if (opener === undefined) {
    throw new UnsupportedFilesystemError(
      UNSUPPORTED_REASONS[fsType] ?? `${fsType} filesystems are not read`,
      {
        fsType,
      },
    );
  }
  return opener(reader, options);
}

/**
 * An LVM2 logical volume inside a physical volume, as the LVM reader maps it. The seam for
 * lambdas/core/fs/lvm: `mapped` LVs carry a reader over their bytes; the others say why not.
 */
export type LogicalVolume =
  | { readonly name: string; readonly status: 'mapped'; readonly reader: ByteRangeReader }
  | { readonly name: string; readonly status: 'unsupported'; readonly reason: string };

/** Reads the logical volumes of the physical volume on `pv`. */
export type LogicalVolumeReader = (pv: ByteRangeReader) => Promise<readonly LogicalVolume[]>;

/** The LVM2 reader (lambdas/core/fs/lvm): maps every LV of a physical volume onto its bytes. */
const lvmReader: LogicalVolumeReader = readLogicalVolumes;

interface VolumeFilesystemBase {
  /** The catalog's and API's number for this filesystem (see the module comment). */
  readonly index: number;
  /** The partition it lies in (for an LV: its physical volume's partition). */
  readonly partition: Partition;
  /** For a logical volume: "vg/lv". */
  readonly logicalVolume?: string;
  readonly fsType: FsType;
  /** The filesystem's bytes (extents of its files are offsets in this reader). */
  readonly reader: SlicedReader;
}

export type VolumeFilesystem =
  | (VolumeFilesystemBase & { readonly status: 'readable'; readonly fs: FilesystemReader })
  | (VolumeFilesystemBase & { readonly status: 'unsupported'; readonly reason: string })
  | (VolumeFilesystemBase & { readonly status: 'error'; readonly error: Error });

export interface VolumeContents {
  readonly table: PartitionTable;
  readonly filesystems: readonly VolumeFilesystem[];
}

export interface OpenVolumeOptions extends OpenFilesystemOptions {
  /**
   * Open only the filesystem with this number (restores): the others are listed as found but not
   * opened (status 'unsupported' with reason "not opened").
   */
  readonly only?: number;
}

const NOT_OPENED = 'not opened';

/** Every filesystem of the disk, opened (see the module comment). Retryable reader errors are thrown. */
export async function openVolume(
  image: ByteRangeReader,
  options: OpenVolumeOptions = {},
): Promise<VolumeContents> {
  const disk = plainBytesReader(image);
  const table = await readPartitionTable(disk);
  const filesystems: VolumeFilesystem[] = [];
  for (const partition of table.partitions) {
    const reader = sliceReader(disk, partition.startByte, partition.sizeBytes);
    const base = { index: partition.index, partition, fsType: partition.fsType, reader };
    if (partition.skip !== undefined) {
      filesystems.push({ ...base, status: 'unsupported', reason: partition.skip });
      continue;
    }
    if (partition.fsType === 'lvm2') {
      filesystems.push(...(await openLogicalVolumes(lvmReader, partition, reader, options)));
      continue;
    }
    filesystems.push(await openOne(base, options));
  }
  return { table, filesystems };
}

async function openOne(
  base: Omit<VolumeFilesystemBase, 'fsType'> & { fsType: FsType },
  options: OpenVolumeOptions,
): Promise<VolumeFilesystem> {
  if (options.only !== undefined && options.only !== base.index) {
    return { ...base, status: 'unsupported', reason: NOT_OPENED };
  }
  if (OPENERS[base.fsType] === undefined) {
    return {
      ...base,
      status: 'unsupported',
      reason: UNSUPPORTED_REASONS[base.fsType] ?? `${base.fsType} filesystems are not read`,
    };
  }
  try {
    return { ...base, status: 'readable', fs: await openFilesystem(base.reader, base.fsType, options) };
  } catch (error) {
    if (isRetryable(error)) throw error;
    return { ...base, status: 'error', error: error instanceof Error ? error : new Error(String(error)) };
  }
}

async function openLogicalVolumes(
  lvm: LogicalVolumeReader,
  partition: Partition,
  pv: SlicedReader,
  options: OpenVolumeOptions,
): Promise<VolumeFilesystem[]> {
  const base = { index: partition.index, partition, fsType: partition.fsType, reader: pv };
  let volumes: readonly LogicalVolume[];
  try {
    volumes = await lvm(pv);
  } catch (error) {
    if (isRetryable(error)) throw error;
    return [{ ...base, status: 'error', error: error instanceof Error ? error : new Error(String(error)) }];
  }
  const out: VolumeFilesystem[] = [];
  const pvNumber = partition.index === 0 ? 1 : partition.index;
  for (const [position, lv] of volumes.entries()) {
    const index = LV_NUMBER_BASE * pvNumber + position + 1;
    if (lv.status === 'unsupported') {
      out.push({ ...base, index, logicalVolume: lv.name, status: 'unsupported', reason: lv.reason });
      continue;
    }
    const reader = asSliced(lv.reader, pv);
    const fsType = await detectFsType(reader);
    out.push(await openOne({ index, partition, logicalVolume: lv.name, fsType, reader }, options));
  }
  return out;
}

/**
 * An LV's reader as a SlicedReader. Its extents are scattered over the PV, so `offsetInDisk` is
 * only the PV's: page caches and restores use it to align reads on the disk's 1 MiB chunk grid,
 * which LVM's 1 MiB-aligned data area and 4 MiB extents preserve; reads themselves go through the
 * LV's own mapping.
 */
function asSliced(reader: ByteRangeReader, pv: SlicedReader): SlicedReader {
  if ('offsetInDisk' in reader) return reader as SlicedReader;
  return {
    size: reader.size,
    offsetInDisk: pv.offsetInDisk,
    read: (offset, length) => reader.read(offset, length),
  };
}
