/**
 * FAT12, FAT16 and FAT32 (Microsoft fatgen103): 8.3 short entries with VFAT long names (each
 * long-name entry carries the checksum of its short name; a broken sequence or a wrong checksum
 * leaves the short name, as Windows and Linux do), FAT12/16's fixed root region and FAT32's root
 * cluster, the volume label entry of the root directory.
 *
 * Inode numbers: the byte offset of the file's short directory entry divided by 32 (unique, and
 * stable while the entry stays where it is); the root directory is 2. Timestamps are local
 * wall-clock time without a zone: they are stored as if they were UTC. Modification times have a
 * 2-second granularity, creation times 10 ms, access times a day.
 */
import { isRetryable } from '../../errors.ts';
import { PageCachedReader } from '../cached-reader.ts';
import { FilesystemCorruptError } from '../errors.ts';
import type { ByteRangeReader } from '../../ports.ts';
import { parseFatBoot } from './boot.ts';
import type { FatBoot } from './boot.ts';
import { FatTable } from './chains.ts';
import { ATTR_DIRECTORY, ATTR_FILE_BITS, ENTRY_BYTES, EPOCH, ROOT_INODE } from './common.ts';
import { FatFamilyFilesystem, dosTimestamp } from './common.ts';
import type { DirChunk, DirItem, FatNode, OpenFatFamilyOptions } from './common.ts';
import { DEFAULT_FAT_LIMITS, MAX_FAT_DIRECTORY_BYTES, MAX_LFN_ENTRIES } from './limits.ts';
import type { FatLimits } from './limits.ts';
import { lfnChecksum, shortNameOf, utf16 } from './names.ts';

export type OpenFatOptions = OpenFatFamilyOptions;

const ATTR_VOLUME_ID = 0x08;
const ATTR_LONG_NAME = 0x0f;
const LFN_LAST = 0x40;
const DELETED = 0xe5;

export async function openFat(reader: ByteRangeReader, options: OpenFatOptions = {}): Promise<FatFilesystem> {
  if (reader.size < 512)
    throw new FilesystemCorruptError(`a ${reader.size}-byte device cannot hold a FAT boot sector`);
  const cache = new PageCachedReader(reader, options.cache);
  const boot = parseFatBoot(await cache.read(0, 512), reader.size);
  const fs = new FatFilesystem(reader, cache, boot, { ...DEFAULT_FAT_LIMITS, ...options.limits });
  await fs.readLabel();
  return fs;
}

/** Long-name state while scanning a directory: the pieces seen so far of the name being assembled. */
interface LongName {
  parts: (number[] | undefined)[];
  checksum: number;
  /** Sequence number of the last piece seen (pieces come in descending order down to 1). */
  next: number;
}

export class FatFilesystem extends FatFamilyFilesystem {
  readonly fsType = 'vfat' as const;
  label: string;
  readonly uuid: string;
  readonly variant: 'FAT12' | 'FAT16' | 'FAT32';

  constructor(
    reader: ByteRangeReader,
    cache: PageCachedReader,
    readonly boot: FatBoot,
    limits: FatLimits,
  ) {
    super(reader, cache, boot, new FatTable(cache, boot, false), limits);
    this.variant = boot.variant;
    this.label = boot.bootLabel;
    const hex = boot.serial.toString(16).toUpperCase().padStart(8, '0');
    this.uuid = `${hex.slice(0, 4)}-${hex.slice(4)}`;
  }

  /** @internal The label entry of the root directory overrides the boot sector's copy (as Windows shows it). */
  async readLabel(): Promise<void> {
    try {
      for await (const chunk of this.directoryChunks(this.rootNode(), MAX_FAT_DIRECTORY_BYTES)) {
        for (let at = 0; at + ENTRY_BYTES <= chunk.bytes.length; at += ENTRY_BYTES) {
          const first = chunk.bytes[at]!;
          if (first === 0) return;
          const attr = chunk.bytes[at + 11]!;
          if (first !== DELETED && (attr & 0x3f) !== ATTR_LONG_NAME && attr & ATTR_VOLUME_ID) {
            this.label = shortNameOf(chunk.bytes.subarray(at, at + 11), 0)
              .replace(/\./, '')
              .trimEnd();
            return;
          }
        }
      }
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.warnings.push(
        `root directory label not read: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  protected rootNode(): FatNode {
    const b = this.boot;
    const fixed = b.variant !== 'FAT32';
    return {
      inode: ROOT_INODE,
      type: 'directory',
      size: fixed ? b.rootDirBytes : 0,
      attributes: 0,
      mtime: EPOCH,
      atime: EPOCH,
      crtime: EPOCH,
      firstCluster: fixed ? 0 : b.rootCluster,
      contiguous: false,
      validLength: 0,
      ...(fixed ? { fixedRegion: b.rootDirOffset } : {}),
    };
  }

  protected foldName(name: string): string {
    return name.toUpperCase();
  }

  protected async loadNode(inode: number): Promise<FatNode> {
    const offset = inode * ENTRY_BYTES;
    const b = this.boot;
    const inRoot =
      b.variant !== 'FAT32' && offset >= b.rootDirOffset && offset < b.rootDirOffset + b.rootDirBytes;
    if (
      !Number.isSafeInteger(offset) ||
      (!inRoot && offset < b.dataStart) ||
      offset + ENTRY_BYTES > this.reader.size
    ) {
      throw new FilesystemCorruptError(`inode ${inode} is not a directory entry position`, { inode });
    }
    const raw = await this.cache.read(offset, ENTRY_BYTES);
    const first = raw[0]!;
    const attr = raw[11]!;
    if (first === 0 || first === DELETED || (attr & 0x3f) === ATTR_LONG_NAME || attr & ATTR_VOLUME_ID) {
      throw new FilesystemCorruptError(`inode ${inode} does not point at a file's directory entry`, {
        inode,
      });
    }
    return this.nodeOf(raw, offset, undefined);
  }

  private nodeOf(raw: Uint8Array, offset: number, longName: string | undefined): FatNode {
    const view = new DataView(raw.buffer, raw.byteOffset, ENTRY_BYTES);
    const u16 = (at: number): number => view.getUint16(at, true);
    const attr = raw[11]!;
    const short = shortNameOf(raw, raw[12]!);
    const high = this.boot.variant === 'FAT32' ? u16(20) * 0x10000 : 0;
    const firstCluster = high + u16(26);
    const size = view.getUint32(28, true);
    const directory = (attr & ATTR_DIRECTORY) !== 0;
    return {
      inode: offset / ENTRY_BYTES,
      type: directory ? 'directory' : 'file',
      size: directory ? 0 : size,
      attributes: attr & ATTR_FILE_BITS,
      mtime: dosTimestamp(u16(24), u16(22)),
      atime: dosTimestamp(u16(18), 0),
      crtime: dosTimestamp(u16(16), u16(14), raw[13]),
      ...(longName !== undefined && longName !== short ? { shortName: short } : {}),
      firstCluster,
      contiguous: false,
      validLength: directory ? 0 : size,
    };
  }

  protected async *listDirectory(dir: FatNode): AsyncGenerator<DirItem> {
    let long: LongName | undefined;
    const chunks: AsyncGenerator<DirChunk> = this.directoryChunks(dir, MAX_FAT_DIRECTORY_BYTES);
    for await (const chunk of chunks) {
      const out: DirItem[] = [];
      const bytes = chunk.bytes;
      for (let at = 0; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
        const first = bytes[at]!;
        if (first === 0) {
          yield* out;
          return; // end of directory
        }
        if (first === DELETED) {
          long = undefined;
          continue;
        }
        const attr = bytes[at + 11]!;
        if ((attr & 0x3f) === ATTR_LONG_NAME) {
          long = this.longNamePiece(long, bytes.subarray(at, at + ENTRY_BYTES));
          continue;
        }
        if (attr & ATTR_VOLUME_ID) {
          long = undefined;
          continue;
        }
        const raw = bytes.subarray(at, at + ENTRY_BYTES);
        if (first === 0x2e && (raw[1] === 0x20 || (raw[1] === 0x2e && raw[2] === 0x20))) {
          long = undefined; // "." and ".."
          continue;
        }
        const name =
          long !== undefined && long.next === 1 && long.checksum === lfnChecksum(raw)
            ? assemble(long)
            : undefined;
        long = undefined;
        const node = this.nodeOf(raw, chunk.offset + at, name);
        const shown = name ?? shortNameOf(raw, raw[12]!);
        if (shown === '' || shown.includes('/') || shown === '.' || shown === '..') {
          out.push({
            error: new FilesystemCorruptError(
              `directory entry at byte ${chunk.offset + at} has an invalid name`,
              { offset: chunk.offset + at },
            ),
          });
          continue;
        }
        if (node.type === 'directory' && node.firstCluster === 0) {
          out.push({ name: shown, node });
          out.push({
            error: new FilesystemCorruptError(`directory ${shown} has no cluster`, { inode: node.inode }),
          });
          continue;
        }
        out.push({ name: shown, node });
      }
      yield* out;
    }
  }

  private longNamePiece(long: LongName | undefined, raw: Uint8Array): LongName | undefined {
    const ord = raw[0]!;
    const seq = ord & 0x1f;
    const checksum = raw[13]!;
    if (seq === 0 || seq > MAX_LFN_ENTRIES) return undefined;
    let state = long;
    if (ord & LFN_LAST) {
      state = { parts: new Array<number[] | undefined>(seq), checksum, next: seq + 1 };
    } else if (state === undefined || seq !== state.next - 1 || checksum !== state.checksum) {
      return undefined;
    }
    const units: number[] = [];
    for (const [from, count] of LFN_SLOTS) {
      for (let i = 0; i < count; i += 1) units.push(raw[from + i * 2]! | (raw[from + i * 2 + 1]! << 8));
    }
    state.parts[seq - 1] = units;
    state.next = seq;
    return state;
  }
}

/** Where the 13 UTF-16 units of a long-name entry lie: 5 at 1, 6 at 14, 2 at 28. */
const LFN_SLOTS: readonly (readonly [number, number])[] = [
  [1, 5],
  [14, 6],
  [28, 2],
];

function assemble(long: LongName): string | undefined {
  const units: number[] = [];
  for (const part of long.parts) {
    if (part === undefined) return undefined;
    units.push(...part);
  }
  const end = units.indexOf(0);
  const name = utf16(end < 0 ? units : units.slice(0, end));
  return name === '' ? undefined : name;
}
