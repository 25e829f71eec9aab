/**
 * Hashes of the image format (docs/image-format.md, "Names"). A chunk is named by
 * SHA-256(digest(first 512 KiB half) || digest(second half)), where each half digest is the plain
 * SHA-256 of that half's 524,288 bytes. For a fully written EBS block the half digest is exactly
 * the checksum GetSnapshotBlock returns and the engine verifies anyway, so naming a chunk costs a
 * 64-byte hash instead of a second pass over the megabyte.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';

export const DIGEST_BYTES = 32;

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

/** Base64 of the big-endian CRC32: the value of S3's x-amz-checksum-crc32. */
export function crc32Base64(data: Uint8Array): string {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(crc32(data));
  return value.toString('base64');
}

/** SHA-256 of 512 KiB of zeros: the digest of a missing (never written or vanished) half. */
export const ZERO_HALF_DIGEST: Buffer = sha256(new Uint8Array(EBS_BLOCK_SIZE_BYTES));

/** The name of a chunk from its two half digests (raw 32-byte digests). */
export function chunkNameFromDigests(first: Uint8Array, second: Uint8Array): string {
  return createHash('sha256').update(first).update(second).digest('hex');
}

/** Name of the all-zero chunk. Never stored: a zero entry stands for it. */
export const ZERO_CHUNK_CONTENT_NAME = chunkNameFromDigests(ZERO_HALF_DIGEST, ZERO_HALF_DIGEST);

/** Sentinel for "all zeros" in segment tables and manifests: 64 hex zeros (32 zero bytes). */
export const ZERO_HASH_HEX = '0'.repeat(DIGEST_BYTES * 2);

export function isZeroHash(hex: string): boolean {
  return hex === ZERO_HASH_HEX;
}

const ZEROS_FOR_COMPARE = Buffer.alloc(1_048_576);

/** True when every byte is zero (memcmp against a zero buffer, 1 MiB at a time). */
export function isAllZero(data: Uint8Array): boolean {
  for (let offset = 0; offset < data.length; offset += ZEROS_FOR_COMPARE.length) {
    const part = data.subarray(offset, offset + ZEROS_FOR_COMPARE.length);
    if (Buffer.compare(part, ZEROS_FOR_COMPARE.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}

export const HEX_HASH_PATTERN = /^[0-9a-f]{64}$/;
