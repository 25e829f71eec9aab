/**
 * The one interface every filesystem reader implements (ext2/3/4, XFS, NTFS, FAT12/16/32, exFAT),
 * and the types it speaks. The catalog and file restore see only `FilesystemReader`: they never
 * import a reader's own module. A reader is opened on a ByteRangeReader holding exactly the
 * filesystem (a partition or a logical volume) and never writes.
 *
 * Inode numbers are the filesystem's own where it has them (ext inode, XFS inode number, NTFS MFT
 * record number); FAT and exFAT have none and synthesize a stable number from the position of the
 * directory entry. Filesystems without Unix modes or owners synthesize them (see
 * `synthesizedPermissions`): directories 0o755, files 0o644 (0o444 when read-only), uid/gid 0.
 */
import { isRetryable, type ErrorContext } from '../errors.ts';
import { FilesystemCorruptError, FilesystemLimitError } from './errors.ts';

/** Filesystems that have a reader. */
export type ReadableFsType = 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'ntfs' | 'vfat' | 'exfat';

export type FileType = 'file' | 'directory' | 'symlink' | 'char-device' | 'block-device' | 'fifo' | 'socket';

/** Seconds since the epoch (may be negative or beyond 2038) and nanoseconds when the filesystem stores them. */
export interface Timestamp {
  readonly seconds: number;
  readonly nanoseconds: number;
}

/** An NTFS alternate data stream (a named $DATA attribute), restorable as `path:name`. */
export interface DataStream {
  readonly name: string;
  readonly size: number;
}

export interface InodeStat {
  readonly inode: number;
  readonly type: FileType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777); synthesized where the filesystem has none. */
  readonly permissions: number;
  /** The full st_mode (type bits and permissions). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  /** The filesystem's own per-file flags word (ext i_flags, XFS di_flags); 0 where there is none. */
  readonly flags: number;
  readonly atime: Timestamp;
  readonly mtime: Timestamp;
  /** Inode change time; where the filesystem has none, the modification time. */
  readonly ctime: Timestamp;
  /** Creation time, where the filesystem keeps one. */
  readonly crtime?: Timestamp;
  /** Major/minor for character and block devices. */
  readonly device?: { readonly major: number; readonly minor: number };
  /** The inode generation; 0 where the filesystem has none. */
  readonly generation: number;
  /** Windows FILE_ATTRIBUTE_* bits (NTFS, FAT, exFAT); see WINDOWS_ATTRIBUTES. */
  readonly windowsAttributes?: number;
  /** The DOS 8.3 alias of a long name (NTFS DOS namespace, FAT short entry), when it differs. */
  readonly shortName?: string;
  /** NTFS alternate data streams of this file (not the unnamed main stream). */
  readonly streams?: readonly DataStream[];
  /** The reparse tag of an NTFS reparse point: recorded, never followed. */
  readonly reparseTag?: number;
  /** EFS-encrypted: listed, but its bytes cannot be restored. */
  readonly encrypted?: boolean;
  /**
   * false when the file's data is not stored as plain extents (NTFS resident or compressed data):
   * `extents()` does not describe it and it must be read with `readFileStream`. Absent: plain.
   */
  readonly plainExtents?: boolean;
}

/** An InodeStat being filled in (copyUnixStat): its fields writable. */
export type InodeStatFields = { -readonly [K in keyof InodeStat]: InodeStat[K] };

/**
 * Copies the InodeStat fields of a Unix inode record (ext, XFS) that carries more (raw bytes,
 * offsets) onto `view`, field by field: a rest pattern or a spread is several times slower, and a
 * walk does this per entry. An absent creation time or device is left out, not set to undefined.
 * Windows fields are not copied; those readers build their stats themselves.
 */
export function copyUnixStat(view: InodeStatFields, inode: InodeStat): void {
  view.inode = inode.inode;
  view.type = inode.type;
  view.permissions = inode.permissions;
  view.mode = inode.mode;
  view.uid = inode.uid;
  view.gid = inode.gid;
  view.size = inode.size;
  view.nlink = inode.nlink;
  view.flags = inode.flags;
  view.atime = inode.atime;
  view.ctime = inode.ctime;
  view.mtime = inode.mtime;
  if (inode.crtime !== undefined) view.crtime = inode.crtime;
  if (inode.device !== undefined) view.device = inode.device;
  view.generation = inode.generation;
}

// The stat as an instance whose constructor fills it in, not an object literal: copyUnixStat then
// serves it and the walk's entries (UnixWalkEntry in depth-first-walk.ts), and V8 sizes a class's
// instances to the fields its constructor writes, so each is one object with its fields inside.
// The interface gives the class the fields the constructor sets.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type -- see above
interface UnixStat extends InodeStatFields {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see above
class UnixStat {
  constructor(inode: InodeStat) {
    copyUnixStat(this, inode);
  }
}

/** The InodeStat of a Unix inode record (copyUnixStat's fields). */
export function unixStat(inode: InodeStat): InodeStat {
  return new UnixStat(inode);
}

/**
 * Refuses an inode that cannot hold a symbolic link's target (ext and XFS alike): not a symlink,
 * or a target length of 0 or above the filesystem's limit (`maxBytes`).
 */
export function checkSymlinkTarget(
  link: { readonly inode: number; readonly type: FileType; readonly size: number },
  maxBytes: number,
): void {
  if (link.type !== 'symlink') {
    throw new FilesystemCorruptError(`inode ${link.inode} is not a symbolic link`, { inode: link.inode });
  }
  if (link.size > maxBytes || link.size === 0) {
    throw new FilesystemCorruptError(
      `symlink inode ${link.inode} has an invalid target length ${link.size}`,
      {
        inode: link.inode,
        size: link.size,
      },
    );
  }
}

/** A contiguous piece of a file's data: `physicalOffset` is a byte offset in the reader the filesystem was opened on. */
export interface FileExtent {
  readonly logicalOffset: number;
  readonly physicalOffset: number;
  readonly length: number;
}

export interface WalkEntry extends InodeStat {
  readonly kind: 'entry';
  /** Absolute path from the filesystem root, names decoded as UTF-8 (lossy; see nameBytes). */
  readonly path: string;
  readonly name: string;
  /** The name as stored (ext, XFS) or its UTF-8 encoding (NTFS, FAT, exFAT store UTF-16). */
  readonly nameBytes: Uint8Array;
  readonly nameIsUtf8: boolean;
  readonly parentInode: number;
  /** 0 for the starting directory itself. */
  readonly depth: number;
  readonly symlinkTarget?: string;
  readonly symlinkTargetBytes?: Uint8Array;
}

export interface WalkError {
  readonly kind: 'error';
  /** The file or directory the error belongs to (for a damaged directory block: the directory). */
  readonly path: string;
  readonly inode?: number;
  readonly error: Error;
}

export type WalkItem = WalkEntry | WalkError;

export interface WalkOptions {
  /** Directory to start from (default "/"). */
  readonly root?: string;
  /**
   * The inode number of `root` when the caller already knows it: the walk starts there without
   * resolving the path (which reads every directory on it). Readers may ignore it.
   */
  readonly rootInode?: number;
  /**
   * Asked for each subdirectory after it has been yielded; false: its entries are not walked (the
   * incremental catalog skips subtrees whose bytes did not change). Readers that do not support it
   * walk everything, which callers must accept.
   */
  readonly descend?: (directory: WalkEntry) => boolean | Promise<boolean>;
}

export interface ReadStreamOptions {
  readonly offset?: number;
  readonly length?: number;
  /** Largest piece yielded (default STREAM_PIECE_BYTES). */
  readonly pieceBytes?: number;
  /** An NTFS alternate data stream's name; absent: the main (unnamed) data. */
  readonly stream?: string;
}

/** Default piece size of readFileStream: one image chunk. */
export const STREAM_PIECE_BYTES = 1_048_576;

export interface FilesystemReader {
  readonly fsType: ReadableFsType;
  readonly label: string;
  /** The filesystem's UUID or serial number as text; '' when it has none. */
  readonly uuid: string;
  /** Warnings about the image that do not stop reading (journal not replayed, size mismatch). */
  readonly warnings: readonly string[];
  /**
   * Depth-first walk from `root` (default "/"): the start directory itself first (depth 0), each
   * directory before its children. Damage yields a WalkError for that file or directory and the walk
   * goes on; retryable reader errors (S3, throttling) end the walk by throwing, unwrapped.
   */
  walk(options?: WalkOptions): AsyncGenerator<WalkItem>;
  /** The inode number of an absolute path; FileNotFoundInImageError when it does not exist. */
  lookup(path: string): Promise<number>;
  stat(inode: number): Promise<InodeStat>;
  /** The raw target of a symbolic link. */
  readLink(inode: number): Promise<Uint8Array>;
  /**
   * Where a file's data lives, in logical order; holes and unwritten extents are omitted. Only for
   * files whose stat has `plainExtents !== false`.
   */
  extents(inode: number): AsyncGenerator<FileExtent>;
  /** Bytes [offset, offset+length) of the file (default: to the end); holes read as zeros. Bounded by a limit. */
  readFile(inode: number, offset?: number, length?: number): Promise<Uint8Array>;
  /** The file's bytes as pieces, for files of any size and any storage (resident, compressed, sparse). */
  readFileStream(inode: number, options?: ReadStreamOptions): AsyncGenerator<Uint8Array>;
}

/** Windows FILE_ATTRIBUTE_* bits, as NTFS, FAT and exFAT store them (the low byte is FAT's attribute byte). */
export const WINDOWS_ATTRIBUTES = {
  READONLY: 0x1,
  HIDDEN: 0x2,
  SYSTEM: 0x4,
  DIRECTORY: 0x10,
  ARCHIVE: 0x20,
  SPARSE_FILE: 0x200,
  REPARSE_POINT: 0x400,
  COMPRESSED: 0x800,
  ENCRYPTED: 0x4000,
} as const;

/** Synthesized for filesystems without Unix modes: the usual umask-022 result. */
export const SYNTHESIZED_DIRECTORY_PERMISSIONS = 0o755;
/** Synthesized for regular files without Unix modes. */
export const SYNTHESIZED_FILE_PERMISSIONS = 0o644;
/** Synthesized for files with the Windows read-only attribute: no write bits. */
export const SYNTHESIZED_READONLY_FILE_PERMISSIONS = 0o444;

const TYPE_BITS: Readonly<Record<FileType, number>> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  'char-device': 0o020000,
  'block-device': 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};

/** st_mode type bits of a file type. */
export function modeTypeBits(type: FileType): number {
  return TYPE_BITS[type];
}

/** The file type that an st_mode's type bits (mode & 0o170000) name; undefined for none. */
export function fileTypeOfMode(mode: number): FileType | undefined {
  const bits = mode & 0o170000;
  return (Object.keys(TYPE_BITS) as FileType[]).find((type) => TYPE_BITS[type] === bits);
}

/** Permissions and mode for a filesystem that stores only Windows attributes. */
export function synthesizedPermissions(
  type: FileType,
  windowsAttributes: number,
): { readonly permissions: number; readonly mode: number } {
  const permissions =
    type === 'directory'
      ? SYNTHESIZED_DIRECTORY_PERMISSIONS
      : windowsAttributes & WINDOWS_ATTRIBUTES.READONLY
        ? SYNTHESIZED_READONLY_FILE_PERMISSIONS
        : SYNTHESIZED_FILE_PERMISSIONS;
  return { permissions, mode: TYPE_BITS[type] | permissions };
}

/**
 * A walk error for `path`: retryable reader errors are re-thrown (they are not damage in the image
 * and the caller retries the whole walk); anything untyped becomes a FilesystemCorruptError.
 */
export function walkError(path: string, inode: number | undefined, error: unknown): WalkError {
  if (isRetryable(error)) throw error;
  const typed =
    error instanceof Error && 'retryable' in error
      ? error
      : new FilesystemCorruptError(`unexpected failure while reading ${path}`, { path }, error);
  return { kind: 'error', path, ...(inode === undefined ? {} : { inode }), error: typed };
}

/** Where a depth-first walk stands on a directory it has just yielded. */
export interface DescentCandidate {
  readonly path: string;
  /** The inode (or record) number reported with a refusal. */
  readonly inode: number;
  /** The directory's nesting depth (the root's children are at depth 1). */
  readonly depth: number;
  /** Context of the depth-limit error. */
  readonly context: ErrorContext;
}

/**
 * Why a depth-first walk must not descend into a directory, or undefined (and the directory is
 * marked seen): a directory reached twice (`key` already in `seen`: a cycle or a hard-linked
 * directory) is corruption; one at `maxDepth` is past a limit. Both bound the walk of a hostile image.
 */
export function refuseDescent(
  seen: Set<number>,
  key: number,
  maxDepth: number,
  at: DescentCandidate,
  reachedTwice: { readonly message: string; readonly context: ErrorContext },
): WalkError | undefined {
  if (seen.has(key)) {
    return walkError(
      at.path,
      at.inode,
      new FilesystemCorruptError(reachedTwice.message, reachedTwice.context),
    );
  }
  seen.add(key);
  if (at.depth >= maxDepth) {
    return walkError(
      at.path,
      at.inode,
      new FilesystemLimitError(`directory nesting deeper than ${maxDepth}; not descended`, at.context),
    );
  }
  return undefined;
}

/** "/a//b/./c/" → "/a/b/c"; "" → "/". */
export function normalizeImagePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return `/${parts.join('/')}`;
}
