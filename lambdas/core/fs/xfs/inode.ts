/**
 * XFS inodes (`struct xfs_dinode` in the kernel's fs/xfs/libxfs/xfs_format.h; big-endian): the
 * core (v1/v2: 100 bytes; v3 with CRC: 176 bytes) followed by the data fork and, from
 * di_forkoff * 8, the attribute fork.
 */
import { FilesystemCorruptError } from '../errors.ts';
import { fileTypeOfMode, unixStat } from '../filesystem.ts';
import type { InodeStat, Timestamp } from '../filesystem.ts';
import { BeBytes, xfsChecksumOk } from './be-bytes.ts';

export const XFS_DINODE_MAGIC = 0x494e; // "IN"
const V2_CORE_BYTES = 100;
const V3_CORE_BYTES = 176;
const INODE_CRC_OFFSET = 100;

/** di_format: where the data fork's contents are. */
export const FORK_FORMAT = { DEV: 0, LOCAL: 1, EXTENTS: 2, BTREE: 3 } as const;

/** di_flags bits this reader acts on (XFS_DIFLAG_*). */
export const DIFLAG = { REALTIME: 0x1 } as const;
/** di_flags2 bits (XFS_DIFLAG2_*). */
const DIFLAG2_BIGTIME = 0x8;
const DIFLAG2_NREXT64 = 0x10;

export interface XfsInode extends InodeStat {
  readonly raw: BeBytes;
  readonly version: number;
  readonly format: number;
  /** Data fork: byte offset in the inode record and its size. */
  readonly forkOffset: number;
  readonly forkBytes: number;
  /** Extents in the data fork (di_nextents, or di_big_nextents with NREXT64). */
  readonly nextents: number;
  /** Byte offset of the inode record in the filesystem's reader. */
  readonly offset: number;
}

/** Nanoseconds above this are not valid; a crafted value is clamped rather than rejected. */
const MAX_NANOSECONDS = 999_999_999;
/** Bigtime timestamps count nanoseconds from -2^31 s (1901-12-13), the old 32-bit range's start. */
const BIGTIME_EPOCH_OFFSET_S = 2 ** 31;
const NS_PER_S = 1_000_000_000;

function timestamp(raw: BeBytes, at: number, bigtime: boolean): Timestamp {
  if (bigtime) {
    // The 64-bit nanosecond count divided by 10^9 in four 16-bit steps: every intermediate stays
    // below 2^53, so the result is exact without a BigInt (a walk reads four of these per inode).
    const hi = raw.u32(at);
    const lo = raw.u32(at + 4);
    let seconds = 0;
    let rest = 0;
    for (let shift = 48; shift >= 0; shift -= 16) {
      const limb = (shift >= 32 ? hi >>> (shift - 32) : lo >>> shift) & 0xffff;
      const value = rest * 0x1_0000 + limb;
      const digit = Math.floor(value / NS_PER_S);
      rest = value - digit * NS_PER_S;
      seconds = seconds * 0x1_0000 + digit;
    }
    return { seconds: seconds - BIGTIME_EPOCH_OFFSET_S, nanoseconds: rest };
  }
  return { seconds: raw.i32(at), nanoseconds: Math.min(raw.u32(at + 4), MAX_NANOSECONDS) };
}

export interface InodeContext {
  readonly inodeSize: number;
  readonly version: 4 | 5;
  readonly metaUuid: Uint8Array;
  readonly verifyChecksum: boolean;
}

function corrupt(number: number, what: string): never {
  throw new FilesystemCorruptError(`inode ${number}: ${what}`, { inode: number });
}

export function parseInode(number: number, bytes: Uint8Array, offset: number, ctx: InodeContext): XfsInode {
  const raw = new BeBytes(bytes);
  const context = { inode: number };
  if (raw.u16(0) !== XFS_DINODE_MAGIC) corrupt(number, 'bad magic (not an inode)');
  const version = raw.u8(4);
  if (ctx.version === 5 ? version !== 3 : version !== 1 && version !== 2) {
    corrupt(number, `inode version ${version} on a v${ctx.version} filesystem`);
  }
  if (version === 3) {
    if (ctx.verifyChecksum && !xfsChecksumOk(bytes, INODE_CRC_OFFSET)) corrupt(number, 'checksum mismatch');
    // di_ino, compared as two 32-bit words (inode numbers stay below 2^53).
    if (raw.u32(152) !== Math.floor(number / 0x1_0000_0000) || raw.u32(156) !== number % 0x1_0000_0000) {
      corrupt(number, `records inode number ${raw.u64big(152)}`);
    }
    const uuid = raw.slice(160, 16);
    for (let i = 0; i < 16; i += 1) {
      if (uuid[i] !== ctx.metaUuid[i]) corrupt(number, 'belongs to another filesystem (UUID)');
    }
  }
  const mode = raw.u16(2);
  const type = fileTypeOfMode(mode);
  if (type === undefined) corrupt(number, `invalid file type in mode 0o${mode.toString(8)}`);
  const format = raw.u8(5);
  const coreBytes = version === 3 ? V3_CORE_BYTES : V2_CORE_BYTES;
  const literal = ctx.inodeSize - coreBytes;
  const forkoff = raw.u8(82) * 8;
  if (forkoff > literal) corrupt(number, `attribute fork offset ${forkoff} lies past the inode`);
  const forkBytes = forkoff === 0 ? literal : forkoff;
  // di_flags2's low word holds both flags (big-endian: bytes 124..127).
  const flags2Low = version === 3 ? raw.u32(124) : 0;
  const bigtime = (flags2Low & DIFLAG2_BIGTIME) !== 0;
  const nrext64 = (flags2Low & DIFLAG2_NREXT64) !== 0;
  let nextents: number;
  if (nrext64) {
    const big = raw.u64big(24);
    if (big > 2n ** 48n) corrupt(number, `claims ${big} extents`);
    nextents = Number(big);
  } else {
    nextents = raw.u32(76);
  }
  let size: number;
  try {
    size = raw.u64(56);
  } catch (error) {
    throw new FilesystemCorruptError(`inode ${number} claims a size of 2^53 bytes or more`, context, error);
  }
  let device: { major: number; minor: number } | undefined;
  if (type === 'char-device' || type === 'block-device') {
    if (format !== FORK_FORMAT.DEV) corrupt(number, `device inode with data fork format ${format}`);
    // xfs_dev_t: sysv_encode_dev(), major in the top 14 bits, minor in the low 18.
    const dev = raw.u32(coreBytes);
    device = { major: dev >>> 18, minor: dev & 0x3ffff };
  }
  // One literal whatever the version: spreads for the optional fields cost an intermediate object
  // and a generic copy per inode, in the walk's hottest path. An absent creation time or device
  // is an undefined field here; unixStat and unixEntry leave such fields out of what they return.
  return {
    inode: number,
    type,
    permissions: mode & 0o7777,
    mode,
    uid: raw.u32(8),
    gid: raw.u32(12),
    size,
    nlink: version === 1 ? raw.u16(6) : raw.u32(16),
    flags: raw.u16(90),
    atime: timestamp(raw, 32, bigtime),
    mtime: timestamp(raw, 40, bigtime),
    ctime: timestamp(raw, 48, bigtime),
    crtime: version === 3 ? timestamp(raw, 144, bigtime) : undefined,
    device,
    generation: raw.u32(92),
    raw,
    version,
    format,
    forkOffset: coreBytes,
    forkBytes,
    nextents,
    offset,
  };
}

/** Public metadata without the raw record. */
export function toStat(inode: XfsInode): InodeStat {
  return unixStat(inode);
}
