/**
 * Partition tables of a volume image: GPT (with CRC checks and the backup header as fallback),
 * MBR with extended/logical partitions, or no table at all (a filesystem on the whole disk).
 *
 * Sector size: 512 bytes, always. EBS volumes (and the snapshots we read) expose 512-byte logical
 * sectors, and every LBA in MBR/GPT is counted in logical sectors. A 4Kn image would need
 * SECTOR_BYTES = 4096 here and is not supported.
 */
import type { ByteRangeReader } from '../ports.ts';
import { LeBytes, crc32, formatEfiGuid } from './bytes.ts';
import { FilesystemCorruptError } from './errors.ts';
import { detectFsType, detectFsTypeFromBytes } from './fs-type.ts';
import type { FsType } from './fs-type.ts';

/** Logical sector size of EBS volumes (see the module comment). */
export const SECTOR_BYTES = 512;
/** UEFI requires room for at least 128 entries; real tables never exceed a few hundred. */
export const MAX_GPT_ENTRIES = 1024;
/** UEFI allows entry sizes of 128 * 2^n; no implementation uses more than 512. */
export const MAX_GPT_ENTRY_BYTES = 4096;
/** Linux numbers logical partitions 5..; more than 128 is hostile (the EBR chain may loop). */
export const MAX_LOGICAL_PARTITIONS = 128;

const GPT_SIGNATURE = 'EFI PART';
const GPT_MIN_HEADER_BYTES = 92;
const MBR_TYPE_PROTECTIVE_GPT = 0xee;
const MBR_EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);

export type PartitionScheme = 'gpt' | 'mbr' | 'none';

export interface Partition {
  /** GPT: entry number (1-based). MBR: 1..4 primary, 5.. logical (Linux numbering). 0: whole disk. */
  readonly index: number;
  readonly startByte: number;
  readonly sizeBytes: number;
  /** GPT type GUID (lower case) or MBR type byte as "0x83"; "none" for a whole-disk filesystem. */
  readonly type: string;
  /** GPT partition name, when not empty. */
  readonly name?: string;
  readonly fsType: FsType;
  /**
   * Why this partition is not read although it may hold a filesystem (the Windows MSR and recovery
   * partitions): recorded, not read, not a warning.
   */
  readonly skip?: string;
}

/** GPT type GUIDs and MBR types of partitions that are recognised and deliberately not read. */
export const SKIPPED_PARTITION_TYPES: Readonly<Record<string, string>> = {
  // https://learn.microsoft.com/windows-hardware/manufacture/desktop/configure-uefigpt-based-hard-drive-partitions
  'e3c9e316-0b5c-4db8-817d-f92df00215ae':
    'Microsoft reserved partition (MSR): space reserved by Windows, no files',
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'Windows recovery partition (WinRE tools, not user data)',
  '0x27': 'Windows recovery partition (WinRE tools, not user data)',
};

export interface PartitionTable {
  readonly scheme: PartitionScheme;
  /** GPT: which header was used. The backup is used when the primary fails its CRC checks. */
  readonly gptHeader?: 'primary' | 'backup';
  readonly diskGuid?: string;
  readonly partitions: readonly Partition[];
  /** Things that were wrong but did not stop the read (a damaged primary GPT, a partition past the end). */
  readonly warnings: readonly string[];
}

interface RawPartition {
  index: number;
  startByte: number;
  sizeBytes: number;
  type: string;
  name?: string;
}

export async function readPartitionTable(disk: ByteRangeReader): Promise<PartitionTable> {
  if (disk.size < SECTOR_BYTES) {
    throw new FilesystemCorruptError(`disk image of ${disk.size} bytes is smaller than one sector`);
  }
  const headLength = Math.min(disk.size, 8 * SECTOR_BYTES);
  const head = await disk.read(0, headLength);
  const warnings: string[] = [];
  const mbr = parseMbrSector(head.subarray(0, SECTOR_BYTES));

  const hasProtective = mbr?.some((e) => e.type === MBR_TYPE_PROTECTIVE_GPT) ?? false;
  const primaryLooksGpt = headLength >= 2 * SECTOR_BYTES && ascii(head, SECTOR_BYTES, 8) === GPT_SIGNATURE;
  if (primaryLooksGpt || hasProtective) {
    const gpt = await readGpt(disk, warnings);
    if (gpt !== undefined) {
      const partitions = await withFsTypes(disk, gpt.partitions, warnings);
      return { scheme: 'gpt', gptHeader: gpt.header, diskGuid: gpt.diskGuid, partitions, warnings };
    }
    if (primaryLooksGpt) {
      throw new FilesystemCorruptError('GPT found but both the primary and the backup header are damaged', {
        diskSize: disk.size,
      });
    }
    warnings.push('protective MBR without any valid GPT header; reading the MBR instead');
  }

  // A FAT or NTFS boot sector also ends in 55 AA: a filesystem on the whole disk, not a table.
  const wholeDiskType = detectFsTypeFromBytes(head);
  if (
    mbr !== undefined &&
    wholeDiskType !== 'vfat' &&
    wholeDiskType !== 'ntfs' &&
    wholeDiskType !== 'exfat'
  ) {
    const raw = await readMbrPartitions(disk, mbr, warnings);
    return { scheme: 'mbr', partitions: await withFsTypes(disk, raw, warnings), warnings };
  }
  const fsType = await detectFsType(disk, 0);
  return {
    scheme: 'none',
    partitions: [{ index: 0, startByte: 0, sizeBytes: disk.size, type: 'none', fsType }],
    warnings,
  };
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

async function withFsTypes(
  disk: ByteRangeReader,
  raw: readonly RawPartition[],
  warnings: string[],
): Promise<Partition[]> {
  const out: Partition[] = [];
  for (const p of raw) {
    if (p.sizeBytes <= 0 || p.startByte + p.sizeBytes > disk.size) {
      warnings.push(
        `partition ${p.index} (${p.startByte}+${p.sizeBytes} bytes) does not fit in the ${disk.size}-byte disk; skipped`,
      );
      continue;
    }
    const skip = SKIPPED_PARTITION_TYPES[p.type];
    out.push({
      ...p,
      fsType: await detectFsType(disk, p.startByte),
      ...(skip === undefined ? {} : { skip }),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- MBR

interface MbrEntry {
  status: number;
  type: number;
  firstLba: number;
  sectors: number;
}

/** The four primary entries, or undefined when the sector has no 55 AA or impossible entries. */
function parseMbrSector(sector: Uint8Array): MbrEntry[] | undefined {
  if (sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const le = new LeBytes(sector);
  const entries: MbrEntry[] = [];
  for (let i = 0; i < 4; i += 1) {
    const at = 446 + i * 16;
    const status = le.u8(at);
    if (status !== 0x00 && status !== 0x80) return undefined;
    entries.push({ status, type: le.u8(at + 4), firstLba: le.u32(at + 8), sectors: le.u32(at + 12) });
  }
  return entries;
}

async function readMbrPartitions(
  disk: ByteRangeReader,
  entries: readonly MbrEntry[],
  warnings: string[],
): Promise<RawPartition[]> {
  const out: RawPartition[] = [];
  for (let i = 0; i < entries.length; i += 1) {
    const e = entries[i]!;
    if (e.type === 0 || e.sectors === 0) continue;
    if (MBR_EXTENDED_TYPES.has(e.type)) {
      out.push(...(await readLogicalPartitions(disk, e.firstLba, e.sectors, warnings)));
      continue;
    }
    out.push({
      index: i + 1,
      startByte: e.firstLba * SECTOR_BYTES,
      sizeBytes: e.sectors * SECTOR_BYTES,
      type: mbrTypeString(e.type),
    });
  }
  return out;
}

function mbrTypeString(type: number): string {
  return `0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * Follows the EBR chain of an extended partition. Each EBR's first entry is a logical partition
 * (relative to that EBR), its second the next EBR (relative to the extended partition's start).
 * A chain that revisits an EBR, leaves the extended partition or runs too long stops with a warning.
 */
async function readLogicalPartitions(
  disk: ByteRangeReader,
  extendedLba: number,
  extendedSectors: number,
  warnings: string[],
): Promise<RawPartition[]> {
  const out: RawPartition[] = [];
  const seen = new Set<number>();
  let ebrLba = extendedLba;
  for (let n = 0; ; n += 1) {
    if (n >= MAX_LOGICAL_PARTITIONS) {
      warnings.push(`EBR chain longer than ${MAX_LOGICAL_PARTITIONS} entries; stopped`);
      break;
    }
    if (seen.has(ebrLba)) {
      warnings.push(`EBR chain loops back to sector ${ebrLba}; stopped`);
      break;
    }
    seen.add(ebrLba);
    if (
      ebrLba < extendedLba ||
      ebrLba >= extendedLba + extendedSectors ||
      (ebrLba + 1) * SECTOR_BYTES > disk.size
    ) {
      warnings.push(`EBR at sector ${ebrLba} lies outside the extended partition; stopped`);
      break;
    }
    const sector = await disk.read(ebrLba * SECTOR_BYTES, SECTOR_BYTES);
    const entries = parseMbrSector(sector);
    if (entries === undefined) {
      warnings.push(`EBR at sector ${ebrLba} has no valid signature; stopped`);
      break;
    }
    const logical = entries[0]!;
    if (logical.type !== 0 && logical.sectors !== 0) {
      out.push({
        index: 5 + out.length,
        startByte: (ebrLba + logical.firstLba) * SECTOR_BYTES,
        sizeBytes: logical.sectors * SECTOR_BYTES,
        type: mbrTypeString(logical.type),
      });
    }
    const next = entries[1]!;
    if (next.type === 0 || next.firstLba === 0) break;
    ebrLba = extendedLba + next.firstLba;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- GPT

interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entryBytes: number;
  entriesCrc: number;
}

async function readGpt(
  disk: ByteRangeReader,
  warnings: string[],
): Promise<{ header: 'primary' | 'backup'; diskGuid: string; partitions: RawPartition[] } | undefined> {
  const lastLba = Math.floor(disk.size / SECTOR_BYTES) - 1;
  const primary = await tryGptAt(disk, 1);
  if (primary.ok)
    return { header: 'primary', diskGuid: primary.header.diskGuid, partitions: primary.partitions };
  warnings.push(`primary GPT header unusable (${primary.reason}); trying the backup at LBA ${lastLba}`);
  // The primary's alternate pointer is untrusted; the backup lives at the last LBA by definition.
  const backup = await tryGptAt(disk, lastLba);
  if (backup.ok) return { header: 'backup', diskGuid: backup.header.diskGuid, partitions: backup.partitions };
  warnings.push(`backup GPT header unusable (${backup.reason})`);
  return undefined;
}

type GptAttempt = { ok: true; header: GptHeader; partitions: RawPartition[] } | { ok: false; reason: string };

async function tryGptAt(disk: ByteRangeReader, lba: number): Promise<GptAttempt> {
  if (lba < 1 || (lba + 1) * SECTOR_BYTES > disk.size)
    return { ok: false, reason: `LBA ${lba} is outside the disk` };
  const sector = await disk.read(lba * SECTOR_BYTES, SECTOR_BYTES);
  const parsed = parseGptHeader(sector, lba);
  if (typeof parsed === 'string') return { ok: false, reason: parsed };
  const arrayBytes = parsed.entryCount * parsed.entryBytes;
  const arrayStart = parsed.entriesLba * SECTOR_BYTES;
  if (arrayStart + arrayBytes > disk.size)
    return { ok: false, reason: 'partition entry array lies past the end' };
  const array = await disk.read(arrayStart, arrayBytes);
  if (crc32(array) !== parsed.entriesCrc)
    return { ok: false, reason: 'partition entry array CRC32 mismatch' };
  return { ok: true, header: parsed, partitions: parseGptEntries(array, parsed) };
}

function parseGptHeader(sector: Uint8Array, expectedLba: number): GptHeader | string {
  if (ascii(sector, 0, 8) !== GPT_SIGNATURE) return 'no "EFI PART" signature';
  const le = new LeBytes(sector);
  const headerBytes = le.u32(12);
  if (headerBytes < GPT_MIN_HEADER_BYTES || headerBytes > SECTOR_BYTES)
    return `header size ${headerBytes} is invalid`;
  const copy = sector.slice(0, headerBytes);
  copy.fill(0, 16, 20);
  if (crc32(copy) !== le.u32(16)) return 'header CRC32 mismatch';
  const header: GptHeader = {
    myLba: le.u64(24),
    alternateLba: le.u64(32),
    firstUsableLba: le.u64(40),
    lastUsableLba: le.u64(48),
    diskGuid: formatEfiGuid(le.slice(56, 16)),
    entriesLba: le.u64(72),
    entryCount: le.u32(80),
    entryBytes: le.u32(84),
    entriesCrc: le.u32(88),
  };
  if (header.myLba !== expectedLba)
    return `header says it is at LBA ${header.myLba}, found at ${expectedLba}`;
  if (header.entryCount > MAX_GPT_ENTRIES) return `${header.entryCount} entries exceed ${MAX_GPT_ENTRIES}`;
  if (header.entryBytes < 128 || header.entryBytes > MAX_GPT_ENTRY_BYTES || header.entryBytes % 8 !== 0) {
    return `entry size ${header.entryBytes} is invalid`;
  }
  return header;
}

function parseGptEntries(array: Uint8Array, header: GptHeader): RawPartition[] {
  const out: RawPartition[] = [];
  for (let i = 0; i < header.entryCount; i += 1) {
    const entry = new LeBytes(array.subarray(i * header.entryBytes, (i + 1) * header.entryBytes));
    const typeRaw = entry.slice(0, 16);
    if (typeRaw.every((b) => b === 0)) continue;
    const firstLba = entry.u64(32);
    const lastLba = entry.u64(40);
    const nameUnits: number[] = [];
    for (let c = 0; c < 36; c += 1) {
      const unit = entry.u16(56 + c * 2);
      if (unit === 0) break;
      nameUnits.push(unit);
    }
    const name = String.fromCharCode(...nameUnits);
    out.push({
      index: i + 1,
      startByte: firstLba * SECTOR_BYTES,
      sizeBytes: lastLba >= firstLba ? (lastLba - firstLba + 1) * SECTOR_BYTES : 0,
      type: formatEfiGuid(typeRaw),
      ...(name === '' ? {} : { name }),
    });
  }
  return out;
}
