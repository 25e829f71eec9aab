/**
 * Boot sectors of FAT12/16/32 (the BIOS Parameter Block) and exFAT (the Main Boot Region with its
 * checksum sector). References: Microsoft "FAT: General Overview of On-Disk Format" (fatgen103)
 * and the "exFAT file system specification"
 * (https://learn.microsoft.com/windows/win32/fileio/exfat-specification), §3.1 and §3.4.
 */
import { LeBytes } from '../bytes.ts';
import { FilesystemCorruptError } from '../errors.ts';

/** Where the FAT, the root directory and the data clusters are, in bytes of the volume. */
export interface FatGeometry {
  readonly bytesPerSector: number;
  readonly clusterBytes: number;
  /** Data clusters; valid cluster numbers are 2 .. clusterCount + 1. */
  readonly clusterCount: number;
  /** Byte offset of cluster 2. */
  readonly dataStart: number;
  /** Byte offset of the (first) FAT. */
  readonly fatOffset: number;
  readonly fatBytes: number;
  /** Bytes the boot sector says the volume has (may exceed a truncated device). */
  readonly volumeBytes: number;
  /** Bits per FAT entry. */
  readonly fatBits: 12 | 16 | 32;
}

export interface FatBoot extends FatGeometry {
  readonly variant: 'FAT12' | 'FAT16' | 'FAT32';
  /** FAT12/16: the fixed root directory region. */
  readonly rootDirOffset: number;
  readonly rootDirBytes: number;
  /** FAT32: first cluster of the root directory. */
  readonly rootCluster: number;
  readonly serial: number;
  /** The label in the boot sector ('' for "NO NAME"). */
  readonly bootLabel: string;
}

export interface ExfatBoot extends FatGeometry {
  readonly rootCluster: number;
  readonly serial: number;
  readonly revision: number;
  readonly volumeFlags: number;
}

/** fatgen103: a volume with fewer than 4085 clusters is FAT12, fewer than 65525 FAT16, else FAT32. */
const FAT12_MAX_CLUSTERS = 4084;
const FAT16_MAX_CLUSTERS = 65_524;
/** FAT32 entries are 28 bits: cluster numbers above 0x0FFFFFF6 are reserved. */
const FAT32_MAX_CLUSTERS = 0x0ffffff5;
/** exFAT: ClusterCount is at most 2^32 - 11 (specification §3.1.9). */
const EXFAT_MAX_CLUSTERS = 0xfffffff5;
/** exFAT: BytesPerSectorShift 9..12, SectorsPerClusterShift so that a cluster is at most 32 MiB. */
const EXFAT_MAX_CLUSTER_SHIFT = 25;
/** Main Boot Region: 12 sectors (boot, 8 extended boot, OEM parameters, reserved, checksum). */
export const EXFAT_BOOT_REGION_SECTORS = 12;

function trimLabel(raw: Uint8Array): string {
  const text = String.fromCharCode(...raw).replace(/[\s\0]+$/, '');
  return text === 'NO NAME' ? '' : text;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export function parseFatBoot(sector: Uint8Array, deviceSize: number): FatBoot {
  const b = new LeBytes(sector);
  const bytesPerSector = b.u16(11);
  const sectorsPerCluster = b.u8(13);
  const reserved = b.u16(14);
  const numFats = b.u8(16);
  const rootEntries = b.u16(17);
  const totalSectors = b.u16(19) !== 0 ? b.u16(19) : b.u32(32);
  const fatSectors = b.u16(22) !== 0 ? b.u16(22) : b.u32(36);
  const context = { bytesPerSector, sectorsPerCluster, reserved, numFats, fatSectors, totalSectors };
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || !isPowerOfTwo(sectorsPerCluster)) {
    throw new FilesystemCorruptError('FAT boot sector has an invalid sector or cluster size', context);
  }
  if (reserved === 0 || numFats === 0 || fatSectors === 0 || totalSectors === 0) {
    throw new FilesystemCorruptError(
      'FAT boot sector has a zero reserved, FAT or total sector count',
      context,
    );
  }
  const rootDirSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const firstDataSector = reserved + numFats * fatSectors + rootDirSectors;
  if (firstDataSector >= totalSectors) {
    throw new FilesystemCorruptError('FAT data region starts past the end of the volume', context);
  }
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  const variant =
    clusterCount <= FAT12_MAX_CLUSTERS ? 'FAT12' : clusterCount <= FAT16_MAX_CLUSTERS ? 'FAT16' : 'FAT32';
  if (clusterCount < 1 || clusterCount > FAT32_MAX_CLUSTERS) {
    throw new FilesystemCorruptError(`FAT volume has an invalid cluster count ${clusterCount}`, context);
  }
  const fatBits = variant === 'FAT12' ? 12 : variant === 'FAT16' ? 16 : 32;
  const fatBytes = fatSectors * bytesPerSector;
  if (Math.ceil(((clusterCount + 2) * fatBits) / 8) > fatBytes) {
    throw new FilesystemCorruptError(
      `the FAT (${fatBytes} bytes) cannot map ${clusterCount} clusters`,
      context,
    );
  }
  if (variant === 'FAT32' && rootEntries !== 0) {
    throw new FilesystemCorruptError('FAT32 boot sector has a fixed root directory', context);
  }
  const fat32 = variant === 'FAT32';
  const volumeEnd = totalSectors * bytesPerSector;
  if (firstDataSector * bytesPerSector > deviceSize) {
    throw new FilesystemCorruptError('FAT metadata runs past the end of the device', {
      ...context,
      deviceSize,
    });
  }
  const ebr = fat32 ? 64 : 36; // drive number; the extended boot signature follows at +2
  const hasExtended = b.u8(ebr + 2) === 0x29;
  return {
    variant,
    bytesPerSector,
    clusterBytes: bytesPerSector * sectorsPerCluster,
    clusterCount,
    volumeBytes: volumeEnd,
    dataStart: firstDataSector * bytesPerSector,
    fatOffset: reserved * bytesPerSector,
    fatBytes,
    fatBits,
    rootDirOffset: (reserved + numFats * fatSectors) * bytesPerSector,
    rootDirBytes: rootDirSectors * bytesPerSector,
    rootCluster: fat32 ? b.u32(44) : 0,
    serial: hasExtended ? b.u32(ebr + 3) : 0,
    bootLabel: hasExtended ? trimLabel(b.slice(ebr + 7, 11)) : '',
  };
}

/** The 32-bit checksum of the Main Boot Region (§3.4), skipping VolumeFlags and PercentInUse. */
export function exfatBootChecksum(region: Uint8Array, bytesPerSector: number): number {
  let sum = 0;
  const end = bytesPerSector * 11;
  for (let i = 0; i < end; i += 1) {
    if (i === 106 || i === 107 || i === 112) continue;
    sum = (((sum & 1) << 31) | (sum >>> 1)) + region[i]!;
    sum >>>= 0;
  }
  return sum;
}

/** Parses and verifies the Main Boot Region (12 sectors). */
export function parseExfatBoot(region: Uint8Array, deviceSize: number): ExfatBoot {
  const b = new LeBytes(region);
  const bpsShift = b.u8(108);
  const spcShift = b.u8(109);
  const context = { bpsShift, spcShift };
  if (bpsShift < 9 || bpsShift > 12 || bpsShift + spcShift > EXFAT_MAX_CLUSTER_SHIFT) {
    throw new FilesystemCorruptError('exFAT boot sector has an invalid sector or cluster size', context);
  }
  const bytesPerSector = 2 ** bpsShift;
  if (region.length < bytesPerSector * EXFAT_BOOT_REGION_SECTORS) {
    throw new FilesystemCorruptError('exFAT boot region is shorter than 12 sectors', context);
  }
  const expected = exfatBootChecksum(region, bytesPerSector);
  const checksumSector = new LeBytes(region.subarray(bytesPerSector * 11, bytesPerSector * 12));
  for (let at = 0; at < bytesPerSector; at += 4) {
    if (checksumSector.u32(at) !== expected) {
      throw new FilesystemCorruptError('exFAT boot region checksum does not match', {
        ...context,
        expected,
        found: checksumSector.u32(at),
      });
    }
  }
  const fatOffsetSectors = b.u32(80);
  const fatLength = b.u32(84);
  const heapOffset = b.u32(88);
  const clusterCount = b.u32(92);
  const rootCluster = b.u32(96);
  const clusterBytes = 2 ** (bpsShift + spcShift);
  const numFats = b.u8(110);
  const full = { ...context, fatOffsetSectors, fatLength, heapOffset, clusterCount, rootCluster, numFats };
  if (numFats < 1 || numFats > 2 || fatOffsetSectors < 24 || fatLength === 0 || clusterCount === 0) {
    throw new FilesystemCorruptError('exFAT boot sector has invalid FAT or heap geometry', full);
  }
  if (clusterCount > EXFAT_MAX_CLUSTERS || fatLength * bytesPerSector < (clusterCount + 2) * 4) {
    throw new FilesystemCorruptError('exFAT FAT is too short for its cluster count', full);
  }
  const dataStart = heapOffset * bytesPerSector;
  if (heapOffset < fatOffsetSectors + fatLength * numFats || dataStart > deviceSize) {
    throw new FilesystemCorruptError('exFAT cluster heap overlaps the FAT or lies past the device end', full);
  }
  if (rootCluster < 2 || rootCluster > clusterCount + 1) {
    throw new FilesystemCorruptError(`exFAT root directory cluster ${rootCluster} is outside the heap`, full);
  }
  return {
    bytesPerSector,
    clusterBytes,
    clusterCount,
    volumeBytes: b.u64(72) * bytesPerSector,
    dataStart,
    fatOffset: fatOffsetSectors * bytesPerSector,
    fatBytes: fatLength * bytesPerSector,
    fatBits: 32,
    rootCluster,
    serial: b.u32(100),
    revision: b.u16(104),
    volumeFlags: b.u16(106),
  };
}
