/**
 * ext2/3/4 implementation of MetadataRangeSource (../metadata-ranges.ts): a directory listing reads
 * the directory's inode record, its extent-tree (or indirect) blocks and its entry blocks, and for
 * every entry that entry's inode record (and a slow symlink's target blocks). Inode records are
 * located through the group descriptors, whose inode-table locations are part of the layout key
 * rather than tracked per byte (their free counts change on every allocation).
 */
import type { ByteRangeReader } from '../../ports.ts';
import { LeBytes, combineHiLo } from '../bytes.ts';
import { FilesystemCorruptError } from '../errors.ts';
import type { FileType } from '../filesystem.ts';
import type { ByteSpan, MetadataRangeSource } from '../metadata-ranges.ts';
import { mapBlocks } from './block-map.ts';
import { groupDescriptorChecksumOk } from './checksums.ts';
import type { Ext4Filesystem } from './filesystem.ts';
import { INODE_FLAGS, parseInode } from './inode.ts';
import { groupDescriptorOffset } from './superblock.ts';

/** Version of what this module tracks; a change makes every earlier layout key differ. */
const EXT_RANGES_VERSION = 1;

/** Records the ranges read through it (block-map reads of extent and indirect blocks). */
class RecordingReader implements ByteRangeReader {
  readonly spans: ByteSpan[] = [];
  constructor(private readonly inner: ByteRangeReader) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.spans.push([offset, offset + length]);
    return this.inner.read(offset, length);
  }
}

export function ext4MetadataRanges(fs: Ext4Filesystem): MetadataRangeSource {
  const sb = fs.superblock;
  const tableStart = new Map<number, number>();

  async function inodeTableBlock(group: number): Promise<number> {
    const known = tableStart.get(group);
    if (known !== undefined) return known;
    const desc = new LeBytes(await fs.cache.read(groupDescriptorOffset(sb, group), sb.descSize));
    const block = combineHiLo(sb.descSize >= 64 ? desc.u32(0x28) : 0, desc.u32(0x8));
    tableStart.set(group, block);
    return block;
  }

  const slotIn = (tableBlock: number, inode: number): ByteSpan => {
    const start = tableBlock * sb.blockSize + ((inode - 1) % sb.inodesPerGroup) * sb.inodeSize;
    return [start, start + sb.inodeSize];
  };
  const groupOf = (inode: number): number => Math.floor((inode - 1) / sb.inodesPerGroup);

  async function inodeSpan(inode: number): Promise<ByteSpan> {
    if (!Number.isInteger(inode) || inode < 1 || inode > sb.inodesCount) {
      throw new FilesystemCorruptError(`inode number ${inode} is outside 1..${sb.inodesCount}`, { inode });
    }
    return slotIn(await inodeTableBlock(groupOf(inode)), inode);
  }

  /** The inode record plus every block its mapping names and reads (extent or indirect blocks). */
  async function mappedSpans(number: number): Promise<ByteSpan[]> {
    const slot = await inodeSpan(number);
    const inode = parseInode(number, await fs.cache.read(slot[0], sb.inodeSize), slot[0]);
    const spans: ByteSpan[] = [slot];
    if (inode.flags & INODE_FLAGS.INLINE_DATA) return spans;
    const recorder = new RecordingReader(fs.cache);
    const blocks = Math.ceil(inode.size / sb.blockSize);
    for await (const run of mapBlocks({ sb, reader: recorder }, inode)) {
      const count = Math.min(run.blockCount, blocks - run.logicalBlock);
      if (count <= 0) break;
      spans.push([run.physicalBlock * sb.blockSize, (run.physicalBlock + count) * sb.blockSize]);
    }
    return [...spans, ...recorder.spans];
  }

  return {
    async layoutKey(): Promise<string> {
      const groups: string[] = [];
      for (let group = 0; group < sb.groupCount; group += 1) {
        const bytes = await fs.cache.read(groupDescriptorOffset(sb, group), sb.descSize);
        const ok = !fs.verifiesChecksums || groupDescriptorChecksumOk(sb.checksumSeed, group, bytes);
        const desc = new LeBytes(bytes);
        groups.push(`${combineHiLo(sb.descSize >= 64 ? desc.u32(0x28) : 0, desc.u32(0x8))}${ok ? '' : '!'}`);
      }
      return JSON.stringify({
        v: EXT_RANGES_VERSION,
        fsType: fs.fsType,
        uuid: sb.uuid,
        blockSize: sb.blockSize,
        blocksCount: sb.blocksCount,
        inodesCount: sb.inodesCount,
        inodesPerGroup: sb.inodesPerGroup,
        inodeSize: sb.inodeSize,
        descSize: sb.descSize,
        firstDataBlock: sb.firstDataBlock,
        features: [sb.featureCompat, sb.featureIncompat, sb.featureRoCompat],
        checksumSeed: sb.checksumSeed,
        verifies: fs.verifiesChecksums,
        limits: fs.limits,
        deviceBytes: fs.cache.size,
        groups: groups.join(','),
      });
    },
    directoryRanges: mappedSpans,
    async entryRanges(inode: number, type: FileType | undefined, size: number): Promise<ByteSpan[]> {
      const slot = await inodeSpan(inode);
      if (type !== 'symlink' || size === 0) return [slot];
      // The kernel's rule (ext4_inode_is_fast_symlink): a target in i_block has no data blocks
      // besides an extended-attribute block; otherwise the target is in mapped blocks.
      const raw = new LeBytes(await fs.cache.read(slot[0], sb.inodeSize));
      const xattrBlock = raw.u32(0x68) !== 0 || raw.u16(0x76) !== 0;
      const fast = raw.u32(0x1c) - (xattrBlock ? sb.blockSize / 512 : 0) === 0;
      return fast ? [slot] : mappedSpans(inode);
    },
    recordSpanNow(inode: number): ByteSpan | undefined {
      if (!Number.isInteger(inode) || inode < 1 || inode > sb.inodesCount) return undefined;
      const table = tableStart.get(groupOf(inode));
      return table === undefined ? undefined : slotIn(table, inode);
    },
    effective: fs.cache,
    replayed: [...(fs.journalReplay?.blocks.keys() ?? [])].map((block): ByteSpan => [
      block * sb.blockSize,
      (block + 1) * sb.blockSize,
    ]),
  };
}
