/** Recognises a filesystem by its magic numbers, from the first bytes of a partition. */
import type { ByteRangeReader } from '../ports.ts';

export type FsType =
  'ext2' | 'ext3' | 'ext4' | 'xfs' | 'ntfs' | 'vfat' | 'exfat' | 'btrfs' | 'swap' | 'lvm2' | 'unknown';

/** Enough to see every magic below but btrfs's: the ext superblock ends at 2 KiB, swap's at 4 KiB. */
export const FS_PROBE_BYTES = 4096;
/** btrfs keeps its primary superblock at 64 KiB; its magic "_BHRfS_M" is at offset 0x40 in it. */
export const BTRFS_MAGIC_OFFSET = 0x10040;
const BTRFS_MAGIC = '_BHRfS_M';

const EXT_MAGIC = 0xef53;
const EXT_COMPAT_HAS_JOURNAL = 0x4;
/** INCOMPAT/RO_COMPAT bits that ext2/ext3 drivers never set: their presence makes it ext4. */
const EXT4_ONLY_INCOMPAT = 0x40 | 0x80 | 0x200 | 0x400 | 0x8000 | 0x10000 | 0x20000; // extents,64bit,flex_bg,ea_inode,inline,encrypt,casefold
const EXT4_ONLY_RO_COMPAT = 0x8 | 0x10 | 0x20 | 0x40 | 0x200 | 0x400; // huge_file,gdt_csum,dir_nlink,extra_isize,bigalloc,metadata_csum

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

export function detectFsTypeFromBytes(head: Uint8Array): FsType {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 1024 + 0x68 && view.getUint16(1024 + 0x38, true) === EXT_MAGIC) {
    const compat = view.getUint32(1024 + 0x5c, true);
    const incompat = view.getUint32(1024 + 0x60, true);
    const roCompat = view.getUint32(1024 + 0x64, true);
    if (incompat & EXT4_ONLY_INCOMPAT || roCompat & EXT4_ONLY_RO_COMPAT) return 'ext4';
    return compat & EXT_COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
  }
  if (head.length >= 4 && ascii(head, 0, 4) === 'XFSB') return 'xfs';
  if (head.length >= 11 && ascii(head, 3, 8) === 'NTFS    ') return 'ntfs';
  if (head.length >= 11 && ascii(head, 3, 8) === 'EXFAT   ') return 'exfat';
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) {
    if (ascii(head, 54, 5) === 'FAT12' || ascii(head, 54, 5) === 'FAT16' || ascii(head, 82, 5) === 'FAT32') {
      return 'vfat';
    }
  }
  if (head.length >= 4096 && ascii(head, 4096 - 10, 10) === 'SWAPSPACE2') return 'swap';
  if (head.length >= 544 && ascii(head, 512, 8) === 'LABELONE' && ascii(head, 536, 8) === 'LVM2 001')
    return 'lvm2';
  return 'unknown';
}

export async function detectFsType(reader: ByteRangeReader, offset = 0): Promise<FsType> {
  const length = Math.min(FS_PROBE_BYTES, reader.size - offset);
  if (length <= 0) return 'unknown';
  const found = detectFsTypeFromBytes(await reader.read(offset, length));
  if (found !== 'unknown' || reader.size - offset < BTRFS_MAGIC_OFFSET + BTRFS_MAGIC.length) return found;
  const magic = await reader.read(offset + BTRFS_MAGIC_OFFSET, BTRFS_MAGIC.length);
  return ascii(magic, 0, BTRFS_MAGIC.length) === BTRFS_MAGIC ? 'btrfs' : 'unknown';
}
