/**
 * Read-only ext2/3/4 over a ByteRangeReader (a partition of a volume image). No mount, no kernel,
 * no native code: every structure is parsed here, with bounds on everything a hostile guest
 * controls (see limits.ts). Metadata goes through a page cache of large aligned reads; file data
 * is read directly, one request per contiguous extent.
 */
import { isRetryable } from '../../errors.ts';
import type { ByteRangeReader } from '../../ports.ts';
import { LeBytes, combineHiLo } from '../bytes.ts';
import { decodeName, isEscapedName } from '../name-encoding.ts';
import { PageCachedReader } from '../cached-reader.ts';
import type { PageCacheOptions, SlicedReader } from '../cached-reader.ts';
import { FilesystemCorruptError, FilesystemLimitError, UnsupportedFilesystemError } from '../errors.ts';
import { STREAM_PIECE_BYTES, checkSymlinkTarget } from '../filesystem.ts';
import { checkOnDevice, checkReadBytes, clampRange, extentPieces } from '../file-ranges.ts';
import { baseName, unixLookup, unixWalk } from '../depth-first-walk.ts';
import type {
  FileExtent,
  FilesystemReader,
  InodeStat,
  ReadStreamOptions,
  WalkEntry,
  WalkError,
  WalkItem,
  WalkOptions,
} from '../filesystem.ts';
import { detectFsTypeFromBytes } from '../fs-type.ts';
import { mapBlocks } from './block-map.ts';
import type { BlockRun, MapContext } from './block-map.ts';
import {
  dirBlockChecksumOk,
  dirBlockTail,
  groupDescriptorChecksumOk,
  inodeChecksumOk,
  inodeSeed,
} from './checksums.ts';
import { decodeRecLen, parseDirEntries } from './directory.ts';
import { JournalOverlayReader, scanJournal } from './journal.ts';
import type { JournalReplay } from './journal.ts';
import type { DirEntry, DirItem } from './directory.ts';
import {
  INODE_FLAGS,
  I_BLOCK_BYTES,
  I_BLOCK_OFFSET,
  ROOT_INODE,
  findInlineDataXattr,
  parseInode,
  toStat,
} from './inode.ts';
import type { Inode } from './inode.ts';
import {
  DEFAULT_EXT4_LIMITS,
  MAX_INLINE_DATA_BYTES,
  MAX_REMEMBERED_INODE_TABLES,
  MAX_SYMLINK_TARGET_BYTES,
  MAX_TRACKED_DIRECTORY_BLOCKS,
} from './limits.ts';
import type { Ext4Limits } from './limits.ts';
import {
  INCOMPAT,
  SUPERBLOCK_BYTES,
  SUPERBLOCK_OFFSET_BYTES,
  groupDescriptorOffset,
  has,
  parseSuperblock,
} from './superblock.ts';
import type { Superblock } from './superblock.ts';

export interface OpenExt4Options {
  readonly limits?: Partial<Ext4Limits>;
  /**
   * Verify metadata_csum checksums (superblock, group descriptors, inodes, directory and extent
   * blocks). Default true: a mismatch is a FilesystemCorruptError for that object.
   */
  readonly verifyChecksums?: boolean;
  /**
   * Read-ahead (default true): start fetching a directory's blocks and the inode-table pages its
   * entries point to in parallel, so that a walk over a high-latency reader (S3) is not one
   * request at a time.
   */
  readonly readAhead?: boolean;
  /**
   * Replay the jbd2 journal in memory when the image needs recovery (default true), so that the
   * filesystem reads as the kernel would see it after mounting. Nothing is written.
   */
  readonly replayJournal?: boolean;
  readonly cache?: PageCacheOptions;
}

export type { FileExtent, WalkEntry, WalkError, WalkItem, WalkOptions, ReadStreamOptions };
export { STREAM_PIECE_BYTES };

export async function openExt4(
  reader: ByteRangeReader,
  options: OpenExt4Options = {},
): Promise<Ext4Filesystem> {
  if (reader.size < SUPERBLOCK_OFFSET_BYTES + SUPERBLOCK_BYTES) {
    throw new FilesystemCorruptError(`a ${reader.size}-byte device cannot hold an ext superblock`);
  }
  const verify = options.verifyChecksums ?? true;
  const limits = { ...DEFAULT_EXT4_LIMITS, ...options.limits };
  const overlay = new JournalOverlayReader(reader);
  const open = async (replay?: JournalReplay): Promise<Ext4Filesystem> => {
    const cache = new PageCachedReader(overlay, options.cache);
    const head = await cache.read(0, SUPERBLOCK_OFFSET_BYTES + SUPERBLOCK_BYTES);
    const sb = parseSuperblock(head.subarray(SUPERBLOCK_OFFSET_BYTES), reader.size, verify);
    const fsType = detectFsTypeFromBytes(head);
    return new Ext4Filesystem(
      reader,
      cache,
      sb,
      fsType === 'ext2' || fsType === 'ext3' ? fsType : 'ext4',
      limits,
      verify && sb.metadataCsum,
      options.readAhead ?? true,
      replay,
    );
  };
  const fs = await open();
  if (!(options.replayJournal ?? true) || !fs.needsRecovery) return fs;
  let replay: JournalReplay;
  try {
    replay = await fs.scanJournal();
  } catch (error) {
    if (isRetryable(error)) throw error;
    fs.addWarning(
      `journal could not be replayed (${error instanceof Error ? error.message : String(error)})`,
    );
    return fs;
  }
  if (replay.blocks.size > 0) overlay.apply(replay, fs.blockSize);
  // A fresh cache: pages read while scanning may hold blocks that the journal replaces.
  return open(replay);
}

/** Shared across one walk: total directory blocks read may not exceed the blocks in the filesystem. */
interface WalkBudget {
  dirBlocksLeft: number;
  /** Physical directory blocks already read in this walk (up to MAX_TRACKED_DIRECTORY_BLOCKS). */
  readonly seenDirBlocks: Set<number>;
  /**
   * Read-ahead also fetches each subdirectory's first blocks. Off when the caller chooses which
   * subdirectories to descend into: a page fetched for each skipped one would be wasted.
   */
  prefetchSubdirectories: boolean;
}

export class Ext4Filesystem implements FilesystemReader {
  readonly label: string;
  readonly uuid: string;
  readonly blockSize: number;
  /** The journal needs replaying (the image is a crash-consistent copy); this reader does not replay it. */
  readonly needsRecovery: boolean;
  /** Byte offset of this filesystem within the whole disk image, when the reader is a slice of it. */
  readonly offsetInDisk: number;
  /** Warnings about the image that do not stop reading. */
  readonly warnings: string[];

  /** Inode-table block of each group whose descriptor was read and verified (inodeTableOf). */
  private readonly inodeTables = new Map<number, number>();

  constructor(
    private readonly reader: ByteRangeReader,
    /** Metadata cache; its pageMisses and bytesFetched are the read cost of what was done so far. */
    readonly cache: PageCachedReader,
    readonly superblock: Superblock,
    readonly fsType: 'ext2' | 'ext3' | 'ext4',
    readonly limits: Ext4Limits,
    /** Whether metadata checksums are verified (metadata_csum present and verification on). */
    readonly verifiesChecksums: boolean,
    private readonly readAhead: boolean,
    /** The journal replay applied under every read, when the image needed recovery. */
    readonly journalReplay?: JournalReplay,
  ) {
    this.label = superblock.label;
    this.uuid = superblock.uuid;
    this.blockSize = superblock.blockSize;
    // After a replay the superblock read back may be the journaled copy, without the flag.
    this.needsRecovery = has(superblock.featureIncompat, INCOMPAT.RECOVER) || journalReplay !== undefined;
    this.offsetInDisk = 'offsetInDisk' in reader ? (reader as SlicedReader).offsetInDisk : 0;
    const warnings: string[] = [];
    if (superblock.blocksCount * superblock.blockSize > reader.size) {
      warnings.push(
        `filesystem claims ${superblock.blocksCount * superblock.blockSize} bytes but the device has ${reader.size}`,
      );
    }
    if (this.needsRecovery && journalReplay !== undefined) {
      warnings.push(
        `journal replayed in memory: ${journalReplay.transactions} transactions, ${journalReplay.blocks.size} blocks`,
      );
    } else if (this.needsRecovery) {
      warnings.push('journal needs recovery and was not replayed: recently written metadata may be missing');
    }
    this.warnings = warnings;
  }

  /** @internal Used by openExt4 when the journal cannot be replayed. */
  addWarning(warning: string): void {
    this.warnings.push(warning);
  }

  /** @internal The blocks a replay of the journal would write (see journal.ts). */
  async scanJournal(): Promise<JournalReplay> {
    const inum = this.superblock.journalInode;
    if (inum === 0) throw new UnsupportedFilesystemError('the journal is external (journal_dev)');
    const journal = await this.loadInode(inum);
    const runs: BlockRun[] = [];
    for await (const run of mapBlocks(this.mapContext(journal), journal)) {
      if (runs.length >= this.limits.maxExtentsPerFile) {
        throw new FilesystemLimitError(`journal has more than ${this.limits.maxExtentsPerFile} extents`);
      }
      runs.push(run);
    }
    return scanJournal(this.cache, this.blockSize, runs, this.superblock.blocksCount);
  }

  // ------------------------------------------------------------------------------------- inodes

  async stat(inode: number): Promise<InodeStat> {
    return toStat(await this.loadInode(inode));
  }

  private async loadInode(number: number): Promise<Inode> {
    const cached = this.cachedInode(number);
    if (cached !== undefined) return cached;
    const sb = this.superblock;
    const group = this.groupOf(number);
    const table =
      this.inodeTables.get(group) ??
      this.inodeTableOf(number, group, await this.cache.read(groupDescriptorOffset(sb, group), sb.descSize));
    const offset = table * sb.blockSize + ((number - 1) % sb.inodesPerGroup) * sb.inodeSize;
    return this.parseInodeAt(number, offset, await this.cache.read(offset, sb.inodeSize));
  }

  /**
   * The inode, parsed and verified, when its group descriptor and inode-table page are already in
   * the cache; undefined when a read is needed. Damage throws, as loadInode's does.
   */
  private cachedInode(number: number): Inode | undefined {
    const sb = this.superblock;
    const group = this.groupOf(number);
    let table = this.inodeTables.get(group);
    if (table === undefined) {
      const descBytes = this.cache.peek(groupDescriptorOffset(sb, group), sb.descSize);
      if (descBytes === undefined) return undefined;
      table = this.inodeTableOf(number, group, descBytes);
    }
    const offset = table * sb.blockSize + ((number - 1) % sb.inodesPerGroup) * sb.inodeSize;
    const bytes = this.cache.peek(offset, sb.inodeSize);
    return bytes === undefined ? undefined : this.parseInodeAt(number, offset, bytes);
  }

  private groupOf(number: number): number {
    const sb = this.superblock;
    if (!Number.isInteger(number) || number < 1 || number > sb.inodesCount) {
      throw new FilesystemCorruptError(`inode number ${number} is outside 1..${sb.inodesCount}`, {
        inode: number,
      });
    }
    return Math.floor((number - 1) / sb.inodesPerGroup);
  }

  /**
   * The first block of a group's inode table from its descriptor, checked (checksum, range) and
   * then remembered, so that the descriptor is verified once per filesystem rather than per inode.
   */
  private inodeTableOf(number: number, group: number, descBytes: Uint8Array): number {
    const sb = this.superblock;
    if (this.verifiesChecksums && !groupDescriptorChecksumOk(sb.checksumSeed, group, descBytes)) {
      throw new FilesystemCorruptError(`block group ${group}: descriptor checksum mismatch`, {
        inode: number,
        group,
      });
    }
    const desc = new LeBytes(descBytes);
    const tableBlock = combineHiLo(sb.descSize >= 64 ? desc.u32(0x28) : 0, desc.u32(0x8));
    const tableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
    if (tableBlock < sb.firstDataBlock || tableBlock + tableBlocks > sb.blocksCount) {
      throw new FilesystemCorruptError(
        `block group ${group}: inode table at block ${tableBlock} is out of range`,
        {
          inode: number,
          group,
          tableBlock,
        },
      );
    }
    if (this.inodeTables.size < MAX_REMEMBERED_INODE_TABLES) this.inodeTables.set(group, tableBlock);
    return tableBlock;
  }

  private parseInodeAt(number: number, offset: number, bytes: Uint8Array): Inode {
    // `bytes` is a view of exactly this record in a cache page (pages are never written to): no
    // copy, which was an ArrayBuffer of its own per inode and a large share of a walk's garbage.
    // Everything below reads through the view's own offset and length.
    if (this.verifiesChecksums) {
      const extraIsize = bytes.length > 128 ? bytes[0x80]! | (bytes[0x81]! << 8) : 0;
      const generation =
        (bytes[0x64]! | (bytes[0x65]! << 8) | (bytes[0x66]! << 16) | (bytes[0x67]! << 24)) >>> 0;
      const seed = inodeSeed(this.superblock.checksumSeed, number, generation);
      if (!inodeChecksumOk(seed, bytes, extraIsize)) {
        throw new FilesystemCorruptError(`inode ${number}: checksum mismatch`, { inode: number });
      }
    }
    return parseInode(number, bytes, offset);
  }

  // --------------------------------------------------------------------------------- path lookup

  /** The inode number of `path` (absolute; symlinks are not followed, like lstat). */
  lookup(path: string): Promise<number> {
    return unixLookup(path, ROOT_INODE, this.limits.maxPathComponents, (dir) => this.readDir(dir));
  }

  // --------------------------------------------------------------------------------- directories

  /** Entries of a directory, without "." and "..". Throws on the first damaged block. */
  async *readDir(inode: number): AsyncGenerator<DirEntry> {
    const dir = await this.loadInode(inode);
    for await (const items of this.dirItems(dir, this.newBudget())) {
      for (const item of items) {
        if ('error' in item) throw item.error;
        yield item;
      }
    }
  }

  /** A directory's items, one block (or inline region) at a time. */
  private async *dirItems(
    dir: Inode,
    budget: WalkBudget,
    ahead?: Map<number, Inode | Promise<Inode>>,
  ): AsyncGenerator<readonly DirItem[]> {
    if (dir.type !== 'directory') {
      throw new FilesystemCorruptError(`inode ${dir.inode} is not a directory`, { inode: dir.inode });
    }
    this.refuseEncrypted(dir);
    const ctx = {
      dirInode: dir.inode,
      inodesCount: this.superblock.inodesCount,
      blockSize: this.blockSize,
      hasFileType: has(this.superblock.featureIncompat, INCOMPAT.FILETYPE),
    };
    if (dir.flags & INODE_FLAGS.INLINE_DATA) {
      // i_block starts with the parent's inode number, then dirents; more may follow in system.data.
      yield parseDirEntries(ctx, dir.raw.slice(I_BLOCK_OFFSET + 4, I_BLOCK_BYTES - 4), 'inline i_block');
      const xattr = findInlineDataXattr(dir);
      if (xattr !== undefined && xattr.length > 0) {
        yield parseDirEntries(ctx, dir.raw.slice(xattr.at, xattr.length), 'inline xattr');
      }
      return;
    }
    if (dir.size > this.limits.maxDirectoryBytes) {
      throw new FilesystemLimitError(
        `directory inode ${dir.inode} claims ${dir.size} bytes, above the ${this.limits.maxDirectoryBytes}-byte limit`,
        { inode: dir.inode, size: dir.size },
      );
    }
    const blocks = Math.ceil(dir.size / this.blockSize);
    for await (const run of mapBlocks(this.mapContext(dir), dir)) {
      const count = Math.min(run.blockCount, blocks - run.logicalBlock);
      if (count <= 0) break;
      if (ahead !== undefined)
        this.cache.prefetch(run.physicalBlock * this.blockSize, count * this.blockSize);
      for (let i = 0; i < count; i += 1) {
        const physical = run.physicalBlock + i;
        budget.dirBlocksLeft -= 1;
        if (budget.dirBlocksLeft < 0) {
          throw new FilesystemLimitError(
            `walk read more directory blocks than the device holds: blocks are shared between directories`,
            { inode: dir.inode },
          );
        }
        if (budget.seenDirBlocks.has(physical)) {
          throw new FilesystemCorruptError(
            `directory inode ${dir.inode}: block ${physical} also belongs to another directory (or twice to this one)`,
            { inode: dir.inode, block: physical },
          );
        }
        if (budget.seenDirBlocks.size < MAX_TRACKED_DIRECTORY_BLOCKS) budget.seenDirBlocks.add(physical);
        const logical = run.logicalBlock + i;
        // Parsed in the cache's page, not copied out: the entries keep copies of their names only.
        const items = await this.cache.readWith(physical * this.blockSize, this.blockSize, (block) => {
          const damage = this.verifiesChecksums ? this.dirBlockDamage(dir, logical, block) : undefined;
          return damage ?? parseDirEntries(ctx, block, `block ${logical}`);
        });
        if (!Array.isArray(items)) {
          yield [{ error: items }];
          continue;
        }
        if (ahead !== undefined) this.loadAhead(items, ahead, budget.prefetchSubdirectories);
        yield items;
      }
    }
  }

  /**
   * Read-ahead for a walk: starts loading every inode named in one directory block at once (their
   * inode-table pages are fetched in parallel), and for each subdirectory the first blocks its
   * in-inode extents or direct pointers name, before the walk gets to them. Inodes whose pages are
   * already cached are parsed at once (no promise each).
   */
  private loadAhead(
    items: readonly DirItem[],
    ahead: Map<number, Inode | Promise<Inode>>,
    prefetchSubdirectories: boolean,
  ): void {
    for (const item of items) {
      if ('error' in item || ahead.has(item.inode)) continue;
      let cached: Inode | undefined;
      try {
        cached = this.cachedInode(item.inode);
      } catch {
        continue; // the walk reports the error when it gets to this entry
      }
      if (cached !== undefined) {
        if (prefetchSubdirectories) this.prefetchDirectoryStart(cached);
        ahead.set(item.inode, cached);
        continue;
      }
      const loading = this.loadInode(item.inode);
      loading.then(
        (inode) => (prefetchSubdirectories ? this.prefetchDirectoryStart(inode) : undefined),
        () => undefined, // the walk reports the error when it gets to this entry
      );
      ahead.set(item.inode, loading);
    }
  }

  /**
   * Directory work of one walk (or readDir) is bounded by the device: at most as many directory
   * blocks as it holds, and a block read twice (shared between directories) is corruption.
   */
  private newBudget(): WalkBudget {
    const deviceBlocks = Math.floor(this.reader.size / this.blockSize);
    return {
      dirBlocksLeft: Math.min(this.superblock.blocksCount, deviceBlocks),
      seenDirBlocks: new Set(),
      prefetchSubdirectories: true,
    };
  }

  /** Read-ahead needs no correctness: anything odd in the inode just means no prefetch. */
  private prefetchDirectoryStart(inode: Inode): void {
    if (inode.type !== 'directory' || inode.flags & INODE_FLAGS.INLINE_DATA) return;
    const bs = this.blockSize;
    const blocks = Math.ceil(inode.size / bs);
    const raw = inode.raw;
    if (inode.flags & INODE_FLAGS.EXTENTS) {
      if (raw.u16(I_BLOCK_OFFSET) !== 0xf30a || raw.u16(I_BLOCK_OFFSET + 6) !== 0) return;
      const entries = Math.min(raw.u16(I_BLOCK_OFFSET + 2), 4);
      for (let i = 0; i < entries; i += 1) {
        const at = I_BLOCK_OFFSET + 12 + i * 12;
        const length = Math.min(raw.u16(at + 4), blocks);
        const start = raw.u16(at + 6) * 0x1_0000_0000 + raw.u32(at + 8);
        if (length > 0 && length <= 32768) this.cache.prefetch(start * bs, length * bs);
      }
    } else if (blocks > 0) {
      this.cache.prefetch(raw.u32(I_BLOCK_OFFSET) * bs, bs);
    }
  }

  /** A leaf block must end in a checksum tail that matches; htree index blocks are not leaves. */
  private dirBlockDamage(dir: Inode, logical: number, block: Uint8Array): FilesystemCorruptError | undefined {
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    const isIndexBlock =
      (dir.flags & INODE_FLAGS.INDEX) !== 0 &&
      (logical === 0 ||
        (view.getUint32(0, true) === 0 &&
          decodeRecLen(view.getUint16(4, true), this.blockSize) === this.blockSize));
    if (isIndexBlock) return undefined;
    const stored = dirBlockTail(block);
    if (stored !== undefined && dirBlockChecksumOk(this.seedOf(dir), block, stored)) return undefined;
    return new FilesystemCorruptError(
      `directory inode ${dir.inode}, block ${logical}: ${stored === undefined ? 'no checksum tail' : 'checksum mismatch'}`,
      { inode: dir.inode, block: logical },
    );
  }

  private refuseEncrypted(inode: Inode): void {
    if (inode.flags & INODE_FLAGS.ENCRYPT) {
      throw new UnsupportedFilesystemError(
        `inode ${inode.inode} is encrypted (fscrypt); its contents cannot be read`,
        {
          inode: inode.inode,
        },
      );
    }
  }

  private mapContext(inode: Inode): MapContext {
    return {
      sb: this.superblock,
      reader: this.cache,
      ...(this.verifiesChecksums ? { checksumSeed: this.seedOf(inode) } : {}),
    };
  }

  private seedOf(inode: Inode): number {
    return inodeSeed(this.superblock.checksumSeed, inode.inode, inode.generation);
  }

  // ------------------------------------------------------------------------------------ symlinks

  /** The raw target of a symbolic link. */
  async readLink(inode: number): Promise<Uint8Array> {
    return this.symlinkTarget(await this.loadInode(inode));
  }

  /** symlinkTarget for the shared walk helpers (depth-first-walk.ts). */
  private readonly readTarget = (link: Inode): Promise<Uint8Array> => this.symlinkTarget(link);

  private async symlinkTarget(link: Inode): Promise<Uint8Array> {
    checkSymlinkTarget(link, MAX_SYMLINK_TARGET_BYTES);
    // Fast symlinks (target in i_block), inline data and slow symlinks all map through inodeExtents.
    return this.readInode(link, 0, link.size);
  }

  /** The kernel's rule (ext4_inode_is_fast_symlink): no data blocks besides an xattr block. */
  private isFastSymlink(link: Inode): boolean {
    const blocks512 = link.raw.u32(0x1c);
    const xattrBlock = link.raw.u32(0x68) !== 0 || link.raw.u16(0x76) !== 0;
    const xattrBlocks512 = xattrBlock ? this.blockSize / 512 : 0;
    return blocks512 - xattrBlocks512 === 0;
  }

  // ----------------------------------------------------------------------------------- file data

  /** Where the file's data lives, in logical order; holes and unwritten extents are omitted. */
  async fileExtents(inode: number): Promise<FileExtent[]> {
    const out: FileExtent[] = [];
    for await (const extent of this.extents(inode)) {
      if (out.length >= this.limits.maxExtentsPerFile) {
        throw new FilesystemLimitError(
          `inode ${inode} has more than ${this.limits.maxExtentsPerFile} extents`,
          {
            inode,
          },
        );
      }
      out.push(extent);
    }
    return out;
  }

  /** Streaming form of fileExtents(). */
  async *extents(inode: number): AsyncGenerator<FileExtent> {
    const file = await this.loadInode(inode);
    yield* this.inodeExtents(file, 0);
  }

  private async *inodeExtents(file: Inode, fromOffset: number): AsyncGenerator<FileExtent> {
    if (file.type !== 'file' && file.type !== 'directory' && file.type !== 'symlink') return;
    this.refuseEncrypted(file);
    if (file.flags & INODE_FLAGS.INLINE_DATA || (file.type === 'symlink' && this.isFastSymlink(file))) {
      yield* this.inlineExtents(file);
      return;
    }
    const bs = this.blockSize;
    for await (const run of mapBlocks(this.mapContext(file), file, Math.floor(fromOffset / bs))) {
      const logicalOffset = run.logicalBlock * bs;
      if (logicalOffset >= file.size) break;
      const length = Math.min(run.blockCount * bs, file.size - logicalOffset);
      yield { logicalOffset, physicalOffset: run.physicalBlock * bs, length };
    }
  }

  private *inlineExtents(file: Inode): Generator<FileExtent> {
    if (file.size === 0) return;
    const inBlock = Math.min(file.size, I_BLOCK_BYTES);
    yield { logicalOffset: 0, physicalOffset: file.offset + I_BLOCK_OFFSET, length: inBlock };
    if (file.size <= I_BLOCK_BYTES) return;
    const xattr = file.flags & INODE_FLAGS.INLINE_DATA ? findInlineDataXattr(file) : undefined;
    const rest = file.size - I_BLOCK_BYTES;
    if (xattr === undefined || xattr.length < rest || rest > MAX_INLINE_DATA_BYTES) {
      throw new FilesystemCorruptError(
        `inode ${file.inode}: inline data is shorter than the ${file.size}-byte size`,
        {
          inode: file.inode,
          size: file.size,
        },
      );
    }
    yield { logicalOffset: I_BLOCK_BYTES, physicalOffset: file.offset + xattr.at, length: rest };
  }

  /** Bytes [offset, offset+length) of the file (default: to the end); holes read as zeros. */
  async readFile(inode: number, offset = 0, length?: number): Promise<Uint8Array> {
    return this.readInode(await this.loadInode(inode), offset, length);
  }

  private async readInode(file: Inode, offset: number, length?: number): Promise<Uint8Array> {
    const wanted = clampRange(file.size, offset, length);
    checkReadBytes(wanted, this.limits.maxReadBytes, { inode: file.inode });
    const out = new Uint8Array(wanted);
    if (wanted === 0) return out;
    const end = offset + wanted;
    for await (const extent of this.inodeExtents(file, offset)) {
      if (extent.logicalOffset >= end) break;
      const from = Math.max(offset, extent.logicalOffset);
      const to = Math.min(end, extent.logicalOffset + extent.length);
      if (to <= from) continue;
      const data = await this.readPhysical(
        file,
        extent.physicalOffset + (from - extent.logicalOffset),
        to - from,
      );
      out.set(data, from - offset);
    }
    return out;
  }

  /** The file's bytes as a sequence of pieces (holes as zero-filled pieces), for files of any size. */
  async *readFileStream(inode: number, options: ReadStreamOptions = {}): AsyncGenerator<Uint8Array> {
    const file = await this.loadInode(inode);
    const offset = options.offset ?? 0;
    const total = clampRange(file.size, offset, options.length);
    yield* extentPieces(
      this.inodeExtents(file, offset),
      offset,
      total,
      Math.max(1, options.pieceBytes ?? STREAM_PIECE_BYTES),
      (physicalOffset, length) => this.readPhysical(file, physicalOffset, length),
    );
  }

  private async readPhysical(file: Inode, physicalOffset: number, length: number): Promise<Uint8Array> {
    checkOnDevice(file.inode, physicalOffset, length, this.reader.size);
    const inInode = physicalOffset - file.offset;
    if (inInode >= 0 && inInode + length <= file.raw.length) {
      return file.raw.slice(inInode, length); // inline data and fast symlinks: already read with the inode
    }
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
    budget.prefetchSubdirectories = options.descend === undefined;
    // Inodes being loaded ahead of the walk (read-ahead); each is taken out when its entry is reached.
    const ahead = this.readAhead ? new Map<number, Inode | Promise<Inode>>() : undefined;
    return unixWalk<Inode>(
      {
        maxDirectoryDepth: this.limits.maxDirectoryDepth,
        rootInode: ROOT_INODE,
        rootName: (rootPath) => {
          const rootName = baseName(rootPath);
          return { name: rootName, nameBytes: decodeName(rootName), nameIsUtf8: !isEscapedName(rootName) };
        },
        lookup: (path) => this.lookup(path),
        load: (inode) => this.loadInode(inode),
        child: (inode) => {
          const loading = ahead?.get(inode);
          ahead?.delete(inode);
          return loading ?? this.cachedInode(inode) ?? this.loadInode(inode);
        },
        list: (dir) => this.dirItems(dir, budget, ahead),
        readTarget: this.readTarget,
      },
      options,
    );
  }
}

export type { BlockRun };
