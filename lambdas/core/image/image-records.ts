/**
 * Image records: the commit point of a backup. An image exists for readers exactly when its
 * record exists; the manifest in the object store is written before it. The DynamoDB item shape
 * is documented in docs/image-format.md ("Image records").
 */

import type { CommitConditions } from '../lifecycle/commit-gate.ts';
import type { ImageKind } from './image-types.ts';

export type { ImageKind };

export interface ImageRecordStats {
  /** Chunk objects this image created (not stored before). */
  readonly chunksCreated: number;
  /** Bytes of the chunk objects this image created (compressed, with headers). */
  readonly bytesCreated: number;
  /** EBS blocks read with GetSnapshotBlock. */
  readonly blocksRead: number;
}

export interface ImageRecord {
  readonly volumeId: string;
  readonly imageId: string;
  /** ISO-8601 UTC, millisecond precision; orders a volume's images. */
  readonly createdAt: string;
  readonly kind: ImageKind;
  /** Image format version of the manifest (docs/image-format.md). */
  readonly formatVersion: number;
  readonly snapshotId: string;
  readonly parentImageId?: string;
  readonly parentSnapshotId?: string;
  readonly volumeSizeBytes: number;
  /** Object key of the manifest. */
  readonly manifestKey: string;
  /** Hex SHA-256 of the manifest object, so a reader can verify what it loads. */
  readonly manifestSha256: string;
  readonly stats: ImageRecordStats;
  /** The copy the image was read from; absent on records written before sources existed (replica). */
  readonly source?: 'replica' | 'primary';
}

export interface ImageRecordStore {
  /**
   * Writes the record unless one with the same (volumeId, imageId) exists. Writing the same record
   * twice is success (`exists`); a different record under the same id is a ConflictError.
   * `conditions` (the garbage-collection fence, lambdas/core/lifecycle/commit-gate.ts) are checked
   * in the same write: a fence no longer idle at the epoch is a RetryableError, a parent no longer
   * live a NotFoundError.
   */
  putImageRecord(record: ImageRecord, conditions?: CommitConditions): Promise<'created' | 'exists'>;
  /** NotFoundError when the image has no record (it does not exist). */
  getImageRecord(volumeId: string, imageId: string): Promise<ImageRecord>;
  /** Every committed image of the volume, oldest first. */
  listImageRecords(volumeId: string): Promise<ImageRecord[]>;
  /**
   * The committed image with this id, whichever volume it belongs to (also one no longer a
   * replica), with one key lookup; undefined when there is none.
   */
  findImageRecord(imageId: string): Promise<ImageRecord | undefined>;
}

/** Field-by-field equality of two records, for idempotent re-commits. */
export function sameImageRecord(a: ImageRecord, b: ImageRecord): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}
