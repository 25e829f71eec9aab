/**
 * Directory entries. Linear directories and htree (dir_index) directories are read the same way:
 * every block of the directory, in logical order, as a list of ext4_dir_entry_2 records. htree
 * interior blocks look like one empty entry (inode 0) spanning the block, and the root's dx_root
 * data hides inside the ".." entry, so a linear read sees exactly the leaf entries. The
 * metadata_csum tail (inode 0, file type 0xDE) is skipped the same way.
 */
import { LeBytes } from '../bytes.ts';
import { unixDirEntry, type UnixDirEntry } from '../depth-first-walk.ts';
import { FilesystemCorruptError } from '../errors.ts';
import type { FileType } from './inode.ts';

/**
 * `nameBytes` is the name exactly as stored (ext4 names are bytes, not necessarily UTF-8); `name`
 * its text: UTF-8 as it is, other bytes in the stored form of name-encoding.ts (then `nameIsUtf8`
 * is false). `entryType` is the type recorded in the entry (filetype feature), if any.
 */
export type DirEntry = UnixDirEntry;

/**
 * An entry or a damaged part of the directory (the rest of that block is skipped). An entry is an
 * item itself, not wrapped: one object per entry of a walk rather than two.
 */
export type DirItem = DirEntry | { readonly error: FilesystemCorruptError };

const DIRENT_HEADER_BYTES = 8;
const ENTRY_TYPES: readonly (FileType | undefined)[] = [
  undefined,
  'file',
  'directory',
  'char-device',
  'block-device',
  'fifo',
  'socket',
  'symlink',
];

export interface DirBlockContext {
  readonly dirInode: number;
  readonly inodesCount: number;
  readonly blockSize: number;
  readonly hasFileType: boolean;
}

/** rec_len as stored: 64 KiB blocks encode a full-block entry as 65535 or 0 (ext4_rec_len_from_disk). */
export function decodeRecLen(stored: number, blockSize: number): number {
  if (blockSize < 65536) return stored;
  if (stored === 65535 || stored === 0) return blockSize;
  return (stored & 65532) | ((stored & 3) << 16);
}

/**
 * Parses the dirents in `bytes` (a directory block, or an inline-data region). `where` names the
 * region in errors. Stops at the first damaged record and reports it (as the last item).
 */
export function parseDirEntries(ctx: DirBlockContext, bytes: Uint8Array, where: string): DirItem[] {
  const le = new LeBytes(bytes);
  const items: DirItem[] = [];
  let at = 0;
  while (at + DIRENT_HEADER_BYTES <= bytes.length) {
    const inode = le.u32(at);
    const recLen = decodeRecLen(le.u16(at + 4), ctx.blockSize);
    const nameLen = ctx.hasFileType ? le.u8(at + 6) : le.u16(at + 6) & 0xff;
    const typeByte = ctx.hasFileType ? le.u8(at + 7) : 0;
    if (recLen < DIRENT_HEADER_BYTES || recLen % 4 !== 0 || at + recLen > bytes.length) {
      items.push({ error: damaged(ctx, where, at, `invalid record length ${recLen}`) });
      return items;
    }
    if (inode !== 0) {
      if (DIRENT_HEADER_BYTES + nameLen > recLen || nameLen === 0) {
        items.push({
          error: damaged(ctx, where, at, `name length ${nameLen} does not fit record length ${recLen}`),
        });
        return items;
      }
      const nameBytes = bytes.slice(at + DIRENT_HEADER_BYTES, at + DIRENT_HEADER_BYTES + nameLen);
      if (inode > ctx.inodesCount) {
        items.push({
          error: damaged(
            ctx,
            where,
            at,
            `entry points to inode ${inode}, beyond the ${ctx.inodesCount} inodes`,
          ),
        });
      } else if (nameBytes.includes(0x2f) || nameBytes.includes(0)) {
        items.push({ error: damaged(ctx, where, at, 'entry name contains "/" or NUL') });
      } else if (!isDotOrDotDot(nameBytes)) {
        // Not UTF-8: the reversible stored form (name-encoding.ts), so no two names meet.
        items.push(unixDirEntry(inode, nameBytes, ENTRY_TYPES[typeByte]));
      }
    }
    at += recLen;
  }
  return items;
}

function damaged(ctx: DirBlockContext, where: string, at: number, why: string): FilesystemCorruptError {
  return new FilesystemCorruptError(`directory inode ${ctx.dirInode}, ${where}, offset ${at}: ${why}`, {
    inode: ctx.dirInode,
    offset: at,
  });
}

function isDotOrDotDot(name: Uint8Array): boolean {
  return (
    (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)
  );
}
