/** Volume geometry shared by the EBS direct API, the image format and the restores. */

/** EBS direct API block size: fixed by the service for every snapshot (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html). */
export const EBS_BLOCK_SIZE_BYTES = 524_288;

/** One image chunk is one 1 MiB S3 object: EBS blocks 2k and 2k+1 (docs/image-format.md). */
export const CHUNK_SIZE_BYTES = 1_048_576;

/** EBS blocks per image chunk. */
export const EBS_BLOCKS_PER_CHUNK = CHUNK_SIZE_BYTES / EBS_BLOCK_SIZE_BYTES;

/** EBS volume sizes are whole GiB. */
export const GIB_BYTES = 1_073_741_824;

/**
 * Largest EBS volume: 64 TiB (StartSnapshot VolumeSize maximum,
 * https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html).
 */
export const MAX_VOLUME_SIZE_GIB = 65_536;

export function blocksInVolume(volumeSizeGib: number): number {
  return (volumeSizeGib * GIB_BYTES) / EBS_BLOCK_SIZE_BYTES;
}

export function chunksInVolume(volumeSizeGib: number): number {
  return (volumeSizeGib * GIB_BYTES) / CHUNK_SIZE_BYTES;
}

export function chunkIndexOfBlock(blockIndex: number): number {
  return Math.floor(blockIndex / EBS_BLOCKS_PER_CHUNK);
}
