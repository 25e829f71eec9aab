/**
 * Whether an XFS internal log was cleanly unmounted. The log is not replayed; a snapshot of a
 * mounted (not frozen) filesystem has a dirty log, and metadata written just before it may be
 * missing from what is read, so the filesystem opens with a warning, as a dirty NTFS does.
 *
 * The log is a circular run of 512-byte basic blocks (BBs). The first 4 bytes of every BB hold
 * the cycle number it was written in (a record header holds its magic there and the cycle in the
 * next word, h_cycle; the header keeps the data words the cycles displaced), so the
 * BBs before the head carry cycle N and those after it N - 1: the head is where the cycle drops.
 * The last record before the head is an unmount record when the log is clean: one log operation
 * whose op header has XLOG_UNMOUNT_TRANS. This is how the kernel decides too
 * (fs/xfs/xfs_log_recover.c: xlog_find_head, xlog_rseek_logrec_hdr, xlog_check_unmount_rec;
 * record layout in fs/xfs/libxfs/xfs_log_format.h).
 */
import { FilesystemCorruptError } from '../errors.ts';
import type { XfsSuperblock } from './superblock.ts';

const BB_BYTES = 512;
/** xlog_rec_header.h_magicno (XLOG_HEADER_MAGIC_NUM). */
const XLOG_HEADER_MAGIC = 0xfeedbabe;
/** xlog_op_header.oh_flags: the operation is an unmount record. */
const XLOG_UNMOUNT_TRANS = 0x20;
/** h_version bit of v2 logs, whose header may span several BBs (h_size > XLOG_HEADER_CYCLE_SIZE). */
const XLOG_VERSION_2 = 2;
const XLOG_HEADER_CYCLE_SIZE = 32 * 1024;
const H_VERSION = 8;
const H_NUM_LOGOPS = 40;
const H_SIZE = 320;
/** oh_flags' place in the op header (after oh_tid, oh_len and oh_clientid). */
const OH_FLAGS = 9;
/**
 * BBs searched back from the head for the last record header: a record holds at most 256 KiB of
 * data (XLOG_MAX_RECORD_BSIZE, 512 BBs) plus a header of up to 8 BBs.
 */
const MAX_RECORD_SCAN_BBS = 1024;

export type XfsLogState =
  { readonly state: 'clean' } | { readonly state: 'dirty' } | { readonly state: 'external' };

type Read = (offset: number, length: number) => Promise<Uint8Array>;

function be32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Where the internal log lies: sb_logstart is an AG-encoded block number. */
function logPlace(sb: XfsSuperblock, deviceBytes: number): { start: number; bbs: number } | undefined {
  if (sb.logStart === 0) return undefined;
  const ag = Math.floor(sb.logStart / 2 ** sb.agBlockLog);
  const agBlock = sb.logStart - ag * 2 ** sb.agBlockLog;
  const start = (ag * sb.agBlocks + agBlock) * sb.blockSize;
  const bytes = sb.logBlocks * sb.blockSize;
  if (ag >= sb.agCount || agBlock >= sb.agBlocks || bytes < 2 * BB_BYTES || start + bytes > deviceBytes) {
    throw new FilesystemCorruptError(
      `XFS log at block ${sb.logStart} (${sb.logBlocks} blocks) lies outside the device`,
      { logStart: sb.logStart, logBlocks: sb.logBlocks },
    );
  }
  return { start, bbs: bytes / BB_BYTES };
}

/** Clean, dirty or external (not on this device: not checked). Damage throws FilesystemCorruptError. */
export async function xfsLogState(sb: XfsSuperblock, deviceBytes: number, read: Read): Promise<XfsLogState> {
  const place = logPlace(sb, deviceBytes);
  if (place === undefined) return { state: 'external' };
  const bb = (i: number, length = 4): Promise<Uint8Array> => read(place.start + i * BB_BYTES, length);
  // A record header's first word is the magic; its cycle is h_cycle, the next word.
  const cycle = async (i: number): Promise<number> => {
    const head = await bb(i, 8);
    return be32(head, be32(head, 0) === XLOG_HEADER_MAGIC ? 4 : 0);
  };
  const first = await cycle(0);
  const last = await cycle(place.bbs - 1);
  let head = place.bbs; // every BB in one cycle: the last record ends at the log's end
  if (first !== last) {
    // [0, head) carries `first`, [head, end) `last`: binary search for the drop.
    let lo = 0;
    let hi = place.bbs - 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await cycle(mid)) === first) lo = mid;
      else hi = mid;
    }
    head = hi;
  }
  for (let back = 1; back <= Math.min(MAX_RECORD_SCAN_BBS, place.bbs); back += 1) {
    const at = (head - back + place.bbs) % place.bbs;
    const header = await bb(at, BB_BYTES);
    if (be32(header, 0) !== XLOG_HEADER_MAGIC) continue;
    if (be32(header, H_NUM_LOGOPS) !== 1) return { state: 'dirty' };
    const size = be32(header, H_SIZE);
    const headerBbs =
      be32(header, H_VERSION) & XLOG_VERSION_2 && size > XLOG_HEADER_CYCLE_SIZE
        ? Math.ceil(size / XLOG_HEADER_CYCLE_SIZE)
        : 1;
    const op = await bb((at + headerBbs) % place.bbs, OH_FLAGS + 1);
    return { state: op[OH_FLAGS]! & XLOG_UNMOUNT_TRANS ? 'clean' : 'dirty' };
  }
  throw new FilesystemCorruptError(
    `XFS log: no record header within ${MAX_RECORD_SCAN_BBS} blocks before its head (block ${head})`,
    { head },
  );
}
