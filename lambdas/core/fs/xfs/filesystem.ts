/**
 * Read-only XFS (v5, and v4 where it costs nothing extra) over a ByteRangeReader (a partition or a
 * logical volume). No mount, no kernel, no native code: every structure is parsed here, with
 * bounds on everything a hostile guest controls (see limits.ts), and v5 metadata checksums
 * (CRC-32C) verified. Inodes are located from their number (AG, block, index), so the inode
 * B+trees are not needed to read them. Metadata goes through a page cache of large aligned reads;
 * file data is read directly, one request per contiguous extent.
 *
 * The journal (log) is not replayed: a crash-consistent copy of a mounted XFS may miss metadata
 * written in the last seconds before the snapshot (recorded as a limitation in docs/filesystems.md).
 */
import { isRetryable } from '../../errors.ts';
import type { ByteRangeReader } from '../../ports.ts';
import { decodeName } from '../name-encoding.ts';
import { PageCachedReader } from '../cached-reader.ts';
import type { PageCacheOptions } from '../cached-reader.ts';
import {
  FileNotFoundInImageError,
  FilesystemCorruptError,
  FilesystemLimitError,
  UnsupportedFilesystemError,
} from '../errors.ts';
import { STREAM_PIECE_BYTES, checkSymlinkTarget } from '../filesystem.ts';
import { checkOnDevice, checkReadBytes, clampRange, extentPieces, joinPieces } from '../file-ranges.ts';
import { baseName, entryNameOf, unixLookup, unixWalk } from '../depth-first-walk.ts';
import type {
  FileExtent,
  FilesystemReader,
  InodeStat,
  ReadStreamOptions,
  WalkItem,
  WalkOptions,
} from '../filesystem.ts';
import { BeBytes, xfsChecksumOk } from './be-bytes.ts';
import { mapExtents } from './bmap.ts';
import type { MapContext, XfsExtent } from './bmap.ts';
import { DIR_SECTOR_BYTES, parseDataBlock, parseShortForm } from './directory.ts';
import type { DirContext, XfsDirEntry } from './directory.ts';
import { DIFLAG, FORK_FORMAT, parseInode, toStat } from './inode.ts';
import type { XfsInode } from './inode.ts';
import { DEFAULT_XFS_LIMITS, MAX_SYMLINK_TARGET_BYTES, MAX_TRACKED_DIRECTORY_BLOCKS } from './limits.ts';
import type { XfsLimits } from './limits.ts';
import { xfsLogState } from './log.ts';
import { INCOMPAT, SUPERBLOCK_READ_BYTES, parseSuperblock } from './superblock.ts';
import type { XfsSuperblock } from './superblock.ts';
import type { ByteSpan } from '../metadata-ranges.ts';

export interface OpenXfsOptions {
  readonly limits?: Partial<XfsLimits>;
  /** Verify v5 metadata checksums (default true): a mismatch is a FilesystemCorruptError for that object. */
  readonly verifyChecksums?: boolean;
  /** Start loading the inodes a directory block names while the walk handles the block (default true). */
  readonly readAhead?: boolean;
  readonly cache?: PageCacheOptions;
}

/** Directory data lives below this byte of a directory (XFS_DIR2_LEAF_OFFSET); leaf/free blocks above. */
const DIR_DATA_SECTION_BYTES = 2 ** 35;
/** Remote symlink block header on v5 (`xfs_dsymlink_hdr`): magic, offset, bytes, crc, uuid, owner, blkno, lsn. */
const SYMLINK_MAGIC = 0x58534c4d; // "XSLM"
const SYMLINK_HEADER_BYTES = 56;
const SYMLINK_CRC_OFFSET = 12;
/** AG header magics and v5 checksum offsets (`struct xfs_agf`, `struct xfs_agi`). */
const AGF_MAGIC = 0x58414746; // "XAGF"
const AGI_MAGIC = 0x58414749; // "XAGI"
const AGF_CRC_OFFSET = 216;
const AGI_CRC_OFFSET = 312;
const AGF_UUID_OFFSET = 64;
const AGI_UUID_OFFSET = 296;
/** Warnings kept per opened filesystem: one per damaged AG header would be unbounded. */
const MAX_WARNINGS = 100;

export async function openXfs(reader: ByteRangeReader, options: OpenXfsOptions = {}): Promise<XfsFilesystem> {
  if (reader.size < SUPERBLOCK_READ_BYTES) {
    throw new FilesystemCorruptError(`a ${reader.size}-byte device cannot hold an XFS superblock`);
  }
  const verify = options.verifyChecksums ?? true;
  const cache = new PageCachedReader(reader, options.cache);
  const head = await cache.read(0, SUPERBLOCK_READ_BYTES);
  const sectorSize = new BeBytes(head).u16(102);
  // The checksum covers the whole first sector, which may be larger than what was read.
  const sbBytes =
    sectorSize > SUPERBLOCK_READ_BYTES && sectorSize <= 32_768 && sectorSize <= reader.size
      ? await cache.read(0, sectorSize)
      : head;
  const sb = parseSuperblock(sbBytes, verify);
  const fs = new XfsFilesystem(
    reader,
    cache,
    sb,
    { ...DEFAULT_XFS_LIMITS, ...options.limits },
    verify,
    options.readAhead ?? true,
  );
  try {
    const log = await xfsLogState(sb, reader.size, (offset, length) => cache.read(offset, length));
    if (log.state === 'dirty') {
      fs.warnings.push(
        'log is dirty (not cleanly unmounted) and is not replayed: metadata written just before the snapshot may be missing',
      );
    }
  } catch (error) {
    if (isRetryable(error)) throw error;
    fs.warnings.push(`log could not be checked (${error instanceof Error ? error.message : String(error)})`);
  }
  return fs;
}

/** An entry (an item itself, not wrapped: one object per entry of a walk) or a damaged part. */
type DirItem = XfsDirEntry | { readonly error: Error };

/** Shared across one walk: total directory blocks read may not exceed the blocks in the filesystem. */
interface WalkBudget {
  dirBlocksLeft: number;
  readonly seenDirBlocks: Set<number>;
}

export class XfsFilesystem implements FilesystemReader {
  readonly fsType = 'xfs' as const;
  readonly label: string;
  readonly uuid: string;
  readonly blockSize: number;
  readonly warnings: string[] = [];
  /** Inode numbers per allocation group (2^(agblklog + inopblog)) and inodes per block. */
  private readonly agInodes: number;
  private readonly inodesPerBlock: number;
  private readonly maxInode: number;
  private readonly checkedAgs = new Set<number>();

  constructor(
    private readonly reader: ByteRangeReader,
    /** Metadata cache; its pageMisses and bytesFetched are the read cost of what was done so far. */
    readonly cache: PageCachedReader,
    readonly superblock: XfsSuperblock,
    readonly limits: XfsLimits,
    /** v5 checksums are verified (verification on and a v5 filesystem). */
    private readonly verify: boolean,
    private readonly readAhead: boolean,
  ) {
    this.label = superblock.label;
    this.uuid = superblock.uuid;
    this.blockSize = superblock.blockSize;
    this.agInodes = 2 ** (superblock.agBlockLog + superblock.inodesPerBlockLog);
    this.inodesPerBlock = 2 ** superblock.inodesPerBlockLog;
    this.maxInode = superblock.agCount * this.agInodes - 1;
    if (superblock.dataBlocks * superblock.blockSize > reader.size) {
      this.warnings.push(
        `filesystem claims ${superblock.dataBlocks * superblock.blockSize} bytes but the device has ${reader.size}`,
      );
    }
    if (superblock.version === 4)
      this.warnings.push('XFS v4 (no metadata checksums): damage is found by structure checks only');
    if (superblock.incompat & INCOMPAT.NEEDSREPAIR)
      this.warnings.push('the filesystem is marked as needing xfs_repair (needsrepair)');
  }

  get verifiesChecksums(): boolean {
    return this.verify && this.superblock.version === 5;
  }

  private warn(message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(message);
  }

  // ------------------------------------------------------------------------------------- inodes

  async stat(inode: number): Promise<InodeStat> {
    return toStat(await this.loadInode(inode));
  }

  /** Byte offset of an inode from its number: AG in the high bits, then block in the AG, then index. */
  private inodeOffset(number: number): number {
    const sb = this.superblock;
    if (!Number.isSafeInteger(number) || number < 1 || number > this.maxInode) {
      throw new FilesystemCorruptError(`inode number ${number} is outside this filesystem`, {
        inode: number,
      });
    }
    const ag = Math.floor(number / this.agInodes);
    const agInode = number - ag * this.agInodes;
    const agBlock = Math.floor(agInode / this.inodesPerBlock);
    const index = agInode - agBlock * this.inodesPerBlock;
    if (agBlock >= sb.agBlocks || ag * sb.agBlocks + agBlock >= sb.dataBlocks) {
      throw new FilesystemCorruptError(`inode number ${number} lies past the end of its allocation group`, {
        inode: number,
      });
    }
    return (ag * sb.agBlocks + agBlock) * sb.blockSize + index * sb.inodeSize;
  }

  /** The bytes of inode `number`'s record (its number says where: no read). Throws for a number outside the filesystem. */
  inodeRecordSpan(number: number): ByteSpan {
    const offset = this.inodeOffset(number);
    return [offset, offset + this.superblock.inodeSize];
  }

  /**
   * Every byte reading inode `number`'s data fork goes through: its record, the blocks of its
   * extents (a directory's entry blocks, a remote symlink's target) and the btree blocks read to
   * map them. Whole extents, past the file's size too: a superset of what a listing reads.
   */
  async mappedSpans(number: number): Promise<ByteSpan[]> {
    const spans: ByteSpan[] = [this.inodeRecordSpan(number)];
    const file = await this.loadInode(number);
    if (file.format === FORK_FORMAT.LOCAL) return spans;
    const context = this.mapContext();
    const recording: MapContext = {
      ...context,
      read: (offset, length) => {
        spans.push([offset, offset + length]);
        return context.read(offset, length);
      },
    };
    for await (const extent of mapExtents(recording, file)) {
      spans.push([extent.physicalOffset, extent.physicalOffset + extent.blockCount * this.blockSize]);
    }
    return spans;
  }

  private async loadInode(number: number): Promise<XfsInode> {
    const cached = this.cachedInode(number);
    if (cached !== undefined) return cached;
    const offset = this.inodeOffset(number);
    const sb = this.superblock;
    await this.checkAgHeaders(Math.floor(number / this.agInodes));
    this.refusePastEnd(number, offset);
    return this.parseInodeAt(number, offset, await this.cache.read(offset, sb.inodeSize));
  }

  /**
   * The inode, parsed and verified, when its allocation group's headers were checked and its page
   * is cached; undefined when a read is needed. Damage throws, as loadInode's does.
   */
  private cachedInode(number: number): XfsInode | undefined {
    const offset = this.inodeOffset(number);
    if (!this.checkedAgs.has(Math.floor(number / this.agInodes))) return undefined;
    this.refusePastEnd(number, offset);
    const bytes = this.cache.peek(offset, this.superblock.inodeSize);
    return bytes === undefined ? undefined : this.parseInodeAt(number, offset, bytes);
  }

  private refusePastEnd(number: number, offset: number): void {
    if (offset + this.superblock.inodeSize > this.reader.size) {
      throw new FilesystemCorruptError(`inode ${number} lies past the end of the device`, { inode: number });
    }
  }

  private parseInodeAt(number: number, offset: number, record: Uint8Array): XfsInode {
    const sb = this.superblock;
    // `record` is the caller's own copy of exactly this inode (the cache copies out of its pages),
    // and parseInode reads and checksums through the view's own offset and length.
    return parseInode(number, record, offset, {
      inodeSize: sb.inodeSize,
      version: sb.version,
      metaUuid: sb.metaUuid,
      verifyChecksum: this.verifiesChecksums,
    });
  }

  /**
   * The AGF and AGI of an allocation group, checked once when the first inode of the group is read.
   * Inodes are located without them, so damage there is a warning, not a reason to stop reading.
   */
  private async checkAgHeaders(ag: number): Promise<void> {
    if (this.checkedAgs.has(ag)) return;
    this.checkedAgs.add(ag);
    const sb = this.superblock;
    const start = ag * sb.agBlocks * sb.blockSize;
    for (const [name, magic, sector, crcAt, uuidAt] of [
      ['AGF', AGF_MAGIC, 1, AGF_CRC_OFFSET, AGF_UUID_OFFSET],
      ['AGI', AGI_MAGIC, 2, AGI_CRC_OFFSET, AGI_UUID_OFFSET],
    ] as const) {
      const at = start + sector * sb.sectorSize;
      if (at + sb.sectorSize > this.reader.size) {
        this.warn(`allocation group ${ag}: ${name} lies past the end of the device`);
        continue;
      }
      const bytes = await this.cache.read(at, sb.sectorSize);
      const raw = new BeBytes(bytes);
      let problem: string | undefined;
      if (raw.u32(0) !== magic) problem = 'bad magic';
      else if (raw.u32(8) !== ag) problem = `records group number ${raw.u32(8)}`;
      else if (this.verifiesChecksums && !xfsChecksumOk(bytes, crcAt)) problem = 'checksum mismatch';
      else if (sb.version === 5 && !raw.slice(uuidAt, 16).every((b, i) => b === sb.metaUuid[i])) {
        problem = 'belongs to another filesystem (UUID)';
      }
      if (problem !== undefined) this.warn(`allocation group ${ag}: ${name} ${problem}`);
    }
  }

  // --------------------------------------------------------------------------------- path lookup

  /** The inode number of `path` (absolute; symlinks are not followed, like lstat). */
  lookup(path: string): Promise<number> {
    return unixLookup(path, this.superblock.rootInode, this.limits.maxPathComponents, (dir) =>
      this.readDir(dir),
    );
  }

  // --------------------------------------------------------------------------------- directories

  /** Entries of a directory, without "." and "..". Throws on the first damaged block. */
  async *readDir(inode: number): AsyncGenerator<XfsDirEntry> {
    const dir = await this.loadInode(inode);
    for await (const items of this.dirItems(dir, this.newBudget())) {
      for (const item of items) {
        if ('error' in item) throw item.error;
        yield item;
      }
    }
  }

  private newBudget(): WalkBudget {
    return { dirBlocksLeft: this.superblock.dataBlocks, seenDirBlocks: new Set() };
  }

  private dirContext(dir: XfsInode): DirContext {
    const sb = this.superblock;
    return {
      dirInode: dir.inode,
      hasFtype: sb.hasFtype,
      version: sb.version,
      metaUuid: sb.metaUuid,
      verifyChecksums: this.verifiesChecksums,
      maxInode: this.maxInode,
    };
  }

  private mapContext(): MapContext {
    return {
      sb: this.superblock,
      read: (offset, length) => this.cache.read(offset, length),
      verifyChecksums: this.verifiesChecksums,
      maxExtents: this.limits.maxExtentsPerFile,
    };
  }

  /** A directory's items, one directory block (or the short-form fork) at a time. */
  private async *dirItems(dir: XfsInode, budget: WalkBudget): AsyncGenerator<readonly DirItem[]> {
    if (dir.type !== 'directory') {
      throw new FilesystemCorruptError(`inode ${dir.inode} is not a directory`, { inode: dir.inode });
    }
    const ctx = this.dirContext(dir);
    if (dir.format === FORK_FORMAT.LOCAL) {
      if (dir.size > dir.forkBytes) {
        throw new FilesystemCorruptError(
          `directory inode ${dir.inode}: short-form size ${dir.size} exceeds its fork`,
          {
            inode: dir.inode,
          },
        );
      }
      const entries = parseShortForm(ctx, dir.raw.slice(dir.forkOffset, dir.size));
      this.prefetchInodes(entries);
      yield entries;
      return;
    }
    const limit = Math.min(this.limits.maxDirectoryBytes, DIR_DATA_SECTION_BYTES);
    if (dir.size > limit) {
      throw new FilesystemLimitError(
        `directory inode ${dir.inode} claims ${dir.size} bytes, above the ${limit}-byte limit`,
        { inode: dir.inode, size: dir.size },
      );
    }
    const bs = this.blockSize;
    const perDirBlock = this.superblock.dirBlockSize / bs;
    const endBlock = Math.ceil(dir.size / bs);
    let pending: { dirBlock: number; parts: Uint8Array[]; got: number; daddr: number } | undefined;
    for await (const extent of mapExtents(this.mapContext(), dir)) {
      if (extent.logicalBlock >= endBlock) break;
      if (extent.unwritten) continue;
      const last = Math.min(extent.logicalBlock + extent.blockCount, endBlock);
      this.cache.prefetch(extent.physicalOffset, (last - extent.logicalBlock) * bs);
      let block = extent.logicalBlock;
      while (block < last) {
        const dirBlock = Math.floor(block / perDirBlock);
        const within = block - dirBlock * perDirBlock;
        const count = Math.min(perDirBlock - within, last - block);
        const physical = extent.physicalOffset + (block - extent.logicalBlock) * bs;
        block += count;
        if (within === 0) {
          pending = { dirBlock, parts: [], got: 0, daddr: physical / DIR_SECTOR_BYTES };
        } else if (pending?.dirBlock !== dirBlock || pending.got !== within) {
          pending = undefined;
          yield [
            {
              error: new FilesystemCorruptError(
                `directory inode ${dir.inode}: directory block ${dirBlock} is incomplete`,
                {
                  inode: dir.inode,
                },
              ),
            },
          ];
          continue;
        }
        budget.dirBlocksLeft -= count;
        if (budget.dirBlocksLeft < 0) {
          throw new FilesystemLimitError(
            'walk read more directory blocks than the device holds: blocks are shared',
            {
              inode: dir.inode,
            },
          );
        }
        const key = physical / bs;
        if (budget.seenDirBlocks.has(key)) {
          throw new FilesystemCorruptError(
            `directory inode ${dir.inode}: block at byte ${physical} also belongs to another directory (or twice to this one)`,
            { inode: dir.inode },
          );
        }
        if (budget.seenDirBlocks.size < MAX_TRACKED_DIRECTORY_BLOCKS) budget.seenDirBlocks.add(key);
        pending.parts.push(await this.cache.read(physical, count * bs));
        pending.got += count;
        if (pending.got < perDirBlock) continue;
        const bytes = pending.parts.length === 1 ? pending.parts[0]! : concat(pending.parts);
        const { daddr } = pending;
        pending = undefined;
        let entries: XfsDirEntry[];
        try {
          entries = parseDataBlock(ctx, bytes, daddr, dirBlock === 0);
        } catch (error) {
          yield [{ error: error instanceof Error ? error : new Error(String(error)) }];
          continue;
        }
        this.prefetchInodes(entries);
        yield entries;
      }
    }
  }

  private prefetchInodes(entries: readonly XfsDirEntry[]): void {
    if (!this.readAhead) return;
    for (const entry of entries) {
      try {
        this.cache.prefetch(this.inodeOffset(entry.inode), this.superblock.inodeSize);
      } catch {
        // An invalid inode number is reported when the walk reaches that entry.
      }
    }
  }

  // ------------------------------------------------------------------------------------ symlinks

  async readLink(inode: number): Promise<Uint8Array> {
    return this.symlinkTarget(await this.loadInode(inode));
  }

  /** symlinkTarget for the shared walk helpers (depth-first-walk.ts). */
  private readonly readTarget = (link: XfsInode): Promise<Uint8Array> => this.symlinkTarget(link);

  private async symlinkTarget(link: XfsInode): Promise<Uint8Array> {
    checkSymlinkTarget(link, MAX_SYMLINK_TARGET_BYTES);
    if (link.format === FORK_FORMAT.LOCAL) {
      if (link.size > link.forkBytes) {
        throw new FilesystemCorruptError(`symlink inode ${link.inode}: target longer than its fork`, {
          inode: link.inode,
        });
      }
      return link.raw.slice(link.forkOffset, link.size).slice();
    }
    // Remote: the target fills the link's blocks in order, after a header on v5.
    const out = new Uint8Array(link.size);
    let filled = 0;
    const bs = this.blockSize;
    const v5 = this.superblock.version === 5;
    for await (const extent of mapExtents(this.mapContext(), link)) {
      for (let i = 0; i < extent.blockCount && filled < link.size; i += 1) {
        const at = extent.physicalOffset + i * bs;
        const block = await this.cache.read(at, bs);
        let data: Uint8Array;
        if (v5) {
          const raw = new BeBytes(block);
          const bytes = raw.u32(8);
          const bad =
            raw.u32(0) !== SYMLINK_MAGIC
              ? 'bad magic'
              : raw.u32(4) !== filled
                ? 'wrong offset'
                : bytes === 0 || bytes > Math.min(bs - SYMLINK_HEADER_BYTES, link.size - filled)
                  ? `invalid length ${bytes}`
                  : this.verifiesChecksums && !xfsChecksumOk(block, SYMLINK_CRC_OFFSET)
                    ? 'checksum mismatch'
                    : raw.u64(32) !== link.inode
                      ? 'belongs to another inode'
                      : undefined;
          if (bad !== undefined) {
            throw new FilesystemCorruptError(`symlink inode ${link.inode}: remote block: ${bad}`, {
              inode: link.inode,
            });
          }
          data = block.subarray(SYMLINK_HEADER_BYTES, SYMLINK_HEADER_BYTES + bytes);
        } else {
          data = block.subarray(0, Math.min(bs, link.size - filled));
        }
        out.set(data, filled);
        filled += data.length;
      }
    }
    if (filled !== link.size) {
      throw new FilesystemCorruptError(
        `symlink inode ${link.inode}: blocks hold ${filled} of ${link.size} bytes`,
        {
          inode: link.inode,
        },
      );
    }
    return out;
  }

  // ----------------------------------------------------------------------------------- file data

  /** Where the file's data lives, in logical order; holes and unwritten extents are omitted. */
  async *extents(inode: number): AsyncGenerator<FileExtent> {
    const file = await this.loadInode(inode);
    for await (const extent of this.dataExtents(file, 0)) {
      if (!extent.unwritten)
        yield {
          logicalOffset: extent.logicalOffset,
          physicalOffset: extent.physicalOffset,
          length: extent.length,
        };
    }
  }

  /** Byte extents of a regular file (or directory) clipped to its size, unwritten ones flagged. */
  private async *dataExtents(
    file: XfsInode,
    fromOffset: number,
  ): AsyncGenerator<FileExtent & { readonly unwritten: boolean }> {
    if (file.type !== 'file' && file.type !== 'directory') return;
    if (file.flags & DIFLAG.REALTIME) {
      throw new UnsupportedFilesystemError(`inode ${file.inode}: data on the realtime device is not read`, {
        inode: file.inode,
      });
    }
    if (file.format === FORK_FORMAT.LOCAL) {
      if (file.size > file.forkBytes) {
        throw new FilesystemCorruptError(`inode ${file.inode}: local data longer than its fork`, {
          inode: file.inode,
        });
      }
      if (file.size > 0) {
        yield {
          logicalOffset: 0,
          physicalOffset: file.offset + file.forkOffset,
          length: file.size,
          unwritten: false,
        };
      }
      return;
    }
    const bs = this.blockSize;
    for await (const extent of mapExtents(this.mapContext(), file, Math.floor(fromOffset / bs))) {
      const logicalOffset = extent.logicalBlock * bs;
      if (logicalOffset >= file.size) break;
      const length = Math.min(extent.blockCount * bs, file.size - logicalOffset);
      yield { logicalOffset, physicalOffset: extent.physicalOffset, length, unwritten: extent.unwritten };
    }
  }

  async readFile(inode: number, offset = 0, length?: number): Promise<Uint8Array> {
    const file = await this.loadInode(inode);
    const wanted = clampRange(dataBytes(file), offset, length);
    checkReadBytes(wanted, this.limits.maxReadBytes, { inode });
    return joinPieces(this.pieces(file, offset, wanted, wanted), wanted);
  }

  async *readFileStream(inode: number, options: ReadStreamOptions = {}): AsyncGenerator<Uint8Array> {
    const file = await this.loadInode(inode);
    if (options.stream !== undefined) {
      throw new FileNotFoundInImageError(`XFS has no named data streams (asked for "${options.stream}")`, {
        inode,
      });
    }
    const offset = options.offset ?? 0;
    const total = clampRange(dataBytes(file), offset, options.length);
    yield* this.pieces(file, offset, total, Math.max(1, options.pieceBytes ?? STREAM_PIECE_BYTES));
  }

  /** The bytes [offset, offset+total) as pieces of at most `piece` bytes; holes and unwritten extents as zeros. */
  private async *pieces(
    file: XfsInode,
    offset: number,
    total: number,
    piece: number,
  ): AsyncGenerator<Uint8Array> {
    if (total === 0) return;
    yield* extentPieces(this.dataExtents(file, offset), offset, total, piece, (physicalOffset, length) =>
      this.readPhysical(file, physicalOffset, length),
    );
  }

  private async readPhysical(file: XfsInode, physicalOffset: number, length: number): Promise<Uint8Array> {
    checkOnDevice(file.inode, physicalOffset, length, this.reader.size);
    const inInode = physicalOffset - file.offset;
    if (inInode >= 0 && inInode + length <= file.raw.length) return file.raw.slice(inInode, length).slice();
    return this.cache.readUncached(physicalOffset, length);
  }

  // ---------------------------------------------------------------------------------------- walk

  /**
   * Depth-first walk from `root` (default "/"), yielding the start directory itself first. Memory
   * is bounded by the depth (one directory iterator per level) plus one number per directory seen
   * (to refuse a directory reached twice). Damage yields a WalkError and the walk goes on; reader
   * errors that may clear by themselves (retryable) end the walk by throwing.
   */
  walk(options: WalkOptions = {}): AsyncGenerator<WalkItem> {
    const budget = this.newBudget();
    return unixWalk<XfsInode>(
      {
        maxDirectoryDepth: this.limits.maxDirectoryDepth,
        rootInode: this.superblock.rootInode,
        rootName: (rootPath) => entryNameOf(decodeName(baseName(rootPath))),
        lookup: (path) => this.lookup(path),
        load: (inode) => this.loadInode(inode),
        child: (inode) => this.cachedInode(inode) ?? this.loadInode(inode),
        list: (dir) => this.dirItems(dir, budget),
        readTarget: this.readTarget,
      },
      options,
    );
  }
}

/** Bytes of the file's data: only regular files and directories have data that is read. */
function dataBytes(file: XfsInode): number {
  return file.type === 'file' || file.type === 'directory' ? file.size : 0;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export type { XfsExtent };
