/**
 * Logical-to-physical block mapping of an inode: extent trees (ext4) and the legacy
 * direct/indirect/double/triple block maps (ext2/ext3). Both yield runs in increasing logical
 * order, holes omitted, so a reader can stop as soon as it has passed the range it needs.
 *
 * Hostile input: every node and indirect block is checked against the filesystem's bounds, an
 * extent tree deeper than MAX_EXTENT_TREE_DEPTH or revisiting a node is corrupt, and runs must not
 * overlap or go backwards (which also bounds the work by the size of the logical address space).
 */
import type { ByteRangeReader } from '../../ports.ts';
import { LeBytes } from '../bytes.ts';
import { extentBlockChecksumOk } from './checksums.ts';
import { FilesystemCorruptError } from '../errors.ts';
import { INODE_FLAGS, I_BLOCK_BYTES, I_BLOCK_OFFSET } from './inode.ts';
import type { Inode } from './inode.ts';
import { MAX_EXTENT_TREE_DEPTH } from './limits.ts';
import type { Superblock } from './superblock.ts';

/** A contiguous mapped range, in filesystem blocks. */
export interface BlockRun {
  readonly logicalBlock: number;
  readonly physicalBlock: number;
  readonly blockCount: number;
}

export interface MapContext {
  readonly sb: Superblock;
  /** Cached metadata reader (extent nodes, indirect blocks). */
  readonly reader: ByteRangeReader;
  /** The inode's checksum seed when extent blocks carry checksums (metadata_csum) and are verified. */
  readonly checksumSeed?: number;
}

const EXTENT_MAGIC = 0xf30a;
const EXTENT_HEADER_BYTES = 12;
const EXTENT_ENTRY_BYTES = 12;
/** ee_len above this marks an unwritten (preallocated) extent that reads as zeros. */
const EXT_INIT_MAX_LEN = 32768;
/** Logical block numbers are 32-bit in both mapping schemes. */
const LOGICAL_BLOCK_LIMIT = 0x1_0000_0000;
const DIRECT_BLOCKS = 12;

export function mapBlocks(ctx: MapContext, inode: Inode, fromLogical = 0): AsyncGenerator<BlockRun> {
  if (inode.flags & INODE_FLAGS.EXTENTS) return mapExtents(ctx, inode, fromLogical);
  return mapIndirect(ctx, inode, fromLogical);
}

function corrupt(inode: Inode, message: string, extra: Record<string, number> = {}): FilesystemCorruptError {
  return new FilesystemCorruptError(`inode ${inode.inode}: ${message}`, { inode: inode.inode, ...extra });
}

function checkPhysical(ctx: MapContext, inode: Inode, block: number, count: number): void {
  if (block < ctx.sb.firstDataBlock || block + count > ctx.sb.blocksCount || count <= 0) {
    throw corrupt(
      inode,
      `block ${block}+${count} lies outside the filesystem (${ctx.sb.blocksCount} blocks)`,
      {
        block,
        count,
      },
    );
  }
}

// ------------------------------------------------------------------------------------------ extents

async function* mapExtents(ctx: MapContext, inode: Inode, fromLogical: number): AsyncGenerator<BlockRun> {
  const root = new LeBytes(inode.raw.slice(I_BLOCK_OFFSET, I_BLOCK_BYTES));
  const visited = new Set<number>();
  const state = { nextLogical: 0 };
  yield* walkExtentNode(ctx, inode, root, -1, undefined, fromLogical, visited, state, 0);
}

async function* walkExtentNode(
  ctx: MapContext,
  inode: Inode,
  node: LeBytes,
  expectedDepth: number,
  nodeBlock: number | undefined,
  fromLogical: number,
  visited: Set<number>,
  state: { nextLogical: number },
  level: number,
): AsyncGenerator<BlockRun> {
  const where = nodeBlock === undefined ? 'extent root' : `extent node at block ${nodeBlock}`;
  if (node.u16(0) !== EXTENT_MAGIC) throw corrupt(inode, `${where} has no extent magic`);
  const entries = node.u16(2);
  const max = node.u16(4);
  const depth = node.u16(6);
  const capacity = Math.floor((node.length - EXTENT_HEADER_BYTES) / EXTENT_ENTRY_BYTES);
  if (entries > max || max > capacity) throw corrupt(inode, `${where} claims ${entries}/${max} entries`);
  if (depth > MAX_EXTENT_TREE_DEPTH || level > MAX_EXTENT_TREE_DEPTH) {
    throw corrupt(inode, `${where} is deeper than ${MAX_EXTENT_TREE_DEPTH} levels`, { depth });
  }
  if (
    nodeBlock !== undefined &&
    ctx.checksumSeed !== undefined &&
    !extentBlockChecksumOk(ctx.checksumSeed, node.bytes, max)
  ) {
    throw corrupt(inode, `${where} fails its checksum`, { block: nodeBlock });
  }
  if (expectedDepth >= 0 && depth !== expectedDepth) {
    throw corrupt(inode, `${where} has depth ${depth}, expected ${expectedDepth}`);
  }
  if (depth === 0) {
    for (let i = 0; i < entries; i += 1) {
      const at = EXTENT_HEADER_BYTES + i * EXTENT_ENTRY_BYTES;
      const logical = node.u32(at);
      const rawLen = node.u16(at + 4);
      const unwritten = rawLen > EXT_INIT_MAX_LEN;
      const count = unwritten ? rawLen - EXT_INIT_MAX_LEN : rawLen;
      const physical = node.u16(at + 6) * 0x1_0000_0000 + node.u32(at + 8);
      if (count === 0) continue;
      if (logical < state.nextLogical || logical + count > LOGICAL_BLOCK_LIMIT) {
        throw corrupt(inode, `extent at logical block ${logical} overlaps or goes backwards`, { logical });
      }
      state.nextLogical = logical + count;
      if (unwritten || logical + count <= fromLogical) continue;
      checkPhysical(ctx, inode, physical, count);
      yield { logicalBlock: logical, physicalBlock: physical, blockCount: count };
    }
    return;
  }
  for (let i = 0; i < entries; i += 1) {
    const at = EXTENT_HEADER_BYTES + i * EXTENT_ENTRY_BYTES;
    const logical = node.u32(at);
    const child = node.u16(at + 8) * 0x1_0000_0000 + node.u32(at + 4);
    if (i + 1 < entries && node.u32(at + EXTENT_ENTRY_BYTES) <= fromLogical) continue; // whole subtree before the range
    if (logical < state.nextLogical)
      throw corrupt(inode, `extent index at logical block ${logical} goes backwards`);
    checkPhysical(ctx, inode, child, 1);
    if (visited.has(child))
      throw corrupt(inode, `extent tree loops: node ${child} is visited twice`, { block: child });
    visited.add(child);
    const bytes = await ctx.reader.read(child * ctx.sb.blockSize, ctx.sb.blockSize);
    yield* walkExtentNode(
      ctx,
      inode,
      new LeBytes(bytes),
      depth - 1,
      child,
      fromLogical,
      visited,
      state,
      level + 1,
    );
  }
}

// ------------------------------------------------------------------------------- indirect block maps

async function* mapIndirect(ctx: MapContext, inode: Inode, fromLogical: number): AsyncGenerator<BlockRun> {
  const blockSize = ctx.sb.blockSize;
  const perBlock = blockSize / 4;
  const limit = Math.min(Math.ceil(inode.size / blockSize), LOGICAL_BLOCK_LIMIT);
  const visited = new Set<number>();
  const pending: { run?: { logical: number; physical: number; count: number } } = {};

  function* add(logical: number, physical: number): Generator<BlockRun> {
    if (physical === 0 || logical < fromLogical || logical >= limit) return;
    checkPhysical(ctx, inode, physical, 1);
    const run = pending.run;
    if (run !== undefined && run.logical + run.count === logical && run.physical + run.count === physical) {
      run.count += 1;
      return;
    }
    if (run !== undefined)
      yield { logicalBlock: run.logical, physicalBlock: run.physical, blockCount: run.count };
    pending.run = { logical, physical, count: 1 };
  }

  async function* indirect(
    pointerBlock: number,
    level: number,
    firstLogical: number,
  ): AsyncGenerator<BlockRun> {
    const span = perBlock ** level;
    if (pointerBlock === 0 || firstLogical >= limit || firstLogical + span <= fromLogical) return;
    checkPhysical(ctx, inode, pointerBlock, 1);
    if (visited.has(pointerBlock)) {
      throw corrupt(inode, `indirect block ${pointerBlock} is used twice`, { block: pointerBlock });
    }
    visited.add(pointerBlock);
    const pointers = new LeBytes(await ctx.reader.read(pointerBlock * blockSize, blockSize));
    const childSpan = span / perBlock;
    for (let i = 0; i < perBlock; i += 1) {
      const logical = firstLogical + i * childSpan;
      if (logical >= limit) break;
      const target = pointers.u32(i * 4);
      if (level === 1) yield* add(logical, target);
      else yield* indirect(target, level - 1, logical);
    }
  }

  for (let i = 0; i < DIRECT_BLOCKS; i += 1) yield* add(i, inode.raw.u32(I_BLOCK_OFFSET + i * 4));
  let first = DIRECT_BLOCKS;
  for (let level = 1; level <= 3; level += 1) {
    yield* indirect(inode.raw.u32(I_BLOCK_OFFSET + (DIRECT_BLOCKS + level - 1) * 4), level, first);
    first += perBlock ** level;
  }
  const run = pending.run;
  if (run !== undefined)
    yield { logicalBlock: run.logical, physicalBlock: run.physical, blockCount: run.count };
}
