/**
 * A file's block map: the data fork as an extent list (di_format EXTENTS) or as a B+tree of extents
 * (BTREE, "bmbt": a root in the inode, long-format btree blocks below). Each record is 128 bits,
 * big-endian: 1 bit "unwritten", 54 bits logical block, 52 bits filesystem block, 21 bits count
 * (`xfs_bmbt_rec` in the kernel's fs/xfs/libxfs/xfs_format.h).
 */
import { FilesystemCorruptError, FilesystemLimitError } from '../errors.ts';
import { BeBytes, xfsChecksumOk } from './be-bytes.ts';
import { FORK_FORMAT } from './inode.ts';
import type { XfsInode } from './inode.ts';
import { MAX_BMBT_LEVELS } from './limits.ts';
import type { XfsSuperblock } from './superblock.ts';

export interface XfsExtent {
  /** First file block (in filesystem blocks). */
  readonly logicalBlock: number;
  /** Byte offset of the first block in the filesystem's reader. */
  readonly physicalOffset: number;
  readonly blockCount: number;
  /** Allocated but never written (fallocate): reads as zeros. */
  readonly unwritten: boolean;
}

export interface MapContext {
  readonly sb: XfsSuperblock;
  readonly read: (offset: number, length: number) => Promise<Uint8Array>;
  readonly verifyChecksums: boolean;
  readonly maxExtents: number;
}

const BMAP_MAGIC_V5 = 0x424d4133; // "BMA3"
const BMAP_MAGIC_V4 = 0x424d4150; // "BMAP"
/** Long-format btree block header: 24 bytes on v4; v5 adds blkno, lsn, uuid, owner and crc. */
const LONG_HEADER_V4 = 24;
const LONG_HEADER_V5 = 72;
const LONG_CRC_OFFSET = 64;
const REC_BYTES = 16;
const KEY_BYTES = 8;
const PTR_BYTES = 8;
/** The in-inode root (`xfs_bmdr_block`): level and numrecs. */
const BMDR_HEADER = 4;
const SECTOR = 512;

/** Byte offset of a filesystem block number (AG number in the high bits, block in the AG below). */
export function fsBlockToByte(sb: XfsSuperblock, fsBlock: number, count = 1): number {
  const agSpan = 2 ** sb.agBlockLog;
  const ag = Math.floor(fsBlock / agSpan);
  const agBlock = fsBlock - ag * agSpan;
  if (ag >= sb.agCount || agBlock + count > sb.agBlocks || count < 1) {
    throw new FilesystemCorruptError(
      `block ${fsBlock} (+${count}) lies outside the filesystem's allocation groups`,
      { fsBlock, count },
    );
  }
  return (ag * sb.agBlocks + agBlock) * sb.blockSize;
}

function parseRecord(raw: BeBytes, at: number, sb: XfsSuperblock): XfsExtent {
  const w0 = raw.u32(at);
  const w1 = raw.u32(at + 4);
  const w2 = raw.u32(at + 8);
  const w3 = raw.u32(at + 12);
  if (w0 & 0x40000000) throw new FilesystemCorruptError('extent starts beyond 2^53 blocks');
  const logicalBlock = (w0 & 0x3fffffff) * 2 ** 23 + (w1 >>> 9);
  const fsBlock = (w1 & 0x1ff) * 2 ** 43 + w2 * 2 ** 11 + (w3 >>> 21);
  const blockCount = w3 & 0x1fffff;
  return {
    logicalBlock,
    physicalOffset: fsBlockToByte(sb, fsBlock, blockCount),
    blockCount,
    unwritten: w0 >>> 31 === 1,
  };
}

/**
 * The extents of a file's data fork in logical order, starting with the one that holds
 * `fromBlock`. Overlapping or out-of-order extents are corruption, which also keeps a crafted
 * B+tree that points at the same subtree twice from being walked more than once.
 */
export async function* mapExtents(
  ctx: MapContext,
  inode: XfsInode,
  fromBlock = 0,
): AsyncGenerator<XfsExtent> {
  const { sb } = ctx;
  const fork = new BeBytes(inode.raw.slice(inode.forkOffset, inode.forkBytes));
  let nextFree = 0;
  let count = 0;
  const accept = (extent: XfsExtent): boolean => {
    if (extent.blockCount === 0 || extent.logicalBlock < nextFree) {
      throw new FilesystemCorruptError(
        `inode ${inode.inode}: extent at block ${extent.logicalBlock} is empty or overlaps the previous one`,
        { inode: inode.inode },
      );
    }
    count += 1;
    if (count > ctx.maxExtents) {
      throw new FilesystemLimitError(`inode ${inode.inode} has more than ${ctx.maxExtents} extents`, {
        inode: inode.inode,
      });
    }
    nextFree = extent.logicalBlock + extent.blockCount;
    return nextFree > fromBlock;
  };
  if (inode.format === FORK_FORMAT.EXTENTS) {
    if (inode.nextents * REC_BYTES > inode.forkBytes) {
      throw new FilesystemCorruptError(
        `inode ${inode.inode}: ${inode.nextents} extents do not fit its ${inode.forkBytes}-byte fork`,
        { inode: inode.inode },
      );
    }
    for (let i = 0; i < inode.nextents; i += 1) {
      const extent = parseRecord(fork, i * REC_BYTES, sb);
      if (accept(extent)) yield extent;
    }
    return;
  }
  if (inode.format !== FORK_FORMAT.BTREE) {
    throw new FilesystemCorruptError(
      `inode ${inode.inode}: data fork format ${inode.format} has no extents`,
      {
        inode: inode.inode,
      },
    );
  }
  const level = fork.u16(0);
  const numrecs = fork.u16(2);
  const rootMax = Math.floor((inode.forkBytes - BMDR_HEADER) / (KEY_BYTES + PTR_BYTES));
  if (level < 1 || level > MAX_BMBT_LEVELS || numrecs < 1 || numrecs > rootMax) {
    throw new FilesystemCorruptError(
      `inode ${inode.inode}: invalid block map B+tree root (level ${level}, ${numrecs} records)`,
      { inode: inode.inode },
    );
  }
  const keyAt = (i: number): number => BMDR_HEADER + i * KEY_BYTES;
  const ptrAt = (i: number): number => BMDR_HEADER + rootMax * KEY_BYTES + i * PTR_BYTES;
  for (let i = 0; i < numrecs; i += 1) {
    if (i + 1 < numrecs && fork.u64(keyAt(i + 1)) <= fromBlock) continue;
    for await (const extent of walkNode(ctx, inode.inode, fork.u64(ptrAt(i)), level - 1, fromBlock)) {
      if (accept(extent)) yield extent;
    }
  }
}

async function* walkNode(
  ctx: MapContext,
  owner: number,
  fsBlock: number,
  level: number,
  fromBlock: number,
): AsyncGenerator<XfsExtent> {
  const { sb } = ctx;
  const offset = fsBlockToByte(sb, fsBlock);
  const bytes = await ctx.read(offset, sb.blockSize);
  const raw = new BeBytes(bytes);
  const v5 = sb.version === 5;
  const header = v5 ? LONG_HEADER_V5 : LONG_HEADER_V4;
  const fail = (what: string): never => {
    throw new FilesystemCorruptError(`inode ${owner}: block map B+tree block ${fsBlock}: ${what}`, {
      inode: owner,
      fsBlock,
    });
  };
  if (raw.u32(0) !== (v5 ? BMAP_MAGIC_V5 : BMAP_MAGIC_V4)) fail('bad magic');
  if (v5) {
    if (ctx.verifyChecksums && !xfsChecksumOk(bytes, LONG_CRC_OFFSET)) fail('checksum mismatch');
    if (raw.u64(24) !== offset / SECTOR) fail('records another block number');
    if (raw.u64(56) !== owner) fail('belongs to another inode');
  }
  const maxrecs = Math.floor((sb.blockSize - header) / (level === 0 ? REC_BYTES : KEY_BYTES + PTR_BYTES));
  const numrecs = raw.u16(6);
  if (raw.u16(4) !== level) fail(`level ${raw.u16(4)} where ${level} was expected`);
  if (numrecs < 1 || numrecs > maxrecs) fail(`${numrecs} records (at most ${maxrecs})`);
  if (level === 0) {
    for (let i = 0; i < numrecs; i += 1) yield parseRecord(raw, header + i * REC_BYTES, sb);
    return;
  }
  for (let i = 0; i < numrecs; i += 1) {
    if (i + 1 < numrecs && raw.u64(header + (i + 1) * KEY_BYTES) <= fromBlock) continue;
    const child = raw.u64(header + maxrecs * KEY_BYTES + i * PTR_BYTES);
    yield* walkNode(ctx, owner, child, level - 1, fromBlock);
  }
}
