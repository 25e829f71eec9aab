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
  /**
   * Of `blocksRead`, those read in ranges that fell back to a full read (the rest were changed
   * blocks); present exactly when the record has `fullReadReason`.
   */
  readonly blocksReadInFull?: number;
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
  /**
   * Why the image was read in full although it has a parent (the manifest's `fullReadReason`:
   * UNRELATED_SNAPSHOTS, PARENT_SNAPSHOT_NOT_FOUND, VOLUME_SIZE_CHANGED, QUARANTINED_CHUNK); absent on every other
   * image and on records written before it was recorded.
   */
  readonly fullReadReason?: string;
  readonly volumeSizeBytes: number;
  /** Object key of the manifest. */
  readonly manifestKey: string;
  /** Hex SHA-256 of the manifest object, so a reader can verify what it loads. */
  readonly manifestSha256: string;
  readonly stats: ImageRecordStats;
  /** The copy the image was read from; absent on records written before sources existed (replica). */
  readonly source?: ImageSource;
  /**
   * Present (true) while an operator holds the image (PUT /images/{id}/legal-hold), with the hold's
   * reason when one was given. Not part of the commit: sameImageRecord ignores both.
   */
  readonly legalHold?: true;
  readonly legalHoldReason?: string;
}

/** Which copy an image was read from; its incrementals chain only to images of the same source. */
export type ImageSource = 'replica' | 'primary';

/** One page of a volume's image records, as the store reads it (never the whole list). */
export interface ImageRecordQuery {
  /** At most this many records (1..). */
  readonly limit: number;
  /** A `nextToken` of a previous page of the same query. */
  readonly token?: string | undefined;
  /** Newest first; oldest first when false or absent. */
  readonly newestFirst?: boolean;
  /** Only records created at or after / at or before these instants (ISO-8601 UTC, milliseconds). */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly kind?: ImageKind | undefined;
}

export interface ImageRecordPage {
  readonly records: ImageRecord[];
  /** Present when more may follow (a page may be short and still have one). */
  readonly nextToken?: string;
}

/**
 * The backup lock the commit must still hold (a third condition of the record's write): a backup
 * that was cancelled released its lock first, so its commit fails (a ConflictError) rather than
 * leaving an image of a cancelled backup committed.
 */
export interface HeldLockCondition {
  readonly volumeId: string;
  readonly ownerId: string;
}

/**
 * The server whose backup commits an image, registered with the image's volume in the commit's
 * own write (lambdas/core/lifecycle/protected-volumes.ts), so the volume and its server stay known
 * after its replica volume or its tags are gone.
 */
export interface VolumeOwner {
  readonly serverId: string;
}

export interface ImageRecordStore {
  /**
   * Writes the record unless one with the same (volumeId, imageId) exists. Writing the same record
   * twice is success (`exists`); a different record under the same id is a ConflictError.
   * `conditions` (the garbage-collection fence, lambdas/core/lifecycle/commit-gate.ts) are checked
   * in the same write: a fence no longer idle at the epoch is a RetryableError, a parent no longer
   * live a NotFoundError; `lock` no longer held by its owner a ConflictError. The same write
   * registers the record's volume as protected, with `owner`'s server when given (idempotent).
   */
  putImageRecord(
    record: ImageRecord,
    conditions?: CommitConditions,
    lock?: HeldLockCondition,
    owner?: VolumeOwner,
  ): Promise<'created' | 'exists'>;
  /** NotFoundError when the image has no record (it does not exist). */
  getImageRecord(volumeId: string, imageId: string): Promise<ImageRecord>;
  /** Every committed image of the volume, oldest first. */
  listImageRecords(volumeId: string): Promise<ImageRecord[]>;
  /** One page of the volume's committed images (one Query per page in DynamoDB). */
  pageImageRecords(volumeId: string, query: ImageRecordQuery): Promise<ImageRecordPage>;
  /**
   * The newest committed image of the volume's `source` lineage other than `excludeImageId`
   * (what an incremental chains to), or undefined: one Limit-1 Query in DynamoDB.
   */
  latestImageRecord(
    volumeId: string,
    source: ImageSource,
    excludeImageId?: string,
  ): Promise<ImageRecord | undefined>;
  /** How many committed images the volume has (no record leaves the store). */
  countImageRecords(volumeId: string): Promise<number>;
  /**
   * The committed image with this id, whichever volume it belongs to (also one no longer a
   * replica), with one key lookup; undefined when there is none.
   */
  findImageRecord(imageId: string): Promise<ImageRecord | undefined>;
}

/** Field-by-field equality of two records, for idempotent re-commits. */
export function sameImageRecord(a: ImageRecord, b: ImageRecord): boolean {
  return canonicalJson(committedFields(a)) === canonicalJson(committedFields(b));
}

/** The record as its backup committed it: without the operator's legal hold. */
function committedFields(record: ImageRecord): ImageRecord {
  const { legalHold: _hold, legalHoldReason: _reason, ...committed } = record;
  return committed;
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}
