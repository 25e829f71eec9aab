/**
 * NTFS on-disk structures: the boot sector, multi-sector fixups, FILE records and their attribute
 * headers, runlists, $STANDARD_INFORMATION, $FILE_NAME and reparse data. Layouts follow the
 * Linux-NTFS project's documentation (https://flatcap.github.io/linux-ntfs/ntfs/) and the
 * kernel's fs/ntfs3 headers (https://github.com/torvalds/linux/blob/master/fs/ntfs3/ntfs.h).
 * Every field is read through bounds-checked accessors: a value that points outside its record
 * is a FilesystemCorruptError, never an out-of-range read.
 */
import { LeBytes } from '../bytes.ts';
import { FilesystemCorruptError, FilesystemLimitError, UnsupportedFilesystemError } from '../errors.ts';
import type { Timestamp } from '../filesystem.ts';
import {
  MAX_CLUSTER_BYTES,
  MAX_COMPRESSION_UNIT_LOG2,
  MAX_INDEX_RECORD_BYTES,
  MAX_RECORD_BYTES,
  MIN_RECORD_BYTES,
} from './limits.ts';

/** Fixups always work in 512-byte strides, whatever the sector size (NTFS_BLOCK_SIZE in Linux). */
export const FIXUP_STRIDE_BYTES = 512;
export const BOOT_SECTOR_BYTES = 512;

/** Attribute type codes ($AttrDef of every NTFS 3.x volume). */
export const ATTR = {
  STANDARD_INFORMATION: 0x10,
  ATTRIBUTE_LIST: 0x20,
  FILE_NAME: 0x30,
  VOLUME_NAME: 0x60,
  VOLUME_INFORMATION: 0x70,
  DATA: 0x80,
  INDEX_ROOT: 0x90,
  INDEX_ALLOCATION: 0xa0,
  BITMAP: 0xb0,
  REPARSE_POINT: 0xc0,
  END: 0xffffffff,
} as const;

/** Attribute header flags. */
export const ATTR_FLAGS = { COMPRESSED: 0x0001, ENCRYPTED: 0x4000, SPARSE: 0x8000 } as const;
/** FILE record header flags. */
export const RECORD_FLAGS = { IN_USE: 0x1, DIRECTORY: 0x2 } as const;
/** $FILE_NAME namespaces. */
export const NAMESPACE = { POSIX: 0, WIN32: 1, DOS: 2, WIN32_AND_DOS: 3 } as const;
/**
 * $FILE_NAME flag of a file with a $I30 index: a directory (FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT,
 * https://github.com/torvalds/linux/blob/master/fs/ntfs3/ntfs.h).
 */
export const FILE_NAME_INDEX_PRESENT = 0x10000000;
/** Reparse tags this reader interprets (the rest are recorded as numbers). */
export const REPARSE_TAG = { MOUNT_POINT: 0xa0000003, SYMLINK: 0xa000000c } as const;
/** Well-known MFT record numbers. */
export const MFT_RECORD = { MFT: 0, VOLUME: 3, ROOT: 5 } as const;

// -------------------------------------------------------------------------------- boot sector

export interface BootSector {
  readonly bytesPerSector: number;
  readonly clusterBytes: number;
  readonly totalSectors: number;
  readonly mftLcn: number;
  readonly recordBytes: number;
  readonly indexRecordBytes: number;
  /** The 64-bit volume serial number as 16 upper-case hex digits (what blkid shows as UUID). */
  readonly serial: string;
}

/** Clusters-per-record fields: positive = clusters, negative = 2^-n bytes. */
function recordSize(raw: number, clusterBytes: number): number {
  const signed = raw > 127 ? raw - 256 : raw;
  return signed < 0 ? 2 ** -signed : signed * clusterBytes;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function parseBootSector(bytes: Uint8Array, deviceBytes: number): BootSector {
  const raw = new LeBytes(bytes);
  const oem = String.fromCharCode(...raw.slice(3, 8));
  if (oem !== 'NTFS    ')
    throw new FilesystemCorruptError(`no NTFS boot sector (OEM id ${JSON.stringify(oem)})`);
  const bytesPerSector = raw.u16(0x0b);
  if (!isPowerOfTwo(bytesPerSector) || bytesPerSector < 256 || bytesPerSector > 4096) {
    throw new FilesystemCorruptError(`invalid bytes per sector ${bytesPerSector}`);
  }
  // Sectors per cluster: up to 0x80 literally; above, 2^(256 - value) (clusters above 64 KiB).
  const spcRaw = raw.u8(0x0d);
  const sectorsPerCluster = spcRaw <= 0x80 ? spcRaw : 2 ** (256 - spcRaw);
  const clusterBytes = sectorsPerCluster * bytesPerSector;
  if (!isPowerOfTwo(sectorsPerCluster) || clusterBytes > MAX_CLUSTER_BYTES) {
    throw new FilesystemCorruptError(`invalid sectors per cluster 0x${spcRaw.toString(16)}`);
  }
  const totalSectors = raw.u64(0x28);
  const mftLcn = raw.u64(0x30);
  const recordBytes = recordSize(raw.u8(0x40), clusterBytes);
  const indexRecordBytes = recordSize(raw.u8(0x44), clusterBytes);
  if (!isPowerOfTwo(recordBytes) || recordBytes < MIN_RECORD_BYTES || recordBytes > MAX_RECORD_BYTES) {
    throw new FilesystemCorruptError(`invalid FILE record size ${recordBytes}`);
  }
  if (
    !isPowerOfTwo(indexRecordBytes) ||
    indexRecordBytes < MIN_RECORD_BYTES ||
    indexRecordBytes > MAX_INDEX_RECORD_BYTES
  ) {
    throw new FilesystemCorruptError(`invalid index record size ${indexRecordBytes}`);
  }
  if (mftLcn * clusterBytes + recordBytes > deviceBytes) {
    throw new FilesystemCorruptError(`$MFT at cluster ${mftLcn} lies past the end of the device`, { mftLcn });
  }
  const serialBytes = raw.slice(0x48, 8);
  let serial = '';
  for (let i = 7; i >= 0; i -= 1) serial += serialBytes[i]!.toString(16).padStart(2, '0');
  return {
    bytesPerSector,
    clusterBytes,
    totalSectors,
    mftLcn,
    recordBytes,
    indexRecordBytes,
    serial: serial.toUpperCase(),
  };
}

// ------------------------------------------------------------------------------------- fixups

/**
 * Applies the update sequence array of a multi-sector record (FILE or INDX) in a copy: the last
 * two bytes of every 512-byte stride must equal the update sequence number, and are replaced by
 * the saved original bytes. A mismatch means a torn or damaged write.
 */
export function applyFixups(bytes: Uint8Array, magic: string, what: string): Uint8Array {
  return applyFixupsInPlace(new Uint8Array(bytes), magic, what);
}

/**
 * applyFixups on bytes the caller owns (a copy read for it), without another copy: a walk applies
 * them to every FILE and INDX record it reads.
 */
export function applyFixupsInPlace(out: Uint8Array, magic: string, what: string): Uint8Array {
  const raw = new LeBytes(out);
  if (
    out.length < 4 ||
    out[0] !== magic.charCodeAt(0) ||
    out[1] !== magic.charCodeAt(1) ||
    out[2] !== magic.charCodeAt(2) ||
    out[3] !== magic.charCodeAt(3)
  ) {
    const got = String.fromCharCode(...raw.slice(0, 4));
    throw new FilesystemCorruptError(`${what}: bad magic ${JSON.stringify(got)}, expected ${magic}`);
  }
  const usaOffset = raw.u16(0x04);
  const usaCount = raw.u16(0x06);
  const strides = out.length / FIXUP_STRIDE_BYTES;
  if (
    usaCount !== strides + 1 ||
    usaOffset < 8 ||
    usaOffset % 2 !== 0 ||
    usaOffset + usaCount * 2 > out.length
  ) {
    throw new FilesystemCorruptError(
      `${what}: invalid update sequence array (offset ${usaOffset}, ${usaCount} entries for ${strides} strides)`,
    );
  }
  const usnLow = out[usaOffset]!;
  const usnHigh = out[usaOffset + 1]!;
  for (let i = 0; i < strides; i += 1) {
    const end = (i + 1) * FIXUP_STRIDE_BYTES - 2;
    if (out[end] !== usnLow || out[end + 1] !== usnHigh) {
      throw new FilesystemCorruptError(`${what}: fixup mismatch in stride ${i} (torn or damaged write)`);
    }
    out[end] = out[usaOffset + 2 + i * 2]!;
    out[end + 1] = out[usaOffset + 3 + i * 2]!;
  }
  return out;
}

// ---------------------------------------------------------------------------- records, attributes

export interface Run {
  /** First virtual cluster of the run within the stream. */
  readonly vcn: number;
  /** First logical cluster on the volume; -1 for a sparse run (reads as zeros). */
  readonly lcn: number;
  readonly length: number;
}

export interface AttributeRecord {
  readonly type: number;
  readonly name: string;
  readonly flags: number;
  readonly id: number;
  /** The MFT record holding this attribute (the base or an extension record). */
  readonly record: number;
  readonly resident?: Uint8Array;
  readonly nonResident?: {
    readonly startVcn: number;
    readonly lastVcn: number;
    readonly runs: readonly Run[];
    /** Sizes are only meaningful in the piece with startVcn 0. */
    readonly allocatedSize: number;
    readonly dataSize: number;
    readonly initializedSize: number;
    readonly compressionUnitLog2: number;
  };
}

export interface FileRecord {
  readonly number: number;
  readonly sequence: number;
  readonly flags: number;
  /** 0 for a base record; otherwise the record number of the base. */
  readonly baseRecord: number;
  readonly attributes: readonly AttributeRecord[];
}

const UTF16 = new TextDecoder('utf-16le', { fatal: false });
/** Names up to this many code units are decoded unit by unit (no TextDecoder call); most are short. */
const UTF16_FAST_PATH_MAX_UNITS = 128;
/** A leading byte-order mark, which TextDecoder drops: such names take its path. */
const BYTE_ORDER_MARK = 0xfeff;

/**
 * The text of the UTF-16LE code units in bytes[from, to) when it is short and holds no surrogate
 * and no leading byte-order mark (nearly every name), else undefined: then decodeUtf16 it.
 */
export function plainUtf16(bytes: Uint8Array, from: number, to: number): string | undefined {
  const length = to - from;
  if (length > 2 * UTF16_FAST_PATH_MAX_UNITS || length % 2 !== 0 || from < 0 || to > bytes.length) {
    return undefined;
  }
  let text = '';
  for (let i = from; i < to; i += 2) {
    const unit = bytes[i]! | (bytes[i + 1]! << 8);
    if ((unit >= 0xd800 && unit <= 0xdfff) || (unit === BYTE_ORDER_MARK && i === from)) return undefined;
    text += String.fromCharCode(unit);
  }
  return text;
}

/** UTF-16LE code units to a string; `valid` is false when a surrogate is unpaired. */
export function decodeUtf16(bytes: Uint8Array): { text: string; valid: boolean } {
  const plain = plainUtf16(bytes, 0, bytes.length);
  if (plain !== undefined) return { text: plain, valid: true };
  const text = UTF16.decode(bytes);
  let valid = true;
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const unit = bytes[i]! | (bytes[i + 1]! << 8);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 3 < bytes.length ? bytes[i + 2]! | (bytes[i + 3]! << 8) : 0;
      if (next < 0xdc00 || next > 0xdfff) valid = false;
      else i += 2;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) valid = false;
  }
  return { text, valid };
}

/**
 * Decodes a runlist: each run is a header byte (low nibble: bytes of the length, high nibble:
 * bytes of the signed LCN delta, 0 = sparse) followed by those little-endian fields; a 0 byte ends
 * the list. Runs must cover exactly [startVcn, lastVcn].
 */
export function decodeRunlist(
  raw: LeBytes,
  from: number,
  end: number,
  startVcn: number,
  lastVcn: number,
  maxRuns: number,
  what: string,
): Run[] {
  const runs: Run[] = [];
  let at = from;
  let vcn = startVcn;
  let lcn = 0;
  while (at < end) {
    const header = raw.u8(at);
    if (header === 0) break;
    const lengthBytes = header & 0x0f;
    const offsetBytes = header >>> 4;
    if (lengthBytes === 0 || lengthBytes > 8 || offsetBytes > 8 || at + 1 + lengthBytes + offsetBytes > end) {
      throw new FilesystemCorruptError(`${what}: invalid runlist header 0x${header.toString(16)}`);
    }
    let length = 0;
    for (let i = lengthBytes - 1; i >= 0; i -= 1) length = length * 256 + raw.u8(at + 1 + i);
    if (length === 0 || !Number.isSafeInteger(length))
      throw new FilesystemCorruptError(`${what}: invalid run length`);
    let run: Run;
    if (offsetBytes === 0) {
      run = { vcn, lcn: -1, length };
    } else {
      let delta = 0;
      for (let i = offsetBytes - 1; i >= 0; i -= 1) delta = delta * 256 + raw.u8(at + 1 + lengthBytes + i);
      if (raw.u8(at + lengthBytes + offsetBytes) & 0x80) delta -= 2 ** (8 * offsetBytes);
      lcn += delta;
      if (lcn < 0 || !Number.isSafeInteger(lcn))
        throw new FilesystemCorruptError(`${what}: run at negative cluster ${lcn}`);
      run = { vcn, lcn, length };
    }
    if (runs.length >= maxRuns) throw new FilesystemLimitError(`${what}: more than ${maxRuns} runs`);
    runs.push(run);
    vcn += length;
    if (!Number.isSafeInteger(vcn)) throw new FilesystemCorruptError(`${what}: runlist overflows`);
    at += 1 + lengthBytes + offsetBytes;
  }
  // A piece may map fewer clusters than lastVcn (trailing unallocated space of a compressed file
  // is sometimes omitted); it may never map more.
  if (vcn > lastVcn + 1 && !(runs.length === 0 && lastVcn + 1 === startVcn)) {
    throw new FilesystemCorruptError(
      `${what}: runlist maps clusters ${startVcn}..${vcn - 1} beyond last VCN ${lastVcn}`,
    );
  }
  return runs;
}

/**
 * Parses a FILE record whose fixups were applied: header and attribute headers. Resident values
 * are views into `bytes`; runlists are decoded.
 */
export function parseFileRecord(
  number: number,
  bytes: Uint8Array,
  maxRuns: number,
  maxAttributes: number,
): FileRecord {
  const raw = new LeBytes(bytes);
  const what = `MFT record ${number}`;
  const sequence = raw.u16(0x10);
  const firstAttribute = raw.u16(0x14);
  const flags = raw.u16(0x16);
  const usedBytes = raw.u32(0x18);
  const baseRef = raw.u64(0x20) % 2 ** 48;
  if (
    usedBytes > bytes.length ||
    firstAttribute < 0x30 ||
    firstAttribute >= usedBytes ||
    firstAttribute % 8 !== 0
  ) {
    throw new FilesystemCorruptError(
      `${what}: invalid header (first attribute ${firstAttribute}, used ${usedBytes})`,
      {
        record: number,
      },
    );
  }
  const attributes: AttributeRecord[] = [];
  let at = firstAttribute;
  for (;;) {
    if (at + 4 > usedBytes)
      throw new FilesystemCorruptError(`${what}: attributes run past the used size`, { record: number });
    const type = raw.u32(at);
    if (type === ATTR.END) break;
    const length = raw.u32(at + 4);
    if (length < 0x18 || length % 8 !== 0 || at + length > usedBytes) {
      throw new FilesystemCorruptError(
        `${what}: attribute 0x${type.toString(16)} has invalid length ${length}`,
        {
          record: number,
        },
      );
    }
    if (attributes.length >= maxAttributes) {
      throw new FilesystemLimitError(`${what}: more than ${maxAttributes} attributes`, { record: number });
    }
    attributes.push(parseAttribute(raw, at, length, number, maxRuns));
    at += length;
  }
  return { number, sequence, flags, baseRecord: baseRef, attributes };
}

function parseAttribute(
  raw: LeBytes,
  at: number,
  length: number,
  record: number,
  maxRuns: number,
): AttributeRecord {
  const type = raw.u32(at);
  const nonResident = raw.u8(at + 8);
  const nameLength = raw.u8(at + 9);
  const nameOffset = raw.u16(at + 0x0a);
  const flags = raw.u16(at + 0x0c);
  const id = raw.u16(at + 0x0e);
  const what = `MFT record ${record}, attribute 0x${type.toString(16)}`;
  if (nameLength > 0 && nameOffset + nameLength * 2 > length) {
    throw new FilesystemCorruptError(`${what}: name runs past the attribute`, { record });
  }
  const name = nameLength === 0 ? '' : decodeUtf16(raw.slice(at + nameOffset, nameLength * 2)).text;
  if (nonResident === 0) {
    const valueLength = raw.u32(at + 0x10);
    const valueOffset = raw.u16(at + 0x14);
    if (valueOffset + valueLength > length) {
      throw new FilesystemCorruptError(`${what}: resident value runs past the attribute`, { record });
    }
    return { type, name, flags, id, record, resident: raw.slice(at + valueOffset, valueLength) };
  }
  if (length < 0x40) throw new FilesystemCorruptError(`${what}: non-resident header too short`, { record });
  const startVcn = raw.u64(at + 0x10);
  const lastVcn = raw.u64(at + 0x18);
  const runsOffset = raw.u16(at + 0x20);
  const compressionUnitLog2 = raw.u16(at + 0x22);
  const allocatedSize = raw.u64(at + 0x28);
  const dataSize = raw.u64(at + 0x30);
  const initializedSize = raw.u64(at + 0x38);
  if (runsOffset < 0x40 || runsOffset > length || lastVcn + 1 < startVcn) {
    throw new FilesystemCorruptError(`${what}: invalid non-resident header`, { record });
  }
  if (compressionUnitLog2 > MAX_COMPRESSION_UNIT_LOG2) {
    throw new UnsupportedFilesystemError(
      `${what}: compression unit of 2^${compressionUnitLog2} clusters (Windows writes 2^4)`,
      { record },
    );
  }
  if (initializedSize > dataSize || dataSize > allocatedSize) {
    throw new FilesystemCorruptError(
      `${what}: sizes out of order (initialized ${initializedSize}, data ${dataSize}, allocated ${allocatedSize})`,
      { record },
    );
  }
  const runs = decodeRunlist(raw, at + runsOffset, at + length, startVcn, lastVcn, maxRuns, what);
  return {
    type,
    name,
    flags,
    id,
    record,
    nonResident: { startVcn, lastVcn, runs, allocatedSize, dataSize, initializedSize, compressionUnitLog2 },
  };
}

// --------------------------------------------------------------------------- attribute contents

/** Seconds between 1601-01-01 (the FILETIME epoch) and 1970-01-01. */
const FILETIME_UNIX_EPOCH_SECONDS = 11_644_473_600;
const FILETIME_TICKS_PER_SECOND = 10_000_000;
const LIMB = 65_536;

/**
 * A Windows FILETIME (100 ns since 1601, UTC) as Unix seconds and nanoseconds. The 64-bit tick
 * count is divided by 10^7 in 16-bit limbs (long division), so every step is exact in a double
 * and no BigInt is allocated: this runs four times per file of a walk.
 */
export function filetime(raw: LeBytes, at: number): Timestamp {
  const lo = raw.u32(at);
  const hi = raw.u32(at + 4);
  let quotient = 0;
  let remainder = 0;
  // The four 16-bit limbs, most significant first (picked by index: no array per call).
  for (let k = 0; k < 4; k += 1) {
    const limb = k === 0 ? hi >>> 16 : k === 1 ? hi & 0xffff : k === 2 ? lo >>> 16 : lo & 0xffff;
    const current = remainder * LIMB + limb;
    const digit = Math.floor(current / FILETIME_TICKS_PER_SECOND);
    remainder = current - digit * FILETIME_TICKS_PER_SECOND;
    quotient = quotient * LIMB + digit;
  }
  return { seconds: quotient - FILETIME_UNIX_EPOCH_SECONDS, nanoseconds: remainder * 100 };
}

export interface StandardInformation {
  readonly created: Timestamp;
  readonly modified: Timestamp;
  readonly changed: Timestamp;
  readonly accessed: Timestamp;
  readonly attributes: number;
}

export function parseStandardInformation(value: Uint8Array, record: number): StandardInformation {
  if (value.length < 0x24) {
    throw new FilesystemCorruptError(`MFT record ${record}: $STANDARD_INFORMATION is ${value.length} bytes`, {
      record,
    });
  }
  const raw = new LeBytes(value);
  return {
    created: filetime(raw, 0x00),
    modified: filetime(raw, 0x08),
    changed: filetime(raw, 0x10),
    accessed: filetime(raw, 0x18),
    attributes: raw.u32(0x20),
  };
}

export interface FileName {
  readonly parentRecord: number;
  readonly parentSequence: number;
  readonly namespace: number;
  readonly name: string;
  readonly nameIsValid: boolean;
  readonly flags: number;
}

/** Offsets in a $FILE_NAME value: file attribute flags, name length (characters), namespace, first character. */
const FILE_NAME_AT = { FLAGS: 0x38, LENGTH: 0x40, NAMESPACE: 0x41, CHARACTERS: 0x42 } as const;

/**
 * The namespace of the $FILE_NAME value in bytes[at, at + length) (a slice the caller has bounded),
 * checked as parseFileName checks it; the name is not decoded.
 */
export function fileNameNamespace(bytes: Uint8Array, at: number, length: number, what: string): number {
  if (length < FILE_NAME_AT.CHARACTERS)
    throw new FilesystemCorruptError(`${what}: $FILE_NAME is ${length} bytes`);
  const characters = bytes[at + FILE_NAME_AT.LENGTH]!;
  if (characters === 0 || FILE_NAME_AT.CHARACTERS + characters * 2 > length) {
    throw new FilesystemCorruptError(`${what}: $FILE_NAME name of ${characters} characters does not fit`);
  }
  return bytes[at + FILE_NAME_AT.NAMESPACE]!;
}

/** $FILE_NAME, as an attribute value or as the key of a directory index entry. */
export function parseFileName(value: Uint8Array, what: string): FileName {
  const namespace = fileNameNamespace(value, 0, value.length, what);
  const raw = new LeBytes(value);
  const decoded = decodeUtf16(raw.slice(FILE_NAME_AT.CHARACTERS, raw.u8(FILE_NAME_AT.LENGTH) * 2));
  return {
    parentRecord: raw.u32(0) + raw.u16(4) * 0x1_0000_0000,
    parentSequence: raw.u16(6),
    namespace,
    name: decoded.text,
    nameIsValid: decoded.valid,
    flags: raw.u32(FILE_NAME_AT.FLAGS),
  };
}

export interface ReparsePoint {
  readonly tag: number;
  /** For symlinks and junctions: the print name (or the substitute name when there is none). */
  readonly target?: string;
}

/**
 * A reparse point's tag, and for IO_REPARSE_TAG_SYMLINK and IO_REPARSE_TAG_MOUNT_POINT the link
 * target ([MS-FSCC] 2.1.2.4 and 2.1.2.5). A malformed target is left out: the tag is still recorded.
 */
export function parseReparsePoint(value: Uint8Array): ReparsePoint {
  const raw = new LeBytes(value);
  const tag = raw.u32(0);
  if (tag !== REPARSE_TAG.SYMLINK && tag !== REPARSE_TAG.MOUNT_POINT) return { tag };
  const pathStart = tag === REPARSE_TAG.SYMLINK ? 0x14 : 0x10;
  if (value.length < pathStart) return { tag };
  const name = (offset: number, length: number): string | undefined =>
    length > 0 && length % 2 === 0 && pathStart + offset + length <= value.length
      ? decodeUtf16(raw.slice(pathStart + offset, length)).text
      : undefined;
  const target = name(raw.u16(0x0c), raw.u16(0x0e)) ?? name(raw.u16(0x08), raw.u16(0x0a));
  return target === undefined ? { tag } : { tag, target };
}

// ------------------------------------------------------------------------------ directory index

export interface IndexEntry {
  readonly record: number;
  readonly sequence: number;
  /**
   * The key's $FILE_NAME namespace, and its name: '' for a DOS-namespace key (an 8.3 alias of a
   * name the index also holds, which no reader of an index needs) and for the last entry, which
   * carries no key.
   */
  readonly namespace: number;
  readonly name: string;
  readonly nameIsValid: boolean;
  /**
   * The key's file attribute flags (0 on the last entry): a copy of the file's, kept up to date
   * by Windows and ntfs-3g but not authoritative (only read-ahead trusts it).
   */
  readonly fileFlags: number;
  /** Whether this is the node's last entry (no key, only possibly the rightmost child). */
  readonly last: boolean;
  /** VCN of the child node holding the keys before this one, when there is one. */
  readonly childVcn: number | undefined;
}

const INDEX_ENTRY_HAS_CHILD = 0x1;
const INDEX_ENTRY_LAST = 0x2;
const INDEX_ENTRY_HEADER_BYTES = 0x10;

/**
 * The entries of one index node: `header` is the offset of the INDEX_HEADER (entries offset, used
 * size) in `bytes`. The last entry carries no key, only (possibly) the rightmost child. Keys are
 * read where they lie (no copy, no object per key but the entry).
 */
export function parseIndexNode(bytes: Uint8Array, header: number, what: string): IndexEntry[] {
  const raw = new LeBytes(bytes);
  const first = header + raw.u32(header);
  const end = header + raw.u32(header + 4);
  if (first < header + 0x10 || end > bytes.length || first > end) {
    throw new FilesystemCorruptError(`${what}: index header out of range (entries ${first}..${end})`);
  }
  const entries: IndexEntry[] = [];
  let at = first;
  for (;;) {
    if (at + INDEX_ENTRY_HEADER_BYTES > end)
      throw new FilesystemCorruptError(`${what}: index entries without an end marker`);
    const length = raw.u16(at + 8);
    const keyLength = raw.u16(at + 10);
    const flags = raw.u32(at + 12);
    const childBytes = flags & INDEX_ENTRY_HAS_CHILD ? 8 : 0;
    if (length < INDEX_ENTRY_HEADER_BYTES + childBytes || length % 8 !== 0 || at + length > end) {
      throw new FilesystemCorruptError(`${what}: index entry of invalid length ${length}`);
    }
    const childVcn = childBytes > 0 ? raw.u64(at + length - 8) : undefined;
    const last = (flags & INDEX_ENTRY_LAST) !== 0;
    let namespace = -1;
    let name = '';
    let nameIsValid = true;
    let fileFlags = 0;
    if (!last) {
      if (INDEX_ENTRY_HEADER_BYTES + keyLength + childBytes > length) {
        throw new FilesystemCorruptError(`${what}: index key of ${keyLength} bytes does not fit its entry`);
      }
      const key = at + INDEX_ENTRY_HEADER_BYTES;
      namespace = fileNameNamespace(bytes, key, keyLength, what);
      fileFlags = raw.u32(key + FILE_NAME_AT.FLAGS);
      if (namespace !== NAMESPACE.DOS) {
        const from = key + FILE_NAME_AT.CHARACTERS;
        const to = from + bytes[key + FILE_NAME_AT.LENGTH]! * 2;
        const plain = plainUtf16(bytes, from, to);
        if (plain !== undefined) name = plain;
        else ({ text: name, valid: nameIsValid } = decodeUtf16(bytes.subarray(from, to)));
      }
    }
    entries.push({
      record: raw.u32(at) + raw.u16(at + 4) * 0x1_0000_0000,
      sequence: raw.u16(at + 6),
      namespace,
      name,
      nameIsValid,
      fileFlags,
      last,
      childVcn,
    });
    if (last) return entries;
    at += length;
  }
}
