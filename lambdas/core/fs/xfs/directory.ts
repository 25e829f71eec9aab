/**
 * XFS version 2/3 directories (kernel fs/xfs/libxfs/xfs_da_format.h):
 * - short form, in the inode's data fork: a header (count, i8count, parent) and packed entries;
 * - data blocks (one "block" directory, or the data section of leaf and node directories, which
 *   sits below byte 2^35 of the directory): a header, then 8-byte-aligned entries and free spaces.
 * Listing only needs these; the hash-ordered leaf and free-index blocks above 2^35 are not read.
 */
import { unixDirEntry, type UnixDirEntry } from '../depth-first-walk.ts';
import { FilesystemCorruptError } from '../errors.ts';
import { BeBytes, xfsChecksumOk } from './be-bytes.ts';

/** An entry with its name decoded as a walk entry carries it (the entry's ftype is not read). */
export type XfsDirEntry = UnixDirEntry;

export interface DirContext {
  readonly dirInode: number;
  readonly hasFtype: boolean;
  readonly version: 4 | 5;
  readonly metaUuid: Uint8Array;
  readonly verifyChecksums: boolean;
  /** Inode numbers above this cannot exist (AG count and geometry). */
  readonly maxInode: number;
}

const MAGIC_BLOCK_V5 = 0x58444233; // "XDB3": single-block directory
const MAGIC_DATA_V5 = 0x58444433; // "XDD3": data block of a leaf/node directory
const MAGIC_BLOCK_V4 = 0x58443242; // "XD2B"
const MAGIC_DATA_V4 = 0x58443244; // "XD2D"
/** v5 data header: magic, crc, blkno, lsn, uuid, owner (48 bytes), bestfree[3], pad. */
const DATA_HEADER_V5 = 64;
/** v4 data header: magic and bestfree[3]. */
const DATA_HEADER_V4 = 16;
const DATA_CRC_OFFSET = 4;
/** A block directory ends with a tail (leaf count, stale count) after its 8-byte leaf entries. */
const BLOCK_TAIL_BYTES = 8;
const LEAF_ENTRY_BYTES = 8;
const FREE_TAG = 0xffff;
const SECTOR = 512;

function checkInode(ctx: DirContext, inode: number, where: string): void {
  if (inode === 0 || inode > ctx.maxInode) {
    throw new FilesystemCorruptError(
      `directory inode ${ctx.dirInode}: ${where} points at invalid inode ${inode}`,
      {
        inode: ctx.dirInode,
        target: inode,
      },
    );
  }
}

/** Entries of a short-form directory (the data fork bytes, di_size long). */
export function parseShortForm(ctx: DirContext, fork: Uint8Array): XfsDirEntry[] {
  const raw = new BeBytes(fork);
  const count = raw.u8(0);
  const i8count = raw.u8(1);
  const inoBytes = i8count > 0 ? 8 : 4;
  const readIno = (at: number): number => (inoBytes === 8 ? raw.u64(at) : raw.u32(at));
  checkInode(ctx, readIno(2), 'parent');
  const total = count === 0 ? i8count : count;
  let at = 2 + inoBytes;
  const out: XfsDirEntry[] = [];
  // Each entry takes at least 4 bytes of a fork of at most a few KiB: the loop ends in bounds.
  for (let i = 0; i < total; i += 1) {
    const nameLen = raw.u8(at);
    if (nameLen === 0) {
      throw new FilesystemCorruptError(
        `directory inode ${ctx.dirInode}: short-form entry ${i} has an empty name`,
        {
          inode: ctx.dirInode,
        },
      );
    }
    const nameBytes = raw.slice(at + 3, nameLen).slice();
    const inoAt = at + 3 + nameLen + (ctx.hasFtype ? 1 : 0);
    const inode = readIno(inoAt);
    checkInode(ctx, inode, `short-form entry ${i}`);
    out.push(unixDirEntry(inode, nameBytes));
    at = inoAt + inoBytes;
  }
  return out;
}

/**
 * Entries of one directory data block (or the single block of a block directory), without "."
 * and "..". `daddr` is the block's position in 512-byte sectors (v5 blocks record it).
 */
export function parseDataBlock(
  ctx: DirContext,
  block: Uint8Array,
  daddr: number,
  first: boolean,
): XfsDirEntry[] {
  const raw = new BeBytes(block);
  const v5 = ctx.version === 5;
  const magic = raw.u32(0);
  const fail = (what: string): never => {
    throw new FilesystemCorruptError(
      `directory inode ${ctx.dirInode}: data block at sector ${daddr}: ${what}`,
      {
        inode: ctx.dirInode,
        daddr,
      },
    );
  };
  const isBlockForm = magic === (v5 ? MAGIC_BLOCK_V5 : MAGIC_BLOCK_V4);
  if (!isBlockForm && magic !== (v5 ? MAGIC_DATA_V5 : MAGIC_DATA_V4)) fail('bad magic');
  if (isBlockForm && !first) fail('a single-block directory header in a multi-block directory');
  if (v5) {
    if (ctx.verifyChecksums && !xfsChecksumOk(block, DATA_CRC_OFFSET)) fail('checksum mismatch');
    if (raw.u64(8) !== daddr) fail('records another block number');
    if (raw.u64(40) !== ctx.dirInode) fail('belongs to another inode');
    if (!raw.slice(24, 16).every((b, i) => b === ctx.metaUuid[i]))
      fail('belongs to another filesystem (UUID)');
  }
  let end = block.length;
  if (isBlockForm) {
    const leafCount = raw.u32(block.length - BLOCK_TAIL_BYTES);
    end = block.length - BLOCK_TAIL_BYTES - leafCount * LEAF_ENTRY_BYTES;
    if (leafCount > block.length / LEAF_ENTRY_BYTES || end < (v5 ? DATA_HEADER_V5 : DATA_HEADER_V4)) {
      fail(`block tail claims ${leafCount} leaf entries`);
    }
  }
  const out: XfsDirEntry[] = [];
  let at = v5 ? DATA_HEADER_V5 : DATA_HEADER_V4;
  // Every step advances by at least 8 bytes: the loop ends within the block.
  while (at < end) {
    if (raw.u16(at) === FREE_TAG) {
      const length = raw.u16(at + 2);
      if (length < 8 || length % 8 !== 0 || at + length > end)
        fail(`free space at ${at} has length ${length}`);
      at += length;
      continue;
    }
    const inode = raw.u64(at);
    const nameLen = raw.u8(at + 8);
    if (nameLen === 0) fail(`entry at ${at} has an empty name`);
    const entryBytes = (8 + 1 + nameLen + (ctx.hasFtype ? 1 : 0) + 2 + 7) & ~7;
    if (at + entryBytes > end) fail(`entry at ${at} runs past the data area`);
    if (raw.u16(at + entryBytes - 2) !== at) fail(`entry at ${at} has a wrong tag`);
    const nameBytes = raw.slice(at + 9, nameLen);
    const dot = nameLen === 1 && nameBytes[0] === 0x2e;
    const dotdot = nameLen === 2 && nameBytes[0] === 0x2e && nameBytes[1] === 0x2e;
    if (!dot && !dotdot) {
      checkInode(ctx, inode, `entry at ${at}`);
      out.push(unixDirEntry(inode, nameBytes.slice()));
    }
    at += entryBytes;
  }
  return out;
}

export { SECTOR as DIR_SECTOR_BYTES };
