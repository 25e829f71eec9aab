/**
 * Read-only NTFS (3.x, as written by Windows NT 4 to 11 and ntfs-3g) over a ByteRangeReader holding
 * the volume. No mount, no kernel, no native code. The $MFT is located from the boot sector and
 * read through its own $DATA runlist; every FILE and INDX record has its update-sequence fixups
 * verified; attributes are gathered from extension records through $ATTRIBUTE_LIST; directories
 * are walked in B+tree order ($INDEX_ROOT, then $INDEX_ALLOCATION nodes checked against $BITMAP).
 * Everything a hostile guest controls is bounded (limits.ts). Metadata goes through the page
 * cache; file data is read directly.
 */
import type { ByteRangeReader } from '../../ports.ts';
import { LeBytes } from '../bytes.ts';
import { PageCachedReader } from '../cached-reader.ts';
import type { PageCacheOptions, SlicedReader } from '../cached-reader.ts';
import {
  FileNotFoundInImageError,
  FilesystemCorruptError,
  FilesystemLimitError,
  UnsupportedFilesystemError,
} from '../errors.ts';
import {
  STREAM_PIECE_BYTES,
  WINDOWS_ATTRIBUTES,
  modeTypeBits,
  normalizeImagePath,
  synthesizedPermissions,
  walkError,
} from '../filesystem.ts';
import { checkReadBytes, clampRange } from '../file-ranges.ts';
import {
  baseName,
  childPath,
  walkDepthFirst,
  type DepthFirstSource,
  type WalkDirectory,
} from '../depth-first-walk.ts';
import type {
  DataStream,
  FileExtent,
  FileType,
  FilesystemReader,
  InodeStat,
  ReadStreamOptions,
  WalkEntry,
  WalkItem,
  WalkOptions,
} from '../filesystem.ts';
import { decompressLznt1 } from './lznt1.ts';
import {
  DEFAULT_NTFS_LIMITS,
  MAX_ATTRIBUTES_PER_FILE,
  MAX_ATTRIBUTE_LIST_BYTES,
  MAX_COMPRESSED_CLUSTER_BYTES,
  MAX_EXTENSION_RECORDS,
  MAX_INDEX_DEPTH,
  MAX_REPARSE_BYTES,
  MAX_VOLUME_NAME_BYTES,
  RECORD_CACHE_ENTRIES,
} from './limits.ts';
import type { NtfsLimits } from './limits.ts';
import {
  ATTR,
  ATTR_FLAGS,
  BOOT_SECTOR_BYTES,
  FILE_NAME_INDEX_PRESENT,
  FIXUP_STRIDE_BYTES,
  MFT_RECORD,
  NAMESPACE,
  RECORD_FLAGS,
  REPARSE_TAG,
  applyFixupsInPlace,
  decodeUtf16,
  fileNameNamespace,
  parseBootSector,
  parseFileName,
  parseFileRecord,
  parseIndexNode,
  parseReparsePoint,
  parseStandardInformation,
} from './structures.ts';
import type {
  AttributeRecord,
  BootSector,
  FileName,
  FileRecord,
  IndexEntry,
  ReparsePoint,
  Run,
  StandardInformation,
} from './structures.ts';

export interface OpenNtfsOptions {
  readonly limits?: Partial<NtfsLimits>;
  /**
   * Read-ahead (default true): while a directory node is listed, fetch the $MFT pages of the FILE
   * records it names, and the records and first INDX nodes of its subdirectories, in parallel, so
   * that a walk over a high-latency reader (S3) is not one request at a time.
   */
  readonly readAhead?: boolean;
  readonly cache?: PageCacheOptions;
}

/** One stream of a file (an attribute's value), with its pieces from all records joined. */
interface Stream {
  readonly type: number;
  readonly name: string;
  readonly flags: number;
  readonly resident?: Uint8Array;
  readonly runs: readonly Run[];
  readonly dataSize: number;
  readonly initializedSize: number;
  /** 0 when not compressed; otherwise log2 of the clusters per compression unit. */
  readonly compressionUnitLog2: number;
}

/** A base FILE record with the attributes of its extension records. */
interface NtfsFile {
  readonly record: number;
  readonly sequence: number;
  readonly flags: number;
  readonly attributes: readonly AttributeRecord[];
}

/** What the walk and stat need from a file, computed once per record. */
interface Described {
  readonly stat: InodeStat;
  /** The file's 8.3 aliases ($FILE_NAME in the DOS namespace), each with its parent. */
  readonly dosNames: readonly FileName[] | undefined;
  readonly reparse: ReparsePoint | undefined;
}

/** A directory's entry as the walk meets it: an index entry with a long (non-DOS) name. */
type DirectoryEntry = IndexEntry;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * How a read is made: FILE records and small attribute values go through the page cache (the
 * $MFT is dense: one page serves a thousand records). INDX records and file data are read exactly
 * (no page): directory blocks lie scattered over the volume, one or two per directory, and whole
 * pages of them evicted the $MFT pages every entry needs (a walk of 64,000 entries fetched 1.8 GB
 * instead of 80 MB). Below this reader, the image reader keeps its own small chunk cache.
 */
type ReadVia = 'metadata' | 'index' | 'data';

/** Shared across one walk: index records read may not exceed what the device can hold. */
interface WalkBudget {
  indexRecordsLeft: number;
  /** Loads started ahead of the walk (read-ahead), taken out when the walk gets to them. */
  readonly ahead?: ReadAhead;
}

interface IndexContext {
  readonly record: number;
  readonly rootEntries: readonly IndexEntry[];
  readonly allocation: Stream | undefined;
  readonly bitmapStream: Stream | undefined;
  /** The $I30 bitmap, read when the directory is listed. */
  bitmap: Uint8Array | undefined;
  readonly indexRecordBytes: number;
  /** Bytes per VCN of the index allocation: the cluster, or 512 when INDX records are smaller. */
  readonly vcnBytes: number;
  /** VCNs of this directory's nodes already visited (a loop is corruption). */
  readonly seen: Set<number>;
  readonly budget: WalkBudget;
}

interface ReadAhead {
  readonly files: Map<number, Promise<NtfsFile>>;
  /** Raw INDX records (before fixups) by `${directory record}:${vcn}`. */
  readonly indexRecords: Map<string, Promise<Uint8Array>>;
}

/**
 * Read-ahead bounds: directories' FILE records started ahead, and INDX records (4 KiB each:
 * 8 MiB). A walk descends depth-first while the siblings' first nodes wait, so the bounds must
 * hold a subtree's worth: with 256 INDX records, the siblings' were dropped and a 64k-entry walk
 * over a 2 ms reader took 15 s instead of 11 s (20 s without read-ahead). Past them the oldest is
 * dropped, unread.
 */
const READ_AHEAD_FILES = 4096;
const READ_AHEAD_INDEX_RECORDS = 2048;
/** Top-level INDX nodes fetched ahead for each subdirectory met in a directory listing. */
const READ_AHEAD_NODES_PER_DIRECTORY = 4;

const I30 = '$I30';
const COLLATION_FILE_NAME = 0x1;
const INDEX_ROOT_HEADER_OFFSET = 0x10;
const INDX_HEADER_OFFSET = 0x18;
const INDEX_ROOT_LARGE = 0x1;
const ENCODER = new TextEncoder();

export async function openNtfs(
  reader: ByteRangeReader,
  options: OpenNtfsOptions = {},
): Promise<NtfsFilesystem> {
  if (reader.size < BOOT_SECTOR_BYTES) {
    throw new FilesystemCorruptError(`a ${reader.size}-byte device cannot hold an NTFS boot sector`);
  }
  const limits = { ...DEFAULT_NTFS_LIMITS, ...options.limits };
  const cache = new PageCachedReader(reader, options.cache);
  const boot = parseBootSector(await cache.read(0, BOOT_SECTOR_BYTES), reader.size);
  const fs = new NtfsFilesystem(reader, cache, boot, limits, options.readAhead ?? true);
  await fs.loadMft();
  await fs.loadVolumeInformation();
  return fs;
}

export class NtfsFilesystem implements FilesystemReader {
  readonly fsType = 'ntfs' as const;
  label = '';
  readonly uuid: string;
  readonly clusterBytes: number;
  readonly recordBytes: number;
  /** Byte offset of this filesystem within the whole disk image, when the reader is a slice of it. */
  readonly offsetInDisk: number;
  readonly warnings: string[] = [];
  /** NTFS version from $VOLUME_INFORMATION, e.g. "3.1". */
  version = '';
  private mft: Stream | undefined;
  private readonly records = new Map<number, NtfsFile>();

  constructor(
    private readonly reader: ByteRangeReader,
    /** Metadata cache; its pageMisses and bytesFetched are the read cost so far. */
    readonly cache: PageCachedReader,
    readonly boot: BootSector,
    readonly limits: NtfsLimits,
    private readonly readAhead = true,
  ) {
    this.uuid = boot.serial;
    this.clusterBytes = boot.clusterBytes;
    this.recordBytes = boot.recordBytes;
    this.offsetInDisk = 'offsetInDisk' in reader ? (reader as SlicedReader).offsetInDisk : 0;
    const claimed = boot.totalSectors * boot.bytesPerSector;
    if (claimed > reader.size) {
      this.warnings.push(`filesystem claims ${claimed} bytes but the device has ${reader.size}`);
    }
  }

  // ------------------------------------------------------------------------------------ the MFT

  /**
   * @internal Reads $MFT's own record (at the boot sector's MFT cluster) and joins its $DATA
   * runlist. A very fragmented $MFT keeps later pieces of that runlist in extension records named
   * by its $ATTRIBUTE_LIST: those are read with the runs known so far (the first piece always maps
   * the records that describe the rest).
   */
  async loadMft(): Promise<void> {
    const at = this.boot.mftLcn * this.clusterBytes;
    const bytes = await this.cache.read(at, this.recordBytes);
    const base = this.parseRecord(MFT_RECORD.MFT, bytes);
    if (base.baseRecord !== 0 || (base.flags & RECORD_FLAGS.IN_USE) === 0) {
      throw new FilesystemCorruptError('$MFT record 0 is not an in-use base record');
    }
    const attributes = [...base.attributes];
    this.mft = this.joinStream(MFT_RECORD.MFT, attributes, ATTR.DATA, '');
    const list = base.attributes.find((a) => a.type === ATTR.ATTRIBUTE_LIST);
    if (list !== undefined) {
      const entries = await this.attributeListEntries(MFT_RECORD.MFT, list);
      const wanted = entries.filter(
        (e) => e.record !== MFT_RECORD.MFT && e.type === ATTR.DATA && e.name === '',
      );
      for (const entry of [...wanted].sort((a, b) => a.startVcn - b.startVcn)) {
        if (attributes.some((a) => a.record === entry.record)) continue;
        const extension = await this.loadExtension(MFT_RECORD.MFT, entry.record);
        attributes.push(...extension.attributes);
        this.mft = this.joinStream(MFT_RECORD.MFT, attributes, ATTR.DATA, '');
      }
    }
    if (this.mft.resident !== undefined || this.mft.compressionUnitLog2 !== 0) {
      throw new FilesystemCorruptError('$MFT $DATA is resident or compressed');
    }
  }

  /** @internal The volume label and version from $Volume; damage there is a warning only. */
  async loadVolumeInformation(): Promise<void> {
    try {
      const volume = await this.loadFile(MFT_RECORD.VOLUME);
      const name = volume.attributes.find((a) => a.type === ATTR.VOLUME_NAME);
      if (name?.resident !== undefined) {
        this.label = decodeUtf16(name.resident.subarray(0, MAX_VOLUME_NAME_BYTES)).text;
      }
      const info = volume.attributes.find((a) => a.type === ATTR.VOLUME_INFORMATION)?.resident;
      if (info !== undefined && info.length >= 12) {
        const raw = new LeBytes(info);
        this.version = `${raw.u8(8)}.${raw.u8(9)}`;
        // VOLUME_IS_DIRTY: not cleanly unmounted; the last changes may be only in $LogFile.
        if (raw.u16(10) & 0x1) {
          this.warnings.push('volume is marked dirty (not cleanly unmounted): recent changes may be missing');
        }
      }
    } catch (error) {
      const problem = walkError('/$Volume', MFT_RECORD.VOLUME, error).error;
      this.warnings.push(`$Volume could not be read (${problem.message}): no label`);
    }
  }

  /** Parses a FILE record read for this call (its fixups are applied in place). */
  private parseRecord(number: number, bytes: Uint8Array): FileRecord {
    const fixed = applyFixupsInPlace(bytes, 'FILE', `MFT record ${number}`);
    return parseFileRecord(number, fixed, this.limits.maxRunsPerStream, MAX_ATTRIBUTES_PER_FILE);
  }

  /**
   * Where record `number` lies on the volume when it is in one run of $MFT and initialized (the
   * usual case: it is then read straight from the page cache), else -1 (read through readRuns).
   */
  private recordOffset(number: number): number {
    const mft = this.mft!;
    if (!Number.isSafeInteger(number) || number < 0 || (number + 1) * this.recordBytes > mft.dataSize) {
      throw new FilesystemCorruptError(`MFT record ${number} lies beyond the end of $MFT`, {
        record: number,
      });
    }
    const offset = number * this.recordBytes;
    const cs = this.clusterBytes;
    const run = mft.runs[NtfsFilesystem.runAt(mft.runs, Math.floor(offset / cs))];
    if (run !== undefined && run.lcn >= 0 && offset + this.recordBytes <= (run.vcn + run.length) * cs) {
      const physical = run.lcn * cs + (offset - run.vcn * cs);
      if (
        offset + this.recordBytes <= mft.initializedSize &&
        physical + this.recordBytes <= this.reader.size
      ) {
        return physical;
      }
    }
    return -1;
  }

  private readRecordBytes(number: number, physical: number): Promise<Uint8Array> {
    if (physical >= 0) return this.cache.read(physical, this.recordBytes);
    return this.readRuns(this.mft!, number * this.recordBytes, this.recordBytes, 'metadata', number);
  }

  /**
   * A base record with the attributes of its extension records (cached: walks revisit parents).
   * Returned without a promise when its $MFT page is already cached and it has no attribute list
   * (nearly every file of a walk): an await per entry is a large share of a walk's time.
   */
  private loadFile(number: number): NtfsFile | Promise<NtfsFile> {
    const hit = this.records.get(number);
    if (hit !== undefined) return hit;
    const physical = this.recordOffset(number);
    const cached = physical >= 0 ? this.cache.peek(physical, this.recordBytes) : undefined;
    if (cached !== undefined) return this.fileOf(number, this.parseRecord(number, cached));
    return this.readRecordBytes(number, physical).then((bytes) =>
      this.fileOf(number, this.parseRecord(number, bytes)),
    );
  }

  /** loadFile as a promise (read-ahead keeps these). */
  private async loadFileLater(number: number): Promise<NtfsFile> {
    return this.loadFile(number);
  }

  /** The file of base record `base`: its own attributes, or with those its attribute list names. */
  private fileOf(number: number, base: FileRecord): NtfsFile | Promise<NtfsFile> {
    if ((base.flags & RECORD_FLAGS.IN_USE) === 0) {
      throw new FilesystemCorruptError(`MFT record ${number} is not in use`, { record: number });
    }
    if (base.baseRecord !== 0) {
      throw new FilesystemCorruptError(`MFT record ${number} is an extension of record ${base.baseRecord}`, {
        record: number,
      });
    }
    const list = base.attributes.find((a) => a.type === ATTR.ATTRIBUTE_LIST);
    if (list === undefined) return this.remember(number, base, base.attributes);
    return this.withExtensions(number, base, list);
  }

  private async withExtensions(number: number, base: FileRecord, list: AttributeRecord): Promise<NtfsFile> {
    const entries = await this.attributeListEntries(number, list);
    const extensions = [...new Set(entries.map((e) => e.record))].filter((r) => r !== number);
    if (extensions.length > MAX_EXTENSION_RECORDS) {
      throw new FilesystemLimitError(
        `MFT record ${number} names more than ${MAX_EXTENSION_RECORDS} extension records`,
        {
          record: number,
        },
      );
    }
    const all = [...base.attributes];
    for (const extension of extensions) {
      const ext = await this.loadExtension(number, extension);
      if (all.length + ext.attributes.length > MAX_ATTRIBUTES_PER_FILE) {
        throw new FilesystemLimitError(
          `MFT record ${number} has more than ${MAX_ATTRIBUTES_PER_FILE} attributes`,
          {
            record: number,
          },
        );
      }
      all.push(...ext.attributes);
    }
    return this.remember(number, base, all);
  }

  private remember(number: number, base: FileRecord, attributes: readonly AttributeRecord[]): NtfsFile {
    const file: NtfsFile = { record: number, sequence: base.sequence, flags: base.flags, attributes };
    this.records.set(number, file);
    if (this.records.size > RECORD_CACHE_ENTRIES) this.records.delete(this.records.keys().next().value!);
    return file;
  }

  private async loadExtension(base: number, number: number): Promise<FileRecord> {
    const ext = this.parseRecord(number, await this.readRecordBytes(number, this.recordOffset(number)));
    if ((ext.flags & RECORD_FLAGS.IN_USE) === 0 || ext.baseRecord !== base) {
      throw new FilesystemCorruptError(
        `MFT record ${number} named by record ${base}'s attribute list is not its in-use extension`,
        { record: base, extension: number },
      );
    }
    return ext;
  }

  /** $ATTRIBUTE_LIST entries: type, name, starting VCN and the record holding each attribute. */
  private async attributeListEntries(
    record: number,
    list: AttributeRecord,
  ): Promise<{ type: number; name: string; startVcn: number; record: number }[]> {
    const stream = this.streamOf(record, [list]);
    if (stream.dataSize > MAX_ATTRIBUTE_LIST_BYTES) {
      throw new FilesystemLimitError(`MFT record ${record}: $ATTRIBUTE_LIST of ${stream.dataSize} bytes`, {
        record,
      });
    }
    const bytes = await this.readStreamBytes(stream, 0, stream.dataSize, 'metadata', record);
    const raw = new LeBytes(bytes);
    const entries = [];
    let at = 0;
    while (at + 0x1a <= bytes.length) {
      const length = raw.u16(at + 4);
      const nameLength = raw.u8(at + 6);
      const nameOffset = raw.u8(at + 7);
      if (length < 0x1a || at + length > bytes.length || nameOffset + nameLength * 2 > length) {
        throw new FilesystemCorruptError(
          `MFT record ${record}: $ATTRIBUTE_LIST entry of invalid length ${length}`,
          {
            record,
          },
        );
      }
      entries.push({
        type: raw.u32(at),
        name: nameLength === 0 ? '' : decodeUtf16(raw.slice(at + nameOffset, nameLength * 2)).text,
        startVcn: raw.u64(at + 8),
        record: raw.u32(at + 0x10) + raw.u16(at + 0x14) * 0x1_0000_0000,
      });
      at += length;
    }
    return entries;
  }

  // ------------------------------------------------------------------------------------ streams

  private joinStream(
    record: number,
    attributes: readonly AttributeRecord[],
    type: number,
    name: string,
  ): Stream {
    const pieces = attributes.filter((a) => a.type === type && a.name === name);
    if (pieces.length === 0) {
      throw new FilesystemCorruptError(
        `MFT record ${record} has no attribute 0x${type.toString(16)} ${name}`,
        {
          record,
        },
      );
    }
    return this.streamOf(record, pieces);
  }

  /** Joins the pieces of one attribute (split over records by VCN) into one stream. */
  private streamOf(record: number, pieces: readonly AttributeRecord[]): Stream {
    const first = pieces[0]!;
    const what = `MFT record ${record}, attribute 0x${first.type.toString(16)}${first.name === '' ? '' : ` ${first.name}`}`;
    if (first.resident !== undefined) {
      if (pieces.length > 1)
        throw new FilesystemCorruptError(`${what}: resident attribute in several pieces`, { record });
      return {
        type: first.type,
        name: first.name,
        flags: first.flags,
        resident: first.resident,
        runs: [],
        dataSize: first.resident.length,
        initializedSize: first.resident.length,
        compressionUnitLog2: 0,
      };
    }
    const sorted = [...pieces].sort(
      (a, b) => (a.nonResident?.startVcn ?? 0) - (b.nonResident?.startVcn ?? 0),
    );
    const head = sorted[0]!.nonResident;
    if (head === undefined || head.startVcn !== 0) {
      throw new FilesystemCorruptError(`${what}: no piece starts at VCN 0`, { record });
    }
    const runs: Run[] = [];
    let nextVcn = 0;
    for (const piece of sorted) {
      const nr = piece.nonResident;
      if (nr === undefined || nr.startVcn !== nextVcn) {
        throw new FilesystemCorruptError(`${what}: pieces do not follow each other at VCN ${nextVcn}`, {
          record,
        });
      }
      if (runs.length + nr.runs.length > this.limits.maxRunsPerStream) {
        throw new FilesystemLimitError(`${what}: more than ${this.limits.maxRunsPerStream} runs`, { record });
      }
      // Mapped clusters may stop short of lastVcn (the rest is unallocated); nothing maps past it.
      for (const run of nr.runs) runs.push(run);
      nextVcn = nr.lastVcn + 1;
    }
    const compressed = (first.flags & ATTR_FLAGS.COMPRESSED) !== 0 && head.compressionUnitLog2 > 0;
    return {
      type: first.type,
      name: first.name,
      flags: first.flags,
      runs,
      dataSize: head.dataSize,
      initializedSize: head.initializedSize,
      compressionUnitLog2: compressed ? head.compressionUnitLog2 : 0,
    };
  }

  /** Index of the run containing `vcn`, or of the first run after it (runs.length if none). */
  private static runAt(runs: readonly Run[], vcn: number): number {
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const run = runs[mid]!;
      if (run.vcn + run.length <= vcn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Bytes [offset, offset+length) of a non-compressed non-resident stream; sparse and unmapped as zeros. */
  private async readRuns(
    stream: Stream,
    offset: number,
    length: number,
    via: ReadVia,
    record: number,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const cs = this.clusterBytes;
    const end = Math.min(offset + length, stream.initializedSize);
    let position = offset;
    for (
      let i = NtfsFilesystem.runAt(stream.runs, Math.floor(offset / cs));
      i < stream.runs.length && position < end;
      i += 1
    ) {
      const run = stream.runs[i]!;
      const runStart = run.vcn * cs;
      const runEnd = runStart + run.length * cs;
      const from = Math.max(position, runStart);
      const to = Math.min(end, runEnd);
      if (to <= from) continue;
      if (run.lcn >= 0) {
        const physical = run.lcn * cs + (from - runStart);
        if (physical + (to - from) > this.reader.size) {
          throw new FilesystemCorruptError(
            `MFT record ${record}: data at byte ${physical} lies past the device end`,
            {
              record,
              physical,
            },
          );
        }
        const data =
          via === 'metadata'
            ? await this.cache.read(physical, to - from)
            : await this.cache.readUncached(physical, to - from);
        out.set(data, from - offset);
      }
      position = to;
    }
    return out;
  }

  /** Bytes of any stream (resident, plain, sparse or LZNT1-compressed); `length` already clamped. */
  private async readStreamBytes(
    stream: Stream,
    offset: number,
    length: number,
    via: ReadVia,
    record: number,
  ): Promise<Uint8Array> {
    if (stream.resident !== undefined) return stream.resident.slice(offset, offset + length);
    if (stream.flags & ATTR_FLAGS.ENCRYPTED) throw encryptedError(record);
    if (stream.compressionUnitLog2 === 0) return this.readRuns(stream, offset, length, via, record);
    return this.readCompressed(stream, offset, length, record);
  }

  /**
   * Compressed streams are cut into units of 2^n clusters (16). A unit whose clusters are all
   * allocated is stored raw; one with no allocated cluster is zeros; otherwise its allocated
   * clusters hold LZNT1 data that decompresses to the whole unit.
   */
  private async readCompressed(
    stream: Stream,
    offset: number,
    length: number,
    record: number,
  ): Promise<Uint8Array> {
    const cs = this.clusterBytes;
    if (cs > MAX_COMPRESSED_CLUSTER_BYTES) {
      throw new UnsupportedFilesystemError(
        `MFT record ${record}: compressed data with ${cs}-byte clusters (NTFS compresses only up to 4 KiB clusters)`,
        { record },
      );
    }
    const unitClusters = 2 ** stream.compressionUnitLog2;
    const unitBytes = unitClusters * cs;
    const out = new Uint8Array(length);
    const end = Math.min(offset + length, stream.initializedSize);
    for (let unit = Math.floor(offset / unitBytes); unit * unitBytes < end; unit += 1) {
      const firstVcn = unit * unitClusters;
      const segments: { lcn: number; count: number }[] = [];
      let allocated = 0;
      for (let i = NtfsFilesystem.runAt(stream.runs, firstVcn); i < stream.runs.length; i += 1) {
        const run = stream.runs[i]!;
        if (run.vcn >= firstVcn + unitClusters) break;
        const from = Math.max(firstVcn, run.vcn);
        const to = Math.min(firstVcn + unitClusters, run.vcn + run.length);
        if (to <= from || run.lcn < 0) continue;
        segments.push({ lcn: run.lcn + (from - run.vcn), count: to - from });
        allocated += to - from;
      }
      let data: Uint8Array;
      if (allocated === 0) continue; // a sparse unit: zeros, already in `out`
      const stored = new Uint8Array(allocated * cs);
      let at = 0;
      for (const segment of segments) {
        const physical = segment.lcn * cs;
        if (physical + segment.count * cs > this.reader.size) {
          throw new FilesystemCorruptError(`MFT record ${record}: compressed data past the device end`, {
            record,
          });
        }
        stored.set(await this.cache.readUncached(physical, segment.count * cs), at);
        at += segment.count * cs;
      }
      if (allocated === unitClusters) {
        data = stored;
      } else {
        data = new Uint8Array(unitBytes);
        decompressLznt1(stored, data);
      }
      const unitStart = unit * unitBytes;
      const from = Math.max(offset, unitStart);
      const to = Math.min(end, unitStart + unitBytes);
      out.set(data.subarray(from - unitStart, to - unitStart), from - offset);
    }
    return out;
  }

  // ----------------------------------------------------------------------------------- metadata

  /**
   * What the walk and stat need from a file. Synchronous unless the file's reparse data is
   * non-resident (then read first): most files of a walk cost no promise here.
   */
  private describe(file: NtfsFile): Described | Promise<Described> {
    const record = file.record;
    const attributes = file.attributes;
    let siAttr: AttributeRecord | undefined;
    let reparseAttr: AttributeRecord | undefined;
    for (const a of attributes) {
      if (a.type === ATTR.STANDARD_INFORMATION) siAttr ??= a;
      else if (a.type === ATTR.REPARSE_POINT) reparseAttr ??= a;
    }
    if (siAttr?.resident === undefined) {
      throw new FilesystemCorruptError(`MFT record ${record} has no resident $STANDARD_INFORMATION`, {
        record,
      });
    }
    const si: StandardInformation = parseStandardInformation(siAttr.resident, record);
    // Names: every $FILE_NAME is checked, but only the DOS aliases are decoded (the walk takes
    // long names from the index); the others are counted as links.
    let links = 0;
    let dosNames: FileName[] | undefined;
    for (const a of attributes) {
      if (a.type !== ATTR.FILE_NAME || a.resident === undefined) continue;
      const what = `MFT record ${record}`;
      if (fileNameNamespace(a.resident, 0, a.resident.length, what) !== NAMESPACE.DOS) links += 1;
      else (dosNames ??= []).push(parseFileName(a.resident, what));
    }
    if (reparseAttr === undefined) return this.described(file, si, links, dosNames, undefined);
    const stream = this.streamOf(record, [reparseAttr]);
    if (stream.dataSize > MAX_REPARSE_BYTES || stream.dataSize < 8) {
      throw new FilesystemCorruptError(`MFT record ${record}: reparse data of ${stream.dataSize} bytes`, {
        record,
      });
    }
    if (stream.resident !== undefined) {
      return this.described(file, si, links, dosNames, parseReparsePoint(stream.resident));
    }
    return this.readStreamBytes(stream, 0, stream.dataSize, 'metadata', record).then((bytes) =>
      this.described(file, si, links, dosNames, parseReparsePoint(bytes)),
    );
  }

  private described(
    file: NtfsFile,
    si: StandardInformation,
    links: number,
    dosNames: readonly FileName[] | undefined,
    reparse: ReparsePoint | undefined,
  ): Described {
    const record = file.record;
    const isDirectory = (file.flags & RECORD_FLAGS.DIRECTORY) !== 0;
    const linkTarget =
      reparse !== undefined &&
      (reparse.tag === REPARSE_TAG.SYMLINK || reparse.tag === REPARSE_TAG.MOUNT_POINT)
        ? reparse.target
        : undefined;
    const type: FileType = linkTarget !== undefined ? 'symlink' : isDirectory ? 'directory' : 'file';
    const windowsAttributes = si.attributes | (isDirectory ? WINDOWS_ATTRIBUTES.DIRECTORY : 0);
    // $DATA pieces: the main stream's (usually one) and whether there are named ones.
    let mainPiece: AttributeRecord | undefined;
    let mainPieces = 0;
    let named = false;
    let encrypted = (si.attributes & WINDOWS_ATTRIBUTES.ENCRYPTED) !== 0;
    for (const a of file.attributes) {
      if (a.type !== ATTR.DATA) continue;
      if ((a.flags & ATTR_FLAGS.ENCRYPTED) !== 0) encrypted = true;
      if (a.name !== '') named = true;
      else if (mainPieces++ === 0) mainPiece = a;
    }
    const mainStream =
      mainPiece === undefined
        ? undefined
        : this.streamOf(
            record,
            mainPieces === 1
              ? [mainPiece]
              : file.attributes.filter((a) => a.type === ATTR.DATA && a.name === ''),
          );
    const streams = named ? this.namedStreams(file) : undefined;
    const size =
      type === 'symlink'
        ? ENCODER.encode(linkTarget).length
        : type === 'directory'
          ? 0
          : (mainStream?.dataSize ?? 0);
    const plain =
      mainStream === undefined ||
      (mainStream.resident === undefined && mainStream.compressionUnitLog2 === 0 && !encrypted);
    const perms =
      type === 'symlink'
        ? { permissions: 0o777, mode: modeTypeBits('symlink') | 0o777 }
        : synthesizedPermissions(type, windowsAttributes);
    const stat: Mutable<InodeStat> = {
      inode: record,
      type,
      permissions: perms.permissions,
      mode: perms.mode,
      uid: 0,
      gid: 0,
      size,
      nlink: Math.max(1, links),
      flags: 0,
      atime: si.accessed,
      mtime: si.modified,
      ctime: si.changed,
      crtime: si.created,
      generation: file.sequence,
      windowsAttributes,
    };
    if (dosNames !== undefined) stat.shortName = dosNames[0]!.name;
    if (streams !== undefined && streams.length > 0) stat.streams = streams;
    if (reparse !== undefined) stat.reparseTag = reparse.tag;
    if (encrypted) stat.encrypted = true;
    if (!plain) stat.plainExtents = false;
    return { stat, dosNames, reparse };
  }

  /** The alternate data streams of a file, in the order their first pieces appear. */
  private namedStreams(file: NtfsFile): DataStream[] {
    const dataPieces = file.attributes.filter((a) => a.type === ATTR.DATA);
    const streams: DataStream[] = [];
    const seen = new Set<string>();
    for (const piece of dataPieces) {
      if (piece.name === '' || seen.has(piece.name)) continue;
      seen.add(piece.name);
      const s = this.streamOf(
        file.record,
        dataPieces.filter((a) => a.name === piece.name),
      );
      streams.push({ name: piece.name, size: s.dataSize });
    }
    return streams;
  }

  async stat(inode: number): Promise<InodeStat> {
    return (await this.describe(await this.loadFile(inode))).stat;
  }

  // -------------------------------------------------------------------------------- directories

  /**
   * Entries of a directory in B+tree (collation) order, DOS-only aliases left out (they are the
   * same file under its 8.3 name). Throws on the first damaged index record.
   */
  async *readDir(inode: number): AsyncGenerator<{ name: string; inode: number }> {
    const dir = await this.loadFile(inode);
    for await (const block of this.dirEntries(dir, this.newBudget())) {
      for (const entry of block) yield { name: entry.name, inode: entry.record };
    }
  }

  private newBudget(withReadAhead = false): WalkBudget {
    return {
      indexRecordsLeft: Math.floor(this.reader.size / FIXUP_STRIDE_BYTES),
      ...(withReadAhead && this.readAhead ? { ahead: { files: new Map(), indexRecords: new Map() } } : {}),
    };
  }

  /**
   * Read-ahead for a walk: starts loading every FILE record one index node names and the INDX
   * nodes its entries point to; for each subdirectory among the records, its first INDX nodes.
   * Nothing here is needed for correctness: a failure is left for the walk to meet and report.
   */
  private loadAhead(context: IndexContext, entries: readonly IndexEntry[]): void {
    const ahead = context.budget.ahead;
    if (ahead === undefined) return;
    for (const entry of entries) {
      if (entry.childVcn !== undefined) this.indexRecordAhead(ahead, context, entry.childVcn);
      if (entry.last || entry.namespace === NAMESPACE.DOS || entry.record === context.record) continue;
      // A file needs only its FILE record: its $MFT page is fetched (once for ~1,000 records),
      // with no promise per file. A directory (as its index key says) is loaded, then its nodes.
      if ((entry.fileFlags & FILE_NAME_INDEX_PRESENT) === 0) {
        this.recordPageAhead(entry.record);
        continue;
      }
      if (ahead.files.has(entry.record)) continue;
      const loading = this.loadFileLater(entry.record);
      loading.then(
        (file) => this.directoryAhead(ahead, file),
        () => undefined,
      );
      putBounded(ahead.files, entry.record, loading, READ_AHEAD_FILES);
    }
  }

  /** Starts fetching the $MFT page that holds a record, unless it is cached or loading. */
  private recordPageAhead(record: number): void {
    try {
      const physical = this.recordOffset(record);
      if (physical >= 0) this.cache.prefetch(physical, this.recordBytes);
    } catch {
      // A record beyond $MFT is reported when the walk gets to it.
    }
  }

  private directoryAhead(ahead: ReadAhead, dir: NtfsFile): void {
    // Only directories with INDX nodes: building an error for every plain file costs a stack trace.
    if ((dir.flags & RECORD_FLAGS.DIRECTORY) === 0) return;
    if (!dir.attributes.some((a) => a.type === ATTR.INDEX_ALLOCATION)) return;
    try {
      const context = this.indexContext(dir, { indexRecordsLeft: 0, ahead });
      for (const entry of context.rootEntries.slice(0, READ_AHEAD_NODES_PER_DIRECTORY)) {
        if (entry.childVcn !== undefined) this.indexRecordAhead(ahead, context, entry.childVcn);
      }
    } catch {
      // Damage is reported when the walk lists this directory.
    }
  }

  private indexRecordAhead(ahead: ReadAhead, context: IndexContext, vcn: number): void {
    const { allocation, indexRecordBytes, vcnBytes, record } = context;
    const key = `${record}:${vcn}`;
    const offset = vcn * vcnBytes;
    if (allocation === undefined || ahead.indexRecords.has(key) || !Number.isSafeInteger(offset)) return;
    if (offset + indexRecordBytes > allocation.dataSize) return;
    const reading = this.readRuns(allocation, offset, indexRecordBytes, 'index', record);
    reading.catch(() => undefined);
    putBounded(ahead.indexRecords, key, reading, READ_AHEAD_INDEX_RECORDS);
  }

  /** The parsed $I30 index root of a directory and how to reach its INDX nodes. */
  private indexContext(dir: NtfsFile, budget: WalkBudget): IndexContext {
    const record = dir.record;
    const rootAttr = dir.attributes.find((a) => a.type === ATTR.INDEX_ROOT && a.name === I30);
    if ((dir.flags & RECORD_FLAGS.DIRECTORY) === 0 || rootAttr?.resident === undefined) {
      throw new FilesystemCorruptError(
        `MFT record ${record} is not a directory (no resident $I30 index root)`,
        {
          record,
        },
      );
    }
    const root = new LeBytes(rootAttr.resident);
    if (root.u32(0) !== ATTR.FILE_NAME || root.u32(4) !== COLLATION_FILE_NAME) {
      throw new FilesystemCorruptError(`MFT record ${record}: $I30 does not index file names`, { record });
    }
    const indexRecordBytes = root.u32(8);
    const rootEntries = parseIndexNode(
      rootAttr.resident,
      INDEX_ROOT_HEADER_OFFSET,
      `directory ${record} index root`,
    );
    let allocation: Stream | undefined;
    let bitmapStream: Stream | undefined;
    if (root.u8(INDEX_ROOT_HEADER_OFFSET + 12) & INDEX_ROOT_LARGE) {
      if (indexRecordBytes !== this.boot.indexRecordBytes) {
        throw new FilesystemCorruptError(
          `MFT record ${record}: index record size ${indexRecordBytes} differs from the boot sector's ${this.boot.indexRecordBytes}`,
          { record },
        );
      }
      allocation = this.joinStream(record, dir.attributes, ATTR.INDEX_ALLOCATION, I30);
      if (allocation.resident !== undefined || allocation.compressionUnitLog2 !== 0) {
        throw new FilesystemCorruptError(`MFT record ${record}: $I30 allocation is resident or compressed`, {
          record,
        });
      }
      const bitmapAttr = dir.attributes.filter((a) => a.type === ATTR.BITMAP && a.name === I30);
      if (bitmapAttr.length > 0) bitmapStream = this.streamOf(record, bitmapAttr);
    }
    return {
      record,
      rootEntries,
      allocation,
      bitmapStream,
      bitmap: undefined,
      indexRecordBytes,
      vcnBytes: indexRecordBytes >= this.clusterBytes ? this.clusterBytes : FIXUP_STRIDE_BYTES,
      seen: new Set<number>(),
      budget,
    };
  }

  /** A directory's entries, a block (one index node's run between child pointers) at a time. */
  private async *dirEntries(dir: NtfsFile, budget: WalkBudget): AsyncGenerator<readonly DirectoryEntry[]> {
    const context = this.indexContext(dir, budget);
    const { allocation, bitmapStream, indexRecordBytes, record } = context;
    if (allocation !== undefined && bitmapStream !== undefined) {
      const wanted = Math.ceil(allocation.dataSize / indexRecordBytes / 8);
      context.bitmap = await this.readStreamBytes(
        bitmapStream,
        0,
        Math.min(bitmapStream.dataSize, wanted),
        'index',
        record,
      );
    }
    yield* this.indexNode(context, context.rootEntries, 0);
  }

  /** The entries of one node in B+tree order: each child's subtree before the key that follows it. */
  private async *indexNode(
    context: IndexContext,
    entries: readonly IndexEntry[],
    depth: number,
  ): AsyncGenerator<readonly DirectoryEntry[]> {
    this.loadAhead(context, entries);
    let block: DirectoryEntry[] = [];
    for (const entry of entries) {
      if (entry.childVcn !== undefined) {
        if (block.length > 0) {
          yield block;
          block = [];
        }
        const children = await this.loadIndexRecord(context, entry.childVcn, depth + 1);
        yield* this.indexNode(context, children, depth + 1);
      }
      if (entry.last || entry.namespace === NAMESPACE.DOS) continue;
      if (entry.record === context.record) continue; // the root directory's "." entry
      block.push(entry);
    }
    if (block.length > 0) yield block;
  }

  private async loadIndexRecord(context: IndexContext, vcn: number, depth: number): Promise<IndexEntry[]> {
    const { record, allocation, indexRecordBytes } = context;
    const what = `directory ${record} index record at VCN ${vcn}`;
    if (allocation === undefined)
      throw new FilesystemCorruptError(`${what}: the directory has no $INDEX_ALLOCATION`, { record });
    if (depth > MAX_INDEX_DEPTH)
      throw new FilesystemLimitError(`${what}: index deeper than ${MAX_INDEX_DEPTH}`, { record });
    if (context.seen.has(vcn))
      throw new FilesystemCorruptError(`${what}: reached twice (a loop in the index)`, { record });
    context.seen.add(vcn);
    context.budget.indexRecordsLeft -= 1;
    if (context.budget.indexRecordsLeft < 0) {
      throw new FilesystemLimitError(`walk read more index records than the device holds`, { record });
    }
    const offset = vcn * context.vcnBytes;
    if (!Number.isSafeInteger(offset) || offset + indexRecordBytes > allocation.dataSize) {
      throw new FilesystemCorruptError(`${what}: beyond the ${allocation.dataSize}-byte index allocation`, {
        record,
      });
    }
    const bit = offset / indexRecordBytes;
    if (
      context.bitmap !== undefined &&
      ((context.bitmap[Math.floor(bit / 8)] ?? 0) & (1 << (bit % 8))) === 0
    ) {
      throw new FilesystemCorruptError(`${what}: not marked in use in the $I30 bitmap`, { record });
    }
    const key = `${record}:${vcn}`;
    const ahead = context.budget.ahead?.indexRecords.get(key);
    context.budget.ahead?.indexRecords.delete(key);
    // Both are buffers read for this call (readRuns copies out of the reader), fixed up in place.
    const stored = await (ahead ?? this.readRuns(allocation, offset, indexRecordBytes, 'index', record));
    const bytes = applyFixupsInPlace(stored, 'INDX', what);
    const raw = new LeBytes(bytes);
    if (raw.u64(0x10) !== vcn)
      throw new FilesystemCorruptError(`${what}: record says it is VCN ${raw.u64(0x10)}`, { record });
    return parseIndexNode(bytes, INDX_HEADER_OFFSET, what);
  }

  // -------------------------------------------------------------------------------- path lookup

  /** The MFT record number of `path` (exact, case-sensitive match of the long names). */
  async lookup(path: string): Promise<number> {
    const components = path.split('/').filter((c) => c !== '' && c !== '.');
    if (components.length > this.limits.maxPathComponents) {
      throw new FilesystemLimitError(`path has more than ${this.limits.maxPathComponents} components`);
    }
    const trail: number[] = [MFT_RECORD.ROOT];
    for (const component of components) {
      if (component === '..') {
        if (trail.length > 1) trail.pop();
        continue;
      }
      const dir = await this.loadFile(trail.at(-1)!);
      let found: number | undefined;
      if ((dir.flags & RECORD_FLAGS.DIRECTORY) !== 0) {
        search: for await (const block of this.dirEntries(dir, this.newBudget())) {
          for (const entry of block) {
            if (entry.name === component) {
              found = entry.record;
              break search;
            }
          }
        }
      }
      if (found === undefined)
        throw new FileNotFoundInImageError(`no such file or directory: ${path}`, { path });
      trail.push(found);
    }
    return trail.at(-1)!;
  }

  // ------------------------------------------------------------------------------------ symlinks

  /** The target of a symbolic link or junction (reparse point), as UTF-8; never followed. */
  async readLink(inode: number): Promise<Uint8Array> {
    const described = await this.describe(await this.loadFile(inode));
    if (described.stat.type !== 'symlink' || described.reparse?.target === undefined) {
      throw new FilesystemCorruptError(`MFT record ${inode} is not a symbolic link or junction`, {
        record: inode,
      });
    }
    return ENCODER.encode(described.reparse.target);
  }

  // ----------------------------------------------------------------------------------- file data

  private async dataStream(
    file: NtfsFile,
    name: string | undefined,
  ): Promise<{ stream?: Stream; described: Described }> {
    const described = await this.describe(file);
    const wanted = name ?? '';
    const pieces = file.attributes.filter((a) => a.type === ATTR.DATA && a.name === wanted);
    if (pieces.length === 0) {
      if (wanted !== '') {
        throw new FileNotFoundInImageError(
          `MFT record ${file.record} has no stream named ${JSON.stringify(wanted)}`,
          {
            record: file.record,
          },
        );
      }
      return { described };
    }
    if (described.stat.encrypted === true) throw encryptedError(file.record);
    return { stream: this.streamOf(file.record, pieces), described };
  }

  /**
   * Where the main data lives, in logical order; sparse runs and bytes past the initialized size
   * are omitted (they read as zeros). Only for plain non-resident data: resident, compressed and
   * encrypted data have no byte-for-byte location (see `plainExtents`).
   */
  async *extents(inode: number): AsyncGenerator<FileExtent> {
    const { stream } = await this.dataStream(await this.loadFile(inode), undefined);
    if (stream === undefined) return;
    if (stream.resident !== undefined || stream.compressionUnitLog2 !== 0) {
      throw new UnsupportedFilesystemError(
        `MFT record ${inode}: data is ${stream.resident !== undefined ? 'resident' : 'compressed'}; read it with readFileStream`,
        { record: inode },
      );
    }
    const cs = this.clusterBytes;
    const end = Math.min(stream.dataSize, stream.initializedSize);
    for (const run of stream.runs) {
      const logicalOffset = run.vcn * cs;
      if (logicalOffset >= end) break;
      if (run.lcn < 0) continue;
      yield {
        logicalOffset,
        physicalOffset: run.lcn * cs,
        length: Math.min(run.length * cs, end - logicalOffset),
      };
    }
  }

  /** Bytes [offset, offset+length) of the main stream, or of the named alternate data stream. */
  async readFile(inode: number, offset = 0, length?: number, streamName?: string): Promise<Uint8Array> {
    const { stream } = await this.dataStream(await this.loadFile(inode), streamName);
    const wanted = clampRange(stream?.dataSize ?? 0, offset, length);
    checkReadBytes(wanted, this.limits.maxReadBytes, { record: inode });
    if (stream === undefined || wanted === 0) return new Uint8Array(wanted);
    return this.readStreamBytes(stream, offset, wanted, 'data', inode);
  }

  /** The stream's bytes as pieces of at most `pieceBytes` (sparse as zeros), for files of any size. */
  async *readFileStream(inode: number, options: ReadStreamOptions = {}): AsyncGenerator<Uint8Array> {
    const { stream } = await this.dataStream(await this.loadFile(inode), options.stream);
    const offset = options.offset ?? 0;
    const total = clampRange(stream?.dataSize ?? 0, offset, options.length);
    if (stream === undefined) return;
    const piece = Math.max(1, options.pieceBytes ?? STREAM_PIECE_BYTES);
    for (let position = offset; position < offset + total; position += piece) {
      const n = Math.min(piece, offset + total - position);
      yield await this.readStreamBytes(stream, position, n, 'data', inode);
    }
  }

  // ---------------------------------------------------------------------------------------- walk

  /**
   * Depth-first walk from `root` (default "/"), the start directory first, each directory's
   * entries in B+tree order. Like `fls -r`, it lists the system files ($MFT, $Bitmap, $Extend/...)
   * of the root. Hard links appear once per directory naming the record, with the same inode.
   * Reparse points are recorded, never followed. Damage yields a WalkError and the walk goes on.
   */
  async *walk(options: WalkOptions = {}): AsyncGenerator<WalkItem> {
    const rootPath = normalizeImagePath(options.root ?? '/');
    let rootFile: NtfsFile;
    let rootDescribed: Described;
    try {
      rootFile = await this.loadFile(rootPath === '/' ? MFT_RECORD.ROOT : await this.lookup(rootPath));
      rootDescribed = await this.describe(rootFile);
    } catch (error) {
      yield walkError(rootPath, undefined, error);
      return;
    }
    yield this.entryFor(rootDescribed, rootPath, baseName(rootPath), true, 0, 0);
    if (rootDescribed.stat.type !== 'directory') return;
    const budget = this.newBudget(true);
    const source: DepthFirstSource<NtfsFile, DirectoryEntry> = {
      maxDirectoryDepth: this.limits.maxDirectoryDepth,
      list: (dir) => this.dirEntries(dir, budget),
      visit: (entry, parent, out) => this.visitEntry(entry, parent, budget, out),
      descent: (file) => ({
        key: file.record,
        inode: file.record,
        context: { record: file.record },
        reachedTwice: {
          message: `directory record ${file.record} is reachable twice (a cycle)`,
          context: { record: file.record },
        },
      }),
    };
    yield* walkDepthFirst(source, rootFile, { path: rootPath, inode: rootFile.record, key: rootFile.record });
  }

  /**
   * The walk's item for one index entry of `parent`; its record when it is a directory. A plain
   * value when the record was at hand (see loadFile), a promise only when it had to be read.
   */
  private visitEntry(
    entry: DirectoryEntry,
    parent: WalkDirectory,
    budget: WalkBudget,
    out: WalkItem[],
  ): NtfsFile | undefined | Promise<NtfsFile | undefined> {
    const path = childPath(parent.path, entry.name);
    try {
      if (entry.name.includes('/') || entry.name.includes('\0')) {
        throw new FilesystemCorruptError(
          `directory ${parent.inode} has an entry named ${JSON.stringify(entry.name)}`,
          {
            record: parent.inode,
          },
        );
      }
      const ahead = budget.ahead?.files;
      const loading = ahead?.get(entry.record);
      if (loading !== undefined) ahead!.delete(entry.record);
      const file = loading ?? this.loadFile(entry.record);
      if (!(file instanceof Promise)) return this.visitFile(entry, file, path, parent, out);
      return this.visitWhenLoaded(file, entry, path, parent, out);
    } catch (error) {
      return failedVisit(path, entry, error, out);
    }
  }

  /** visitFile once the record has been read (a page miss, or a directory loaded ahead). */
  private async visitWhenLoaded(
    loading: Promise<NtfsFile>,
    entry: DirectoryEntry,
    path: string,
    parent: WalkDirectory,
    out: WalkItem[],
  ): Promise<NtfsFile | undefined> {
    let file: NtfsFile;
    try {
      file = await loading;
    } catch (error) {
      return failedVisit(path, entry, error, out);
    }
    return this.visitFile(entry, file, path, parent, out);
  }

  private visitFile(
    entry: DirectoryEntry,
    file: NtfsFile,
    path: string,
    parent: WalkDirectory,
    out: WalkItem[],
  ): NtfsFile | undefined | Promise<NtfsFile | undefined> {
    try {
      if (entry.sequence !== 0 && entry.sequence !== file.sequence) {
        throw new FilesystemCorruptError(
          `index entry names record ${entry.record} sequence ${entry.sequence}, the record has ${file.sequence} (stale entry)`,
          { record: entry.record },
        );
      }
      const described = this.describe(file);
      if (!(described instanceof Promise)) return this.visited(described, file, entry, path, parent, out);
      return described.then(
        (later) => this.visited(later, file, entry, path, parent, out),
        (error: unknown) => failedVisit(path, entry, error, out),
      );
    } catch (error) {
      return failedVisit(path, entry, error, out);
    }
  }

  /** Pushes the entry of a described file; the file when the walk may descend into it. */
  private visited(
    described: Described,
    file: NtfsFile,
    entry: DirectoryEntry,
    path: string,
    parent: WalkDirectory,
    out: WalkItem[],
  ): NtfsFile | undefined {
    out.push(this.entryFor(described, path, entry.name, entry.nameIsValid, parent.inode, parent.depth + 1));
    return described.stat.type === 'directory' ? file : undefined;
  }

  private entryFor(
    described: Described,
    path: string,
    name: string,
    nameIsValid: boolean,
    parentInode: number,
    depth: number,
  ): WalkEntry {
    const { stat, reparse } = described;
    // One object with the stat's fields (no spreads: a walk makes one per file), then the
    // optional ones that are present.
    const entry: Mutable<WalkEntry> = {
      kind: 'entry',
      inode: stat.inode,
      type: stat.type,
      permissions: stat.permissions,
      mode: stat.mode,
      uid: stat.uid,
      gid: stat.gid,
      size: stat.size,
      nlink: stat.nlink,
      flags: stat.flags,
      atime: stat.atime,
      mtime: stat.mtime,
      ctime: stat.ctime,
      crtime: stat.crtime,
      generation: stat.generation,
      windowsAttributes: stat.windowsAttributes,
      path,
      name,
      nameBytes: utf8Bytes(name),
      nameIsUtf8: nameIsValid,
      parentInode,
      depth,
    };
    if (stat.streams !== undefined) entry.streams = stat.streams;
    if (stat.reparseTag !== undefined) entry.reparseTag = stat.reparseTag;
    if (stat.encrypted !== undefined) entry.encrypted = stat.encrypted;
    if (stat.plainExtents !== undefined) entry.plainExtents = stat.plainExtents;
    // The 8.3 alias that belongs to this directory entry's parent (a hard link has its own).
    const dos = described.dosNames?.find((n) => n.parentRecord === parentInode);
    if (dos !== undefined) entry.shortName = dos.name;
    const target = stat.type === 'symlink' ? reparse?.target : undefined;
    if (target !== undefined) {
      entry.symlinkTarget = target;
      entry.symlinkTargetBytes = ENCODER.encode(target);
    }
    return entry;
  }
}

/** Longest name encoded to UTF-8 character by character rather than by TextEncoder. */
const UTF8_FAST_PATH_MAX_CHARACTERS = 64;

/**
 * The UTF-8 bytes of a name: an ASCII name is copied character by character (a TextEncoder call
 * costs a native round trip and an off-heap buffer per name), any other through TextEncoder.
 */
function utf8Bytes(text: string): Uint8Array {
  const length = text.length;
  if (length <= UTF8_FAST_PATH_MAX_CHARACTERS) {
    const out = new Uint8Array(length);
    let i = 0;
    for (; i < length; i += 1) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      out[i] = code;
    }
    if (i === length) return out;
  }
  return ENCODER.encode(text);
}

/** A visit that failed: the error for the entry's path, and nothing to descend into. */
function failedVisit(path: string, entry: DirectoryEntry, error: unknown, out: WalkItem[]): undefined {
  out.push(walkError(path, entry.record, error));
  return undefined;
}

/** Map.set that first drops the oldest entries when the map is full (read-ahead bookkeeping). */
function putBounded<K, V>(map: Map<K, V>, key: K, value: V, capacity: number): void {
  while (map.size >= capacity) map.delete(map.keys().next().value!);
  map.set(key, value);
}

function encryptedError(record: number): UnsupportedFilesystemError {
  return new UnsupportedFilesystemError(
    `MFT record ${record} is EFS-encrypted: its data is ciphertext that only Windows with the owner's key can decrypt`,
    { record },
  );
}
