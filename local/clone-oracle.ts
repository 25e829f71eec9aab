/**
 * What a workflow clone must hold and what its refresh must write, computed from the disk images
 * themselves (the oracle of the demo and of the workflow tests, independent of the product's
 * manifests):
 *
 * - `differingBlocks`: the 512 KiB EBS blocks in which two equally long images differ;
 * - `deltaRestoreBlocks`: the PutSnapshotBlock calls of a delta restore from `before` to `after`.
 *   Images are stored in 1 MiB chunks (two EBS blocks); a delta restore starts the new snapshot
 *   from the previous one (ParentSnapshotId, so every block it does not put is inherited) and
 *   visits only the chunks whose content differs. In such a chunk it puts each half that holds
 *   data in `after`, and a half that is zero in `after` only when the chunk held data in `before`
 *   (a zero block must then overwrite the inherited data).
 */
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES, EBS_BLOCKS_PER_CHUNK } from '../lambdas/core/geometry.ts';

function isZero(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/** The slice [offset, offset + length) of `bytes`, zero-padded past its end (a sparse image's tail). */
function sliceOf(bytes: Buffer, offset: number, length: number): Buffer {
  if (offset + length <= bytes.length) return bytes.subarray(offset, offset + length);
  const padded = Buffer.alloc(length);
  if (offset < bytes.length) bytes.copy(padded, 0, offset);
  return padded;
}

/** Indexes of the 512 KiB blocks in which `a` and `b` differ (the shorter one read as zeros past its end). */
export function differingBlocks(a: Buffer, b: Buffer): number[] {
  const blocks: number[] = [];
  const length = Math.max(a.length, b.length);
  for (let offset = 0; offset < length; offset += EBS_BLOCK_SIZE_BYTES) {
    if (!sliceOf(a, offset, EBS_BLOCK_SIZE_BYTES).equals(sliceOf(b, offset, EBS_BLOCK_SIZE_BYTES)))
      blocks.push(offset / EBS_BLOCK_SIZE_BYTES);
  }
  return blocks;
}

/** The block indexes a delta restore from image `before` to image `after` puts (see above). */
export function deltaRestoreBlocks(before: Buffer, after: Buffer): number[] {
  const blocks: number[] = [];
  const length = Math.max(before.length, after.length);
  for (let offset = 0; offset < length; offset += CHUNK_SIZE_BYTES) {
    const old = sliceOf(before, offset, CHUNK_SIZE_BYTES);
    const next = sliceOf(after, offset, CHUNK_SIZE_BYTES);
    if (old.equals(next)) continue;
    const oldHeldData = !isZero(old);
    for (let half = 0; half < EBS_BLOCKS_PER_CHUNK; half += 1) {
      const data = next.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES);
      if (!isZero(data) || oldHeldData) blocks.push(offset / EBS_BLOCK_SIZE_BYTES + half);
    }
  }
  return blocks;
}
