/**
 * Reading a raw disk image into snapshot blocks (EC2 CreateSnapshot of a replica volume): the
 * image's data extents are read in large buffers, each non-zero block (and each block the volume
 * keeps allocated, even if zero) is stored by its SHA-256 and listed; holes are skipped unread.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { blocksInVolume, EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { blockRangesOf, listDataExtents } from './ebs-image-extents.ts';
import type { EbsStateStore } from './ebs-state-store.ts';

/** Freezing reads the image in buffers this big: 32 blocks per read keeps syscalls few and memory small. */
export const FREEZE_READ_BUFFER_BYTES = 32 * EBS_BLOCK_SIZE_BYTES;

const ZERO_BLOCK = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
const ZERO_BLOCK_DIGEST = createHash('sha256').update(ZERO_BLOCK).digest();

export interface ImageToFreeze {
  readonly imagePath: string;
  readonly volumeSizeGib: number;
}

/**
 * Stores the image's blocks in `store` and returns `[blockIndex, digest]` for every non-zero block
 * and every block of `forced` within the volume (zero-filled where the image has none).
 */
export async function readImageBlocks(
  store: EbsStateStore,
  image: ImageToFreeze,
  forced: ReadonlySet<number>,
): Promise<[number, Buffer][]> {
  const totalBlocks = blocksInVolume(image.volumeSizeGib);
  const entries: [number, Buffer][] = [];
  const file = await open(image.imagePath, 'r');
  try {
    const imageBytes = Math.min((await file.stat()).size, image.volumeSizeGib * GIB_BYTES);
    const extents = (await listDataExtents(image.imagePath)) ?? [[0, imageBytes]];
    const ranges = blockRangesOf(extents, EBS_BLOCK_SIZE_BYTES, imageBytes);
    const buffer = Buffer.alloc(FREEZE_READ_BUFFER_BYTES);
    const blocksPerBuffer = FREEZE_READ_BUFFER_BYTES / EBS_BLOCK_SIZE_BYTES;
    const read = new Set<number>();
    for (const [firstBlock, endBlock] of ranges) {
      for (let chunkStart = firstBlock; chunkStart < endBlock; chunkStart += blocksPerBuffer) {
        const chunkBlocks = Math.min(blocksPerBuffer, endBlock - chunkStart);
        const offset = chunkStart * EBS_BLOCK_SIZE_BYTES;
        const wanted = Math.min(chunkBlocks * EBS_BLOCK_SIZE_BYTES, imageBytes - offset);
        let filled = 0;
        while (filled < wanted) {
          const { bytesRead } = await file.read(buffer, filled, wanted - filled, offset + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        buffer.fill(0, filled);
        for (let within = 0; within < chunkBlocks; within += 1) {
          const blockIndex = chunkStart + within;
          read.add(blockIndex);
          const data = buffer.subarray(within * EBS_BLOCK_SIZE_BYTES, (within + 1) * EBS_BLOCK_SIZE_BYTES);
          const isZero = data.equals(ZERO_BLOCK);
          if (isZero && !forced.has(blockIndex)) continue;
          const digest = isZero ? ZERO_BLOCK_DIGEST : createHash('sha256').update(data).digest();
          await store.putBlock(digest, data);
          entries.push([blockIndex, digest]);
        }
      }
    }
    // Blocks written with zeros (or allocated before) that now lie in holes or past the end of the image.
    const zeroBlocks = [...forced].filter((blockIndex) => !read.has(blockIndex) && blockIndex < totalBlocks);
    if (zeroBlocks.length > 0) await store.putBlock(ZERO_BLOCK_DIGEST, ZERO_BLOCK);
    for (const blockIndex of zeroBlocks) entries.push([blockIndex, ZERO_BLOCK_DIGEST]);
  } finally {
    await file.close();
  }
  return entries;
}
