/**
 * Ports of the lifecycle core (retention, image deletion, garbage collection, scrub, cost). Small on
 * purpose: each is one S3 or DynamoDB capability, so the adapters stay thin and the in-memory fakes
 * in test/ can be exact.
 */
import type { PutIfAbsentResult, PutObjectRequest } from '../store/object-store.ts';

/** What a listing says about one object (S3 ListObjectsV2 `Contents`). */
export interface ObjectInfo {
  readonly key: string;
  /** Stored bytes. */
  readonly size: number;
  readonly lastModified: Date;
}

export interface ListPage {
  /** In key order (UTF-8 binary order, as S3 lists). */
  readonly objects: readonly ObjectInfo[];
  /** More keys follow the last one returned. */
  readonly isTruncated: boolean;
}

/** S3 DeleteObjects takes at most 1,000 keys per request. */
export const DELETE_OBJECTS_MAX_KEYS = 1000;
/** S3 ListObjectsV2 returns at most 1,000 keys per page. */
export const LIST_MAX_KEYS = 1000;

/** Why one key of a batch delete was not deleted (S3 DeleteObjects `Errors[].Code`). */
export interface DeleteFailure {
  readonly key: string;
  /** `AccessDenied` for an object under Object Lock retention; anything else is unexpected. */
  readonly code: string;
  readonly message: string;
}

export interface DeleteOutcome {
  /** Keys deleted, or already absent (S3 reports a delete of a missing key as deleted). */
  readonly deleted: readonly string[];
  readonly failed: readonly DeleteFailure[];
}

/**
 * The image bucket as garbage collection, scrub and deletion see it. Implemented over S3 by the
 * adapter and by a Map in tests.
 */
export interface LifecycleObjectStore {
  /**
   * One page of keys under `prefix` strictly after `startAfter` (S3 ListObjectsV2 `StartAfter`),
   * at most `maxKeys` (≤ LIST_MAX_KEYS). Resuming from the last key seen needs no token.
   */
  listPage(prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListPage>;
  /** The whole object. NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /** Bytes [start, end) of an object (a ranged GET). NotFoundError when absent. */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  /** Conditional create (If-None-Match: *); used for the collector's own spill files. */
  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult>;
  /** Deletes up to DELETE_OBJECTS_MAX_KEYS keys (S3 DeleteObjects, quiet mode off). */
  deleteObjects(keys: readonly string[]): Promise<DeleteOutcome>;
  /**
   * Sets the Object Lock retain-until date of `keys` to `until` (S3 PutObjectRetention per key, or
   * one S3 Batch Operations job). A date earlier than the current one is ignored, never shortened.
   */
  extendRetention(keys: readonly string[], until: Date): Promise<void>;
}

/** Lifecycle state of an image record. `deleting` images are neither listed nor restorable. */
export type ImageLifecycleStatus = 'live' | 'deleting';

/** An image record as lifecycle jobs need it (docs/image-format.md, plus lifecycle attributes). */
export interface LifecycleImage {
  readonly volumeId: string;
  readonly imageId: string;
  readonly createdAt: string;
  readonly manifestKey: string;
  readonly manifestSha256: string;
  readonly volumeSizeBytes: number;
  readonly status: ImageLifecycleStatus;
  readonly legalHold?: boolean;
  /** Object Lock retain-until of the image's manifest (ISO-8601), when the bucket uses Object Lock. */
  readonly lockedUntil?: string;
  /** Server and source (replica/primary), for grouping retention and cost by server. */
  readonly serverId?: string;
  readonly source?: 'replica' | 'primary';
  readonly recoveryPointId?: string;
  /** Figures of the backup that made it (request counts and bytes), when recorded. */
  readonly stats?: Readonly<Record<string, number>>;
}

/** A legal hold set or lifted on an image record (PUT /images/{imageId}/legal-hold). */
export interface LegalHoldChange {
  readonly legalHold: boolean;
  /** Why the image is held (1-256 characters); only with `legalHold: true`. */
  readonly reason?: string;
  /** ISO-8601 UTC. */
  readonly changedAt: string;
  /** Who changed it: the caller's IAM ARN. */
  readonly changedBy: string;
}

export type LegalHoldWrite = 'changed' | 'missing' | 'deleting';

export interface LifecycleImageRecords {
  /** Every image record of every volume (live and deleting), ordered by volumeId then imageId. */
  listImages(): Promise<LifecycleImage[]>;
  /**
   * Every image record of one volume (live and deleting), by image id, with the server grouping
   * listImages gives it: what a volume-scoped request reads instead of the whole fleet.
   */
  listVolume(volumeId: string): Promise<LifecycleImage[]>;
  /**
   * Every image record of the volumes whose server is `serverId` (live and deleting), ordered as
   * listImages: only those volumes' records are read.
   */
  listServer(serverId: string): Promise<LifecycleImage[]>;
  /** NotFoundError when there is no record. */
  getImage(volumeId: string, imageId: string): Promise<LifecycleImage>;
  /**
   * Sets status `deleting` (idempotent). `missing` when the record is already gone; `held` (nothing
   * changed) when a live record is under legal hold: the check and the mark are one conditional
   * write, so a hold set after the caller read the record is never marked over.
   */
  markDeleting(volumeId: string, imageId: string): Promise<'marked' | 'missing' | 'held'>;
  /**
   * Sets or lifts the record's legal hold, with who changed it, when and why (a reason only with a
   * hold; lifting removes it). Idempotent. Only a live record changes: `deleting` (nothing changed)
   * when its deletion has begun, `missing` when there is no record.
   */
  setLegalHold(volumeId: string, imageId: string, change: LegalHoldChange): Promise<LegalHoldWrite>;
  /** Removes the record and its id guard (idempotent). */
  deleteImage(volumeId: string, imageId: string): Promise<void>;
}
