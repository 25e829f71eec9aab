/** Inode records: parsing of the on-disk ext2/3/4 inode into plain metadata. */
import { LeBytes, combineHiLo } from '../bytes.ts';
import { FilesystemCorruptError } from '../errors.ts';
import { fileTypeOfMode, unixStat } from '../filesystem.ts';
import type { FileType, InodeStat, Timestamp } from '../filesystem.ts';

export type { FileType, InodeStat, Timestamp };

export const INODE_FLAGS = {
  INDEX: 0x1000,
  ENCRYPT: 0x800,
  HUGE_FILE: 0x40000,
  EXTENTS: 0x80000,
  EA_INODE: 0x200000,
  INLINE_DATA: 0x10000000,
} as const;

export const ROOT_INODE = 2;
/** Bytes of i_block: the extent root, the 15 block pointers, a fast symlink or inline data. */
export const I_BLOCK_BYTES = 60;
export const I_BLOCK_OFFSET = 0x28;
/** The fixed part of every inode; extra fields (ns times, crtime) follow when the inode is larger. */
const GOOD_OLD_INODE_SIZE = 128;

/** A parsed inode plus the raw record, kept for its i_block and in-inode extended attributes. */
export interface Inode extends InodeStat {
  readonly raw: LeBytes;
  /** Byte offset of the inode record in the filesystem's reader. */
  readonly offset: number;
  /** Bytes of the record that are in use: 128 + i_extra_isize. */
  readonly usedBytes: number;
}

/** Nanoseconds above this are not valid; a crafted value is clamped rather than rejected. */
const MAX_NANOSECONDS = 999_999_999;

function timestamp(raw: LeBytes, secondsAt: number, extraAt: number | undefined): Timestamp {
  const base = raw.i32(secondsAt);
  if (extraAt === undefined) return { seconds: base, nanoseconds: 0 };
  const extra = raw.u32(extraAt);
  return { seconds: base + (extra & 3) * 0x1_0000_0000, nanoseconds: Math.min(extra >>> 2, MAX_NANOSECONDS) };
}

/** A field of the extra inode area, when the record's used bytes (128 + i_extra_isize) hold it. */
function extraAt(fieldOffset: number, usedBytes: number): number | undefined {
  return fieldOffset + 4 <= usedBytes ? fieldOffset : undefined;
}

export function parseInode(number: number, bytes: Uint8Array, offset: number): Inode {
  const raw = new LeBytes(bytes);
  const mode = raw.u16(0x0);
  const type = fileTypeOfMode(mode);
  const context = { inode: number };
  if (type === undefined) {
    throw new FilesystemCorruptError(
      `inode ${number} has an invalid file type in mode 0o${mode.toString(8)}`,
      context,
    );
  }
  let extraIsize = 0;
  if (bytes.length > GOOD_OLD_INODE_SIZE) {
    extraIsize = raw.u16(0x80);
    if (extraIsize > bytes.length - GOOD_OLD_INODE_SIZE || extraIsize % 4 !== 0) {
      throw new FilesystemCorruptError(`inode ${number} has an invalid i_extra_isize ${extraIsize}`, context);
    }
  }
  const usedBytes = GOOD_OLD_INODE_SIZE + extraIsize;
  let size: number;
  try {
    size = combineHiLo(raw.u32(0x6c), raw.u32(0x4));
  } catch (error) {
    throw new FilesystemCorruptError(`inode ${number} claims a size of 2^53 bytes or more`, context, error);
  }
  let device: { major: number; minor: number } | undefined;
  if (type === 'char-device' || type === 'block-device') {
    const old = raw.u32(I_BLOCK_OFFSET);
    if (old !== 0) {
      device = { major: (old >>> 8) & 0xff, minor: old & 0xff };
    } else {
      const dev = raw.u32(I_BLOCK_OFFSET + 4);
      device = { major: (dev >>> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
    }
  }
  const uid = raw.u16(0x2) | (raw.u16(0x78) << 16);
  const gid = raw.u16(0x18) | (raw.u16(0x7a) << 16);
  const nlink = raw.u16(0x1a);
  const flags = raw.u32(0x20);
  const atime = timestamp(raw, 0x8, extraAt(0x8c, usedBytes));
  const ctime = timestamp(raw, 0xc, extraAt(0x84, usedBytes));
  const mtime = timestamp(raw, 0x10, extraAt(0x88, usedBytes));
  const generation = raw.u32(0x64);
  const permissions = mode & 0o7777;
  // One literal whatever the record holds: spreads for the optional fields cost an intermediate
  // object and a generic copy per inode, in the walk's hottest path. An absent creation time or
  // device is an undefined field here; unixStat and unixEntry leave such fields out.
  return {
    inode: number,
    type,
    permissions,
    mode,
    uid,
    gid,
    size,
    nlink,
    flags,
    atime,
    ctime,
    mtime,
    crtime:
      extraAt(0x90, usedBytes) === undefined ? undefined : timestamp(raw, 0x90, extraAt(0x94, usedBytes)),
    device,
    generation,
    raw,
    offset,
    usedBytes,
  };
}

/** Public metadata without the raw record. */
export function toStat(inode: Inode): InodeStat {
  return unixStat(inode);
}

const XATTR_MAGIC = 0xea020000;
const XATTR_INDEX_SYSTEM = 7;
const XATTR_ENTRY_HEADER_BYTES = 16;

/**
 * Finds the in-inode extended attribute `system.data` (inline data beyond i_block).
 * Returns its offset within the inode record and its length, or undefined when absent.
 */
export function findInlineDataXattr(inode: Inode): { at: number; length: number } | undefined {
  const start = inode.usedBytes;
  const raw = inode.raw;
  if (start + 4 > raw.length || raw.u32(start) !== XATTR_MAGIC) return undefined;
  const entriesStart = start + 4;
  let at = entriesStart;
  // Each entry takes at least 16 bytes, so the loop ends within the inode.
  while (at + XATTR_ENTRY_HEADER_BYTES <= raw.length) {
    const nameLen = raw.u8(at);
    const nameIndex = raw.u8(at + 1);
    if (raw.u32(at) === 0) break; // end marker: four zero bytes
    const valueOffset = raw.u16(at + 2);
    const valueInum = raw.u32(at + 4);
    const valueSize = raw.u32(at + 8);
    if (at + XATTR_ENTRY_HEADER_BYTES + nameLen > raw.length) break;
    const name = String.fromCharCode(...raw.slice(at + XATTR_ENTRY_HEADER_BYTES, nameLen));
    if (nameIndex === XATTR_INDEX_SYSTEM && name === 'data') {
      if (valueInum !== 0) {
        throw new FilesystemCorruptError(`inode ${inode.inode}: inline data stored in an EA inode`, {
          inode: inode.inode,
        });
      }
      const valueAt = entriesStart + valueOffset;
      if (valueAt + valueSize > raw.length) {
        throw new FilesystemCorruptError(`inode ${inode.inode}: inline data xattr runs past the inode`, {
          inode: inode.inode,
          valueOffset,
          valueSize,
        });
      }
      return { at: valueAt, length: valueSize };
    }
    at += (XATTR_ENTRY_HEADER_BYTES + nameLen + 3) & ~3;
  }
  return undefined;
}
