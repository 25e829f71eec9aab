/**
 * XFS implementation of MetadataRangeSource (../metadata-ranges.ts): a directory listing reads the
 * directory's inode record, its extents' blocks (and the bmap btree blocks that map them, for a
 * directory in btree format), and for every entry that entry's inode record (and a remote
 * symlink's target blocks). An inode's record lies where its number says (allocation group, block
 * in the group, index in the block: superblock geometry, part of the layout key), so no table is
 * read to find it. The reader does not replay the log (it warns when the log is dirty), so the
 * bytes it reads are the image's own: nothing is replayed.
 */
import type { FileType } from '../filesystem.ts';
import type { ByteSpan, MetadataRangeSource } from '../metadata-ranges.ts';
import type { XfsFilesystem } from './filesystem.ts';

/** Version of what this module tracks; a change makes every earlier layout key differ. */
const XFS_RANGES_VERSION = 1;

export function xfsMetadataRanges(fs: XfsFilesystem): MetadataRangeSource {
  const sb = fs.superblock;
  return {
    layoutKey(): Promise<string> {
      // Free counts (sb_icount, sb_fdblocks) are not parsed and not in the key: they change on
      // every allocation, and no listing reads them.
      return Promise.resolve(
        JSON.stringify({
          v: XFS_RANGES_VERSION,
          fsType: fs.fsType,
          version: sb.version,
          uuid: sb.uuid,
          metaUuid: Buffer.from(sb.metaUuid).toString('hex'),
          blockSize: sb.blockSize,
          dataBlocks: sb.dataBlocks,
          rootInode: sb.rootInode,
          agBlocks: sb.agBlocks,
          agCount: sb.agCount,
          agBlockLog: sb.agBlockLog,
          sectorSize: sb.sectorSize,
          inodeSize: sb.inodeSize,
          inodesPerBlockLog: sb.inodesPerBlockLog,
          dirBlockSize: sb.dirBlockSize,
          hasFtype: sb.hasFtype,
          incompat: sb.incompat,
          verifies: fs.verifiesChecksums,
          limits: fs.limits,
          deviceBytes: fs.cache.size,
        }),
      );
    },
    directoryRanges: (inode: number) => fs.mappedSpans(inode),
    entryRanges(inode: number, type: FileType | undefined, size: number): Promise<ByteSpan[]> {
      if (type !== 'symlink' || size === 0) return Promise.resolve([fs.inodeRecordSpan(inode)]);
      // A short target lives in the record (local format); a longer one in blocks of its own.
      return fs.mappedSpans(inode);
    },
    recordSpanNow(inode: number): ByteSpan | undefined {
      try {
        return fs.inodeRecordSpan(inode);
      } catch {
        return undefined; // damaged number: entryRanges reports it
      }
    },
    effective: fs.cache,
    replayed: [],
  };
}
