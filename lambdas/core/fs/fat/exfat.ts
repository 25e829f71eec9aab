/**
 * exFAT (https://learn.microsoft.com/windows/win32/fileio/exfat-specification): the Main Boot
 * Region with its checksum, the allocation bitmap and up-case table entries of the root directory,
 * the volume label, and directory entry sets (a File entry, a Stream Extension, File Name entries,
 * protected by SetChecksum). Files are FAT chains or, with NoFatChain, contiguous clusters; bytes
 * past ValidDataLength read as zeros. Timestamps carry a UTC offset when OffsetValid is set and are
 * converted to UTC; without it they are local time stored as if UTC (like FAT).
 *
 * Inode numbers: 2 × (byte offset of the File entry / 32), plus 1 when the parent directory is
 * contiguous (NoFatChain): that bit tells stat() how to follow an entry set that crosses a cluster
 * boundary. The root directory is 2.
 */
import { isRetryable } from '../../errors.ts';
import { LeBytes } from '../bytes.ts';
import { PageCachedReader } from '../cached-reader.ts';
import { FilesystemCorruptError } from '../errors.ts';
import type { Timestamp } from '../filesystem.ts';
import type { ByteRangeReader } from '../../ports.ts';
import { EXFAT_BOOT_REGION_SECTORS, parseExfatBoot } from './boot.ts';
import type { ExfatBoot } from './boot.ts';
import { FatTable, FIRST_CLUSTER } from './chains.ts';
import { ATTR_DIRECTORY, ATTR_FILE_BITS, ENTRY_BYTES, EPOCH, ROOT_INODE } from './common.ts';
import { FatFamilyFilesystem, dosTimestamp } from './common.ts';
import type { DirItem, FatNode, OpenFatFamilyOptions } from './common.ts';
import { DEFAULT_FAT_LIMITS, MAX_UPCASE_TABLE_BYTES } from './limits.ts';
import type { FatLimits } from './limits.ts';
import { UpcaseTable, entrySetChecksum, tableChecksum, unitsOf, utf16 } from './names.ts';

export type OpenExfatOptions = OpenFatFamilyOptions;

const TYPE_END = 0x00;
const TYPE_BITMAP = 0x81;
const TYPE_UPCASE = 0x82;
const TYPE_LABEL = 0x83;
const TYPE_FILE = 0x85;
const TYPE_STREAM = 0xc0;
const TYPE_NAME = 0xc1;
const IN_USE = 0x80;
/** TypeCategory bit: secondary entries follow a primary within its set. */
const SECONDARY = 0x40;
/** TypeImportance bit: benign entries may be skipped by an implementation that does not know them. */
const BENIGN = 0x20;
const FLAG_NO_FAT_CHAIN = 0x2;
const NAME_UNITS_PER_ENTRY = 15;
/** Bytes of the root directory scanned at open for the bitmap, up-case and label entries (they come first). */
const ROOT_SCAN_BYTES = 1024 * 1024;

export async function openExfat(
  reader: ByteRangeReader,
  options: OpenExfatOptions = {},
): Promise<ExfatFilesystem> {
  const cache = new PageCachedReader(reader, options.cache);
  const first = await cache.read(0, Math.min(512, reader.size));
  const bps = 2 ** Math.min(12, Math.max(9, first[108] ?? 9));
  const regionBytes = bps * EXFAT_BOOT_REGION_SECTORS;
  if (reader.size < regionBytes)
    throw new FilesystemCorruptError(`a ${reader.size}-byte device cannot hold an exFAT boot region`);
  const boot = parseExfatBoot(await cache.read(0, regionBytes), reader.size);
  const fs = new ExfatFilesystem(reader, cache, boot, { ...DEFAULT_FAT_LIMITS, ...options.limits });
  await fs.readRootMetadata();
  return fs;
}

export class ExfatFilesystem extends FatFamilyFilesystem {
  readonly fsType = 'exfat' as const;
  label = '';
  readonly uuid: string;
  private upcaseTable = UpcaseTable.identity();
  /** The allocation bitmap's location, from its root directory entry. */
  bitmap: { readonly firstCluster: number; readonly bytes: number } | undefined;

  constructor(
    reader: ByteRangeReader,
    cache: PageCachedReader,
    readonly boot: ExfatBoot,
    limits: FatLimits,
  ) {
    super(reader, cache, boot, new FatTable(cache, boot, true), limits);
    const hex = boot.serial.toString(16).toUpperCase().padStart(8, '0');
    this.uuid = `${hex.slice(0, 4)}-${hex.slice(4)}`;
    if (boot.volumeFlags & 0x2) this.warnings.push('volume is marked dirty (not cleanly unmounted)');
  }

  /** @internal Reads the label, the up-case table and the bitmap entry from the root directory. */
  async readRootMetadata(): Promise<void> {
    let upcase: { first: number; bytes: number; checksum: number } | undefined;
    try {
      scan: for await (const chunk of this.directoryChunks(this.rootNode(), ROOT_SCAN_BYTES)) {
        for (let at = 0; at + ENTRY_BYTES <= chunk.bytes.length; at += ENTRY_BYTES) {
          const e = new LeBytes(chunk.bytes.subarray(at, at + ENTRY_BYTES));
          const type = e.u8(0);
          if (type === TYPE_END) break scan;
          if (type === TYPE_LABEL) {
            const count = Math.min(e.u8(1), 11);
            const units: number[] = [];
            for (let i = 0; i < count; i += 1) units.push(e.u16(2 + i * 2));
            this.label = utf16(units);
          } else if (type === TYPE_UPCASE) {
            upcase = { first: e.u32(20), bytes: e.u64(24), checksum: e.u32(4) };
          } else if (type === TYPE_BITMAP && (e.u8(1) & 1) === 0) {
            this.bitmap = { firstCluster: e.u32(20), bytes: e.u64(24) };
          }
        }
      }
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.warnings.push(
        `root directory metadata not read: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (this.bitmap === undefined) this.warnings.push('no allocation bitmap entry in the root directory');
    else if (this.bitmap.bytes < Math.ceil(this.boot.clusterCount / 8)) {
      this.warnings.push(
        `allocation bitmap (${this.bitmap.bytes} bytes) is shorter than the cluster count needs`,
      );
    }
    if (upcase === undefined) {
      this.warnings.push('no up-case table: names compare without case folding');
      return;
    }
    try {
      if (upcase.bytes === 0 || upcase.bytes > MAX_UPCASE_TABLE_BYTES) {
        throw new FilesystemCorruptError(`up-case table length ${upcase.bytes} is invalid`);
      }
      const node: FatNode = {
        ...this.rootNode(),
        inode: 0,
        type: 'file',
        size: upcase.bytes,
        validLength: upcase.bytes,
        firstCluster: upcase.first,
      };
      const parts: Uint8Array[] = [];
      for await (const piece of this.readNode(node)) parts.push(piece);
      const bytes = concat(parts);
      if (tableChecksum(bytes) !== upcase.checksum) {
        throw new FilesystemCorruptError('up-case table checksum does not match');
      }
      this.upcaseTable = UpcaseTable.parse(bytes);
    } catch (error) {
      if (!(error instanceof FilesystemCorruptError)) throw error;
      this.warnings.push(`up-case table not used: ${error.message}`);
    }
  }

  private async *readNode(node: FatNode): AsyncGenerator<Uint8Array> {
    for await (const run of this.dataRuns(node, node.size))
      yield await this.cache.read(run.physicalOffset, run.length);
  }

  protected rootNode(): FatNode {
    return {
      inode: ROOT_INODE,
      type: 'directory',
      size: 0,
      attributes: 0,
      mtime: EPOCH,
      atime: EPOCH,
      crtime: EPOCH,
      firstCluster: this.boot.rootCluster,
      contiguous: false,
      validLength: 0,
    };
  }

  protected foldName(name: string): string {
    return utf16(this.upcaseTable.upcase(unitsOf(name)));
  }

  protected async loadNode(inode: number): Promise<FatNode> {
    if (!Number.isSafeInteger(inode) || inode < 0)
      throw new FilesystemCorruptError(`invalid inode ${inode}`, { inode });
    const offset = Math.floor(inode / 2) * ENTRY_BYTES;
    const parentContiguous = inode % 2 === 1;
    const g = this.boot;
    if (offset < g.dataStart || offset + ENTRY_BYTES > this.reader.size) {
      throw new FilesystemCorruptError(`inode ${inode} is not a directory entry position`, { inode });
    }
    const head = await this.cache.read(offset, ENTRY_BYTES);
    if (head[0] !== TYPE_FILE) {
      throw new FilesystemCorruptError(`inode ${inode} does not point at a File directory entry`, { inode });
    }
    const count = head[1]!;
    const set = new Uint8Array((count + 1) * ENTRY_BYTES);
    set.set(head);
    let at = offset;
    for (let i = 1; i <= count; i += 1) {
      at += ENTRY_BYTES;
      if ((at - g.dataStart) % g.clusterBytes === 0) {
        const cluster = FIRST_CLUSTER + Math.floor((at - ENTRY_BYTES - g.dataStart) / g.clusterBytes);
        const next = parentContiguous ? cluster + 1 : await this.fat.entry(cluster);
        if (!this.fat.isValidCluster(next)) {
          throw new FilesystemCorruptError(
            `inode ${inode}: entry set continues into invalid cluster ${next}`,
            { inode },
          );
        }
        at = this.fat.clusterOffset(next);
      }
      if (at + ENTRY_BYTES > this.reader.size)
        throw new FilesystemCorruptError(`inode ${inode}: entry set past the device end`, { inode });
      set.set(await this.cache.read(at, ENTRY_BYTES), i * ENTRY_BYTES);
    }
    const parsed = this.parseSet(set, inode);
    if ('error' in parsed) throw parsed.error;
    return parsed.node;
  }

  /** A complete entry set (File + secondaries) → node and name, or the damage found in it. */
  private parseSet(set: Uint8Array, inode: number): { name: string; node: FatNode } | { error: Error } {
    const e = new LeBytes(set);
    const context = { inode };
    if (entrySetChecksum(set) !== e.u16(2)) {
      return {
        error: new FilesystemCorruptError(`entry set of inode ${inode} fails its SetChecksum`, context),
      };
    }
    const count = e.u8(1);
    if (count < 2 || e.u8(ENTRY_BYTES) !== TYPE_STREAM) {
      return {
        error: new FilesystemCorruptError(`entry set of inode ${inode} has no Stream Extension`, context),
      };
    }
    const s = ENTRY_BYTES;
    const nameLength = e.u8(s + 3);
    const nameEntries = Math.ceil(nameLength / NAME_UNITS_PER_ENTRY);
    if (nameLength === 0 || nameEntries > count - 1) {
      return {
        error: new FilesystemCorruptError(
          `entry set of inode ${inode} has an invalid name length ${nameLength}`,
          context,
        ),
      };
    }
    const units: number[] = [];
    for (let n = 0; n < nameEntries; n += 1) {
      const base = (2 + n) * ENTRY_BYTES;
      if (e.u8(base) !== TYPE_NAME) {
        return {
          error: new FilesystemCorruptError(
            `entry set of inode ${inode} lacks File Name entry ${n + 1}`,
            context,
          ),
        };
      }
      for (let i = 0; i < NAME_UNITS_PER_ENTRY && units.length < nameLength; i += 1)
        units.push(e.u16(base + 2 + i * 2));
    }
    const name = utf16(units);
    if (name.includes('/') || name === '.' || name === '..' || name.includes('\0')) {
      return {
        error: new FilesystemCorruptError(`entry set of inode ${inode} has an invalid name`, context),
      };
    }
    const attributes = e.u16(4);
    const directory = (attributes & ATTR_DIRECTORY) !== 0;
    let validLength: number;
    let size: number;
    try {
      validLength = e.u64(s + 8);
      size = e.u64(s + 24);
    } catch (error) {
      return {
        error: new FilesystemCorruptError(
          `entry set of inode ${inode} has a size beyond 2^53`,
          context,
          error,
        ),
      };
    }
    if (validLength > size) {
      return {
        error: new FilesystemCorruptError(
          `inode ${inode}: ValidDataLength ${validLength} exceeds DataLength ${size}`,
          context,
        ),
      };
    }
    return {
      name,
      node: {
        inode,
        type: directory ? 'directory' : 'file',
        size,
        attributes: attributes & ATTR_FILE_BITS,
        crtime: exfatTimestamp(e.u32(8), e.u8(20), e.u8(22)),
        mtime: exfatTimestamp(e.u32(12), e.u8(21), e.u8(23)),
        atime: exfatTimestamp(e.u32(16), 0, e.u8(24)),
        firstCluster: e.u32(s + 20),
        contiguous: (e.u8(s + 1) & FLAG_NO_FAT_CHAIN) !== 0,
        validLength,
      },
    };
  }

  protected async *listDirectory(dir: FatNode): AsyncGenerator<DirItem> {
    const parentBit = dir.contiguous ? 1 : 0;
    /** The entry set being gathered across entries (and across chunks). */
    let set: { bytes: Uint8Array; filled: number; inode: number } | undefined;
    for await (const chunk of this.directoryChunks(dir, this.limits.maxDirectoryBytes)) {
      const out: DirItem[] = [];
      const bytes = chunk.bytes;
      for (let at = 0; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
        const type = bytes[at]!;
        if (set !== undefined) {
          if ((type & (IN_USE | SECONDARY)) === (IN_USE | SECONDARY)) {
            set.bytes.set(bytes.subarray(at, at + ENTRY_BYTES), set.filled);
            set.filled += ENTRY_BYTES;
            if (set.filled === set.bytes.length) {
              out.push(this.parseSet(set.bytes, set.inode));
              set = undefined;
            }
            continue;
          }
          out.push({
            error: new FilesystemCorruptError(`entry set of inode ${set.inode} is cut short`, {
              inode: set.inode,
            }),
          });
          set = undefined;
        }
        if (type === TYPE_END) {
          yield* out;
          return;
        }
        if (type === TYPE_FILE) {
          const count = bytes[at + 1]!;
          set = {
            bytes: new Uint8Array((count + 1) * ENTRY_BYTES),
            filled: ENTRY_BYTES,
            inode: ((chunk.offset + at) / ENTRY_BYTES) * 2 + parentBit,
          };
          set.bytes.set(bytes.subarray(at, at + ENTRY_BYTES));
          if (count === 0) {
            out.push(this.parseSet(set.bytes, set.inode));
            set = undefined;
          }
          continue;
        }
        if (
          (type & IN_USE) !== 0 &&
          (type & SECONDARY) === 0 &&
          (type & BENIGN) === 0 &&
          type !== TYPE_BITMAP &&
          type !== TYPE_UPCASE &&
          type !== TYPE_LABEL
        ) {
          out.push({
            error: new FilesystemCorruptError(
              `unknown critical directory entry type 0x${type.toString(16)}`,
              { offset: chunk.offset + at },
            ),
          });
        }
        // Deleted entries (InUse clear), stray secondaries and benign primaries are skipped.
      }
      yield* out;
    }
    if (set !== undefined) {
      yield {
        error: new FilesystemCorruptError(`entry set of inode ${set.inode} runs past the directory end`, {
          inode: set.inode,
        }),
      };
    }
  }
}

/**
 * An exFAT timestamp (a DOS date and time in one 32-bit field), its 10-ms increment and its UTC
 * offset byte: bit 7 = OffsetValid, bits 0-6 = a signed count of 15-minute intervals.
 */
export function exfatTimestamp(stamp: number, tenMs: number, utcOffset: number): Timestamp {
  let minutes = 0;
  if (utcOffset & 0x80) {
    const quarter = utcOffset & 0x7f;
    minutes = (quarter >= 0x40 ? quarter - 0x80 : quarter) * 15;
  }
  return dosTimestamp(stamp >>> 16, stamp & 0xffff, tenMs, minutes);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
