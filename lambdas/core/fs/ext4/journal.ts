/**
 * jbd2 journal replay, in memory. A snapshot of a mounted ext3/4 that was not frozen has
 * `needs_recovery` set and its latest metadata only in the journal. The kernel would replay the
 * journal at mount; we do the same without writing: the committed transactions are scanned, revoke
 * records applied, and the result is an overlay (filesystem block -> journal block) through which
 * every later read of the filesystem goes.
 *
 * Format: all journal structures are big-endian. Block 0 of the journal is its superblock; from
 * s_start on come descriptor blocks (their tags name the filesystem blocks of the data blocks that
 * follow), revoke blocks and commit blocks, each with the transaction's sequence number. The scan
 * stops at the first block that is not the expected next one, as jbd2's PASS_SCAN does. Checksums
 * of journal blocks (csum v2/v3) are not verified.
 */
import type { ByteRangeReader } from '../../ports.ts';
import { FilesystemCorruptError } from '../errors.ts';
import { fillFrom } from '../cached-reader.ts';
import type { BlockRun } from './block-map.ts';

const JBD2_MAGIC = 0xc03b3998;
const BLOCK_DESCRIPTOR = 1;
const BLOCK_COMMIT = 2;
const BLOCK_SUPERBLOCK_V1 = 3;
const BLOCK_SUPERBLOCK_V2 = 4;
const BLOCK_REVOKE = 5;
const INCOMPAT_REVOKE = 0x1;
const INCOMPAT_64BIT = 0x2;
const INCOMPAT_CSUM_V2 = 0x8;
const INCOMPAT_CSUM_V3 = 0x10;
const TAG_ESCAPE = 0x1;
const TAG_SAME_UUID = 0x2;
const TAG_LAST = 0x8;
const HEADER_BYTES = 12;
const UUID_BYTES = 16;

/** Where the replayed copy of a filesystem block is, and whether its magic was escaped. */
export interface JournalBlock {
  readonly journalOffset: number;
  readonly escaped: boolean;
}

export interface JournalReplay {
  readonly blocks: ReadonlyMap<number, JournalBlock>;
  readonly transactions: number;
}

/**
 * Reads the journal whose blocks are `runs` (the journal inode's mapping) and returns the blocks
 * that replaying its committed transactions would write. Work is bounded by the journal's length.
 */
export async function scanJournal(
  reader: ByteRangeReader,
  blockSize: number,
  runs: readonly BlockRun[],
  fsBlocks: number,
): Promise<JournalReplay> {
  // Runs come in increasing logical order (block-map.ts guarantees it): binary search.
  const physicalOf = (logical: number): number => {
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const run = runs[mid]!;
      if (logical < run.logicalBlock) hi = mid - 1;
      else if (logical >= run.logicalBlock + run.blockCount) lo = mid + 1;
      else return (run.physicalBlock + logical - run.logicalBlock) * blockSize;
    }
    throw new FilesystemCorruptError(`journal block ${logical} is not mapped`, { block: logical });
  };
  const readBlock = async (logical: number): Promise<DataView> => {
    const bytes = await reader.read(physicalOf(logical), blockSize);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };

  const sb = await readBlock(0);
  const type = sb.getUint32(4);
  if (sb.getUint32(0) !== JBD2_MAGIC || (type !== BLOCK_SUPERBLOCK_V1 && type !== BLOCK_SUPERBLOCK_V2)) {
    throw new FilesystemCorruptError('journal superblock has no jbd2 magic');
  }
  if (sb.getUint32(0xc) !== blockSize) {
    throw new FilesystemCorruptError(`journal block size ${sb.getUint32(0xc)} differs from the filesystem's`);
  }
  const maxLen = sb.getUint32(0x10);
  const first = sb.getUint32(0x14);
  let sequence = sb.getUint32(0x18);
  let position = sb.getUint32(0x1c);
  const incompat = type === BLOCK_SUPERBLOCK_V2 ? sb.getUint32(0x28) : 0;
  const journalBlocks = runs.reduce((n, r) => Math.max(n, r.logicalBlock + r.blockCount), 0);
  if (first < 1 || maxLen > journalBlocks || first >= maxLen) {
    throw new FilesystemCorruptError(`journal geometry first=${first} maxlen=${maxLen} is invalid`);
  }
  const empty: JournalReplay = { blocks: new Map(), transactions: 0 };
  if (position === 0) return empty; // clean journal
  if (position < first || position >= maxLen)
    throw new FilesystemCorruptError(`journal start ${position} is invalid`);

  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const csumV3 = (incompat & INCOMPAT_CSUM_V3) !== 0;
  const csumV2 = (incompat & INCOMPAT_CSUM_V2) !== 0;
  const tagBytes = csumV3 ? 16 : (csumV2 ? 14 : 12) - (is64 ? 0 : 4);
  const tailBytes = csumV2 || csumV3 ? 4 : 0;
  const next = (p: number): number => (p + 1 >= maxLen ? first : p + 1);

  interface Pending {
    sequence: number;
    writes: { fsBlock: number; journalBlock: number; escaped: boolean }[];
  }
  const committed: Pending[] = [];
  const revoked = new Map<number, number>(); // fs block -> highest revoking sequence
  let current: Pending = { sequence, writes: [] };
  let pendingRevokes: number[] = [];
  // Each step consumes at least one journal block: the scan cannot run longer than one lap.
  for (let consumed = 0; consumed < maxLen;) {
    const block = await readBlock(position);
    if (block.getUint32(0) !== JBD2_MAGIC || block.getUint32(8) !== sequence) break;
    const blockType = block.getUint32(4);
    if (blockType === BLOCK_DESCRIPTOR) {
      let at = HEADER_BYTES;
      let dataPosition = next(position);
      consumed += 1;
      const writes: Pending['writes'] = [];
      while (at + tagBytes <= blockSize - tailBytes) {
        const low = block.getUint32(at);
        const flags = csumV3 ? block.getUint32(at + 4) : block.getUint16(at + 6);
        const high = is64 ? block.getUint32(at + 8) : 0;
        const fsBlock = high * 0x1_0000_0000 + low;
        if (fsBlock >= fsBlocks)
          throw new FilesystemCorruptError(`journal tag names block ${fsBlock} past the end`);
        writes.push({ fsBlock, journalBlock: dataPosition, escaped: (flags & TAG_ESCAPE) !== 0 });
        dataPosition = next(dataPosition);
        consumed += 1;
        at += tagBytes + ((flags & TAG_SAME_UUID) !== 0 ? 0 : UUID_BYTES);
        if (flags & TAG_LAST) break;
      }
      current.writes.push(...writes);
      position = dataPosition;
    } else if (blockType === BLOCK_REVOKE) {
      if ((incompat & INCOMPAT_REVOKE) === 0 && type === BLOCK_SUPERBLOCK_V2) break;
      const count = Math.min(block.getUint32(12), blockSize - tailBytes);
      const recordBytes = is64 ? 8 : 4;
      for (let at = 16; at + recordBytes <= count; at += recordBytes) {
        pendingRevokes.push(
          is64 ? block.getUint32(at) * 0x1_0000_0000 + block.getUint32(at + 4) : block.getUint32(at),
        );
      }
      position = next(position);
      consumed += 1;
    } else if (blockType === BLOCK_COMMIT) {
      committed.push(current);
      for (const b of pendingRevokes) revoked.set(b, Math.max(revoked.get(b) ?? 0, sequence));
      pendingRevokes = [];
      sequence = (sequence + 1) >>> 0;
      current = { sequence, writes: [] };
      position = next(position);
      consumed += 1;
    } else {
      break;
    }
  }
  const blocks = new Map<number, JournalBlock>();
  for (const txn of committed) {
    for (const w of txn.writes) {
      const revokedAt = revoked.get(w.fsBlock);
      if (revokedAt !== undefined && revokedAt >= txn.sequence) continue;
      blocks.set(w.fsBlock, { journalOffset: physicalOf(w.journalBlock), escaped: w.escaped });
    }
  }
  return { blocks, transactions: committed.length };
}

/**
 * A reader that returns the replayed content of journaled blocks. Sits under the page cache, so
 * metadata and file data both see the filesystem as the kernel would after recovery.
 */
export class JournalOverlayReader implements ByteRangeReader {
  readonly size: number;
  readonly offsetInDisk: number;
  private replay: JournalReplay = { blocks: new Map(), transactions: 0 };
  private blockSize = 0;

  constructor(private readonly base: ByteRangeReader) {
    this.size = base.size;
    this.offsetInDisk = 'offsetInDisk' in base ? (base as { offsetInDisk: number }).offsetInDisk : 0;
  }

  apply(replay: JournalReplay, blockSize: number): void {
    this.replay = replay;
    this.blockSize = blockSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.replayed(offset, await this.base.read(offset, length), true);
  }

  /** read() into the caller's buffer (the page cache's reused pages), the replay applied in place. */
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    await fillFrom(this.base, offset, target);
    await this.replayed(offset, target, false);
  }

  /** `data` (read at `offset`) with the journal's blocks in place; a copy first when `copy`. */
  private async replayed(offset: number, data: Uint8Array, copy: boolean): Promise<Uint8Array> {
    const length = data.length;
    if (this.replay.blocks.size === 0 || length === 0) return data;
    const bs = this.blockSize;
    let out: Uint8Array | undefined = copy ? undefined : data;
    for (let block = Math.floor(offset / bs); block * bs < offset + length; block += 1) {
      const replayed = this.replay.blocks.get(block);
      if (replayed === undefined) continue;
      out ??= data.slice();
      let content = await this.base.read(replayed.journalOffset, bs);
      if (replayed.escaped) {
        content = content.slice(); // never write into the base reader's buffers (its cache)
        new DataView(content.buffer).setUint32(0, JBD2_MAGIC);
      }
      const from = Math.max(offset, block * bs);
      const to = Math.min(offset + length, (block + 1) * bs);
      out.set(content.subarray(from - block * bs, to - block * bs), from - offset);
    }
    return out ?? data;
  }
}
