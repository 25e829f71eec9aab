/**
 * What FAT12/16/32 and exFAT share: a directory tree of 32-byte entries over cluster chains, files
 * as chains (or, on exFAT, contiguous runs), no Unix metadata. The two variants differ only in how a
 * directory's entries are parsed and how an inode number leads back to its entry; the walk, lookup
 * and data reading live here.
 *
 * Neither filesystem has inode numbers: an entry's number is derived from the byte position of its
 * directory entry (see each variant), so it is stable for as long as the entry does not move.
 */
import type { PageCacheOptions, PageCachedReader } from '../cached-reader.ts';
import type { SlicedReader } from '../cached-reader.ts';
import { FileNotFoundInImageError, FilesystemCorruptError, FilesystemLimitError } from '../errors.ts';
import {
  STREAM_PIECE_BYTES,
  WINDOWS_ATTRIBUTES,
  normalizeImagePath,
  synthesizedPermissions,
  walkError,
} from '../filesystem.ts';
import { checkOnDevice, checkReadBytes, clampRange, joinPieces, streamFileRange } from '../file-ranges.ts';
import { baseName, childPath, walkDepthFirst, type DepthFirstSource } from '../depth-first-walk.ts';
import type {
  FileExtent,
  FilesystemReader,
  InodeStat,
  ReadStreamOptions,
  Timestamp,
  WalkItem,
  WalkOptions,
} from '../filesystem.ts';
import type { ByteRangeReader } from '../../ports.ts';
import type { FatGeometry } from './boot.ts';
import type { FatTable } from './chains.ts';
import type { FatLimits } from './limits.ts';

/** How a FAT or exFAT volume is opened: limits over DEFAULT_FAT_LIMITS, and the page cache's settings. */
export interface OpenFatFamilyOptions {
  readonly limits?: Partial<FatLimits>;
  readonly cache?: PageCacheOptions;
}

/** The synthesized inode number of the root directory (it has no directory entry). */
export const ROOT_INODE = 2;
/** Both FAT and exFAT directories are arrays of 32-byte entries. */
export const ENTRY_BYTES = 32;
/**
 * The attribute bits FAT's DIR_Attr and exFAT's FileAttributes share: read-only 0x01, hidden 0x02,
 * system 0x04, directory 0x10, archive 0x20. ATTR_FILE_BITS are the ones stored per file.
 */
export const ATTR_DIRECTORY = 0x10;
export const ATTR_FILE_BITS = 0x27;
/** Directory bytes read at once while listing: large enough for few requests, small enough to stream. */
export const DIRECTORY_READ_BYTES = 65_536;

/** One file or directory, parsed from its directory entry (or entry set). */
export interface FatNode {
  readonly inode: number;
  readonly type: 'file' | 'directory';
  /** Bytes of data (a FAT directory: 0, as stored). */
  readonly size: number;
  readonly attributes: number;
  readonly mtime: Timestamp;
  readonly atime: Timestamp;
  readonly crtime: Timestamp;
  readonly shortName?: string;
  /** 0 when no cluster is allocated. */
  readonly firstCluster: number;
  /** exFAT NoFatChain: the data is `ceil(size / cluster)` consecutive clusters; the FAT is not used. */
  readonly contiguous: boolean;
  /** exFAT ValidDataLength: bytes past it read as zeros. FAT: the size. */
  readonly validLength: number;
  /** FAT12/16 root directory: the byte offset of the fixed region after the FATs (`size` bytes). */
  readonly fixedRegion?: number;
}

export interface DirChild {
  readonly name: string;
  readonly node: FatNode;
}

/** A directory listing yields children, or damage confined to one entry (the listing goes on). */
export type DirItem = DirChild | { readonly error: Error };

/** A piece of a directory's bytes and where it lies in the volume. */
export interface DirChunk {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** What a timestamp that is absent or impossible reads as. */
export const EPOCH: Timestamp = { seconds: 0, nanoseconds: 0 };

/**
 * A DOS date and time as seconds since the epoch, taking the local wall-clock time as if it were
 * UTC (FAT stores no time zone). An impossible date (month or day 0) is the epoch.
 */
export function dosTimestamp(date: number, time: number, hundredths = 0, utcOffsetMinutes = 0): Timestamp {
  const day = date & 31;
  const month = (date >>> 5) & 15;
  const year = 1980 + (date >>> 9);
  if (day === 0 || month === 0 || month > 12) return EPOCH;
  const seconds =
    Date.UTC(year, month - 1, day, time >>> 11, (time >>> 5) & 63, (time & 31) * 2) / 1000 +
    Math.floor(Math.min(hundredths, 199) / 100) -
    utcOffsetMinutes * 60;
  return { seconds, nanoseconds: (Math.min(hundredths, 199) % 100) * 10_000_000 };
}

export abstract class FatFamilyFilesystem implements FilesystemReader {
  abstract readonly fsType: 'vfat' | 'exfat';
  abstract readonly label: string;
  abstract readonly uuid: string;
  readonly warnings: string[] = [];
  /** Byte offset of this filesystem within the whole disk image, when the reader is a slice of it. */
  readonly offsetInDisk: number;

  protected constructor(
    protected readonly reader: ByteRangeReader,
    /** Metadata cache; its pageMisses and bytesFetched are the read cost so far. */
    readonly cache: PageCachedReader,
    readonly geometry: FatGeometry,
    protected readonly fat: FatTable,
    readonly limits: FatLimits,
  ) {
    this.offsetInDisk = 'offsetInDisk' in reader ? (reader as SlicedReader).offsetInDisk : 0;
    if (geometry.volumeBytes > reader.size) {
      this.warnings.push(`filesystem claims ${geometry.volumeBytes} bytes but the device has ${reader.size}`);
    }
  }

  /** The root directory. */
  protected abstract rootNode(): FatNode;
  /** The node whose entry the inode number points at. */
  protected abstract loadNode(inode: number): Promise<FatNode>;
  /** The children of a directory, in on-disk order, without "." and "..". */
  protected abstract listDirectory(dir: FatNode): AsyncGenerator<DirItem>;
  /** Names that match in lookup (case-insensitive, as the filesystem compares them). */
  protected abstract foldName(name: string): string;

  // ----------------------------------------------------------------------------------- metadata

  protected async node(inode: number): Promise<FatNode> {
    if (inode === ROOT_INODE) return this.rootNode();
    return this.loadNode(inode);
  }

  async stat(inode: number): Promise<InodeStat> {
    return statOf(await this.node(inode));
  }

  async lookup(path: string): Promise<number> {
    const parts = normalizeImagePath(path)
      .split('/')
      .filter((p) => p !== '');
    if (parts.length > this.limits.maxPathComponents) {
      throw new FilesystemLimitError(`path has more than ${this.limits.maxPathComponents} components`, {
        path,
      });
    }
    let current = this.rootNode();
    for (const part of parts) {
      if (current.type !== 'directory') {
        throw new FileNotFoundInImageError(`${path}: a component is not a directory`, { path });
      }
      const folded = this.foldName(part);
      let exact: FatNode | undefined;
      let folding: FatNode | undefined;
      for await (const item of this.listDirectory(current)) {
        if ('error' in item) continue;
        if (item.name === part) {
          exact = item.node;
          break;
        }
        if (
          folding === undefined &&
          (this.foldName(item.name) === folded ||
            (item.node.shortName !== undefined && this.foldName(item.node.shortName) === folded))
        ) {
          folding = item.node;
        }
      }
      const found = exact ?? folding;
      if (found === undefined) throw new FileNotFoundInImageError(`${path} does not exist`, { path });
      current = found;
    }
    return current.inode;
  }

  readLink(inode: number): Promise<Uint8Array> {
    return Promise.reject(
      new FilesystemCorruptError(`${this.fsType} has no symbolic links (inode ${inode})`, { inode }),
    );
  }

  // ---------------------------------------------------------------------------------- file data

  /** The clusters holding `node`'s data, as runs of bytes [logical, logical+length) at `physical`. */
  protected async *dataRuns(node: FatNode, bytes: number): AsyncGenerator<FileExtent> {
    const cb = this.geometry.clusterBytes;
    if (node.fixedRegion !== undefined) throw new FilesystemCorruptError('the FAT12/16 root has no clusters');
    if (bytes === 0 || node.firstCluster === 0) {
      if (bytes > 0) {
        throw new FilesystemCorruptError(`inode ${node.inode}: ${bytes} bytes but no cluster`, {
          inode: node.inode,
        });
      }
      return;
    }
    const clusters = Math.ceil(bytes / cb);
    if (clusters > this.geometry.clusterCount) {
      throw new FilesystemCorruptError(`inode ${node.inode}: size ${bytes} exceeds the volume`, {
        inode: node.inode,
      });
    }
    const owner = `inode ${node.inode}`;
    if (node.contiguous) {
      if (
        !this.fat.isValidCluster(node.firstCluster) ||
        !this.fat.isValidCluster(node.firstCluster + clusters - 1)
      ) {
        throw new FilesystemCorruptError(
          `${owner}: contiguous clusters ${node.firstCluster}+${clusters} leave the heap`,
          {
            inode: node.inode,
          },
        );
      }
      yield { logicalOffset: 0, physicalOffset: this.fat.clusterOffset(node.firstCluster), length: bytes };
      return;
    }
    let logical = 0;
    for await (const run of this.fat.runs(node.firstCluster, clusters, true, owner)) {
      const length = Math.min(run.count * cb, bytes - logical);
      yield { logicalOffset: logical, physicalOffset: this.fat.clusterOffset(run.first), length };
      logical += length;
    }
  }

  /** A directory's bytes in pieces: FAT chain until its end mark (bounded), or the fixed root region. */
  protected async *directoryChunks(dir: FatNode, maxBytes: number): AsyncGenerator<DirChunk> {
    if (dir.fixedRegion !== undefined) {
      yield* this.chunksOf({ logicalOffset: 0, physicalOffset: dir.fixedRegion, length: dir.size });
      return;
    }
    if (dir.firstCluster === 0) return;
    const cb = this.geometry.clusterBytes;
    const maxClusters = Math.max(1, Math.floor(Math.min(maxBytes, this.limits.maxDirectoryBytes) / cb));
    if (dir.contiguous || dir.size > 0) {
      // exFAT: DataLength is known; FAT directories store 0 and run to the end-of-chain mark.
      if (dir.size > this.limits.maxDirectoryBytes) {
        throw new FilesystemLimitError(
          `directory inode ${dir.inode} is larger than ${this.limits.maxDirectoryBytes} bytes`,
          {
            inode: dir.inode,
            size: dir.size,
          },
        );
      }
      for await (const run of this.dataRuns(dir, dir.size)) yield* this.chunksOf(run);
      return;
    }
    for await (const run of this.fat.runs(
      dir.firstCluster,
      maxClusters,
      false,
      `directory inode ${dir.inode}`,
    )) {
      yield* this.chunksOf({
        logicalOffset: 0,
        physicalOffset: this.fat.clusterOffset(run.first),
        length: run.count * cb,
      });
    }
  }

  private async *chunksOf(run: FileExtent): AsyncGenerator<DirChunk> {
    if (run.physicalOffset + run.length > this.reader.size) {
      throw new FilesystemCorruptError(
        `directory data at byte ${run.physicalOffset} lies past the device end`,
        {
          physicalOffset: run.physicalOffset,
        },
      );
    }
    for (let done = 0; done < run.length; done += DIRECTORY_READ_BYTES) {
      const offset = run.physicalOffset + done;
      const length = Math.min(DIRECTORY_READ_BYTES, run.length - done);
      if (done + length < run.length)
        this.cache.prefetch(offset + length, Math.min(DIRECTORY_READ_BYTES, run.length - done - length));
      yield { offset, bytes: await this.cache.read(offset, length) };
    }
  }

  async *extents(inode: number): AsyncGenerator<FileExtent> {
    const node = await this.node(inode);
    if (node.type !== 'file') return;
    yield* this.fileExtents(node);
  }

  /** The file's extents, cut at ValidDataLength (the rest reads as zeros, like a hole). */
  private async *fileExtents(node: FatNode): AsyncGenerator<FileExtent> {
    const valid = Math.min(node.validLength, node.size);
    for await (const run of this.dataRuns(node, node.size)) {
      if (run.logicalOffset >= valid) break;
      yield { ...run, length: Math.min(run.length, valid - run.logicalOffset) };
    }
  }

  async readFile(inode: number, offset = 0, length?: number): Promise<Uint8Array> {
    const node = await this.node(inode);
    const wanted = clampRange(node.size, offset, length);
    checkReadBytes(wanted, this.limits.maxReadBytes, { inode });
    return joinPieces(
      this.readFileStream(inode, { offset, length: wanted, pieceBytes: STREAM_PIECE_BYTES }),
      wanted,
    );
  }

  async *readFileStream(inode: number, options: ReadStreamOptions = {}): AsyncGenerator<Uint8Array> {
    if (options.stream !== undefined) {
      throw new FileNotFoundInImageError(`${this.fsType} has no alternate data streams (${options.stream})`, {
        inode,
        stream: options.stream,
      });
    }
    const node = await this.node(inode);
    if (node.type !== 'file') {
      throw new FilesystemCorruptError(`inode ${inode} is not a regular file`, { inode });
    }
    yield* streamFileRange(
      node.size,
      options,
      () => this.fileExtents(node),
      (physicalOffset, length) => this.readPhysical(node, physicalOffset, length),
    );
  }

  private async readPhysical(node: FatNode, physicalOffset: number, length: number): Promise<Uint8Array> {
    checkOnDevice(node.inode, physicalOffset, length, this.reader.size);
    return this.cache.readUncached(physicalOffset, length);
  }

  // --------------------------------------------------------------------------------------- walk

  /**
   * Depth-first walk from `root` (default "/"), the start directory first. Memory is bounded by
   * the depth (one listing per level) plus one number per directory (to refuse a directory reached
   * twice through a crafted cluster).
   */
  async *walk(options: WalkOptions = {}): AsyncGenerator<WalkItem> {
    const rootPath = normalizeImagePath(options.root ?? '/');
    let start: FatNode;
    try {
      start = rootPath === '/' ? this.rootNode() : await this.node(await this.lookup(rootPath));
    } catch (error) {
      yield walkError(rootPath, undefined, error);
      return;
    }
    yield entryOf(start, rootPath, baseName(rootPath), 0, 0);
    if (start.type !== 'directory') return;
    const source: DepthFirstSource<FatNode, DirItem> = {
      maxDirectoryDepth: this.limits.maxDirectoryDepth,
      list: (dir) => this.listDirectory(dir),
      visit: (item, parent, out) => {
        if ('error' in item) {
          out.push(walkError(parent.path, parent.inode, item.error));
          return undefined;
        }
        const { name, node } = item;
        out.push(entryOf(node, childPath(parent.path, name), name, parent.inode, parent.depth + 1));
        return node.type === 'directory' && node.firstCluster !== 0 ? node : undefined;
      },
      descent: (node) => ({
        key: node.firstCluster,
        inode: node.inode,
        context: { inode: node.inode },
        reachedTwice: {
          message: `directory at cluster ${node.firstCluster} is reachable twice (a loop)`,
          context: { inode: node.inode, cluster: node.firstCluster },
        },
      }),
    };
    yield* walkDepthFirst(source, start, { path: rootPath, inode: start.inode, key: start.firstCluster });
  }
}

export function statOf(node: FatNode): InodeStat {
  const attributes = node.attributes | (node.type === 'directory' ? WINDOWS_ATTRIBUTES.DIRECTORY : 0);
  return {
    inode: node.inode,
    type: node.type,
    ...synthesizedPermissions(node.type, attributes),
    uid: 0,
    gid: 0,
    size: node.size,
    nlink: 1,
    flags: 0,
    atime: node.atime,
    mtime: node.mtime,
    ctime: node.mtime,
    crtime: node.crtime,
    generation: 0,
    windowsAttributes: attributes,
    ...(node.shortName === undefined ? {} : { shortName: node.shortName }),
  };
}

const ENCODER = new TextEncoder();

function entryOf(node: FatNode, path: string, name: string, parentInode: number, depth: number): WalkItem {
  return {
    kind: 'entry',
    ...statOf(node),
    path,
    name,
    nameBytes: ENCODER.encode(name),
    nameIsUtf8: true,
    parentInode,
    depth,
  };
}
