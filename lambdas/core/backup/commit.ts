/**
 * Commit protocol (docs/image-format.md, "Commit"): chunks and segments are written by the range
 * workers; then the manifest (write-once), then the image record. The record is the commit point.
 * Re-running a commit with the same summaries is a no-op that succeeds.
 */
import { IntegrityError, ValidationError } from '../errors.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { EMPTY_IMAGE_STATS, addStats, segmentCount } from '../image/image-types.ts';
import type { HeldLockCondition, ImageRecord, ImageRecordStore } from '../image/image-records.ts';
import type { CommitConditions } from '../lifecycle/commit-gate.ts';
import type { RangeSummary } from './range-worker.ts';

export interface CommitRequest {
  readonly volumeId: string;
  readonly imageId: string;
  readonly snapshotId: string;
  readonly parentImageId?: string;
  readonly parentSnapshotId?: string;
  /** ISO-8601 creation time, chosen once by the caller (the state machine), so a re-run is identical. */
  readonly createdAt: string;
  /** The planner's reason for reading in full although a parent image exists. */
  readonly fullReadReason?: string;
  /** The copy the snapshot was taken of (core/backup/primary-source.ts); recorded on the image record. */
  readonly source?: 'replica' | 'primary';
  readonly summaries: readonly RangeSummary[];
  /** The backup's lock on the volume, checked in the record's write (a cancelled backup lost it). */
  readonly lock?: HeldLockCondition;
  /** The server the backup is filed under, registered with the volume in the record's write. */
  readonly serverId?: string;
}

export interface CommitResult {
  readonly manifest: ImageManifest;
  readonly record: ImageRecord;
}

export async function commitImage(
  deps: {
    readonly images: ImageStore;
    readonly records: ImageRecordStore;
    /**
     * The garbage-collection commit gate (lambdas/core/lifecycle/commit-gate.ts): given the
     * image's segments, waits out or verifies against a collection and returns the conditions the
     * record's write must check. Absent: the record is written unconditioned.
     */
    readonly gate?: (segments: readonly string[]) => Promise<CommitConditions>;
  },
  request: CommitRequest,
): Promise<CommitResult> {
  const summaries = [...request.summaries].sort((a, b) => a.firstBlock - b.firstBlock);
  if (summaries.length === 0) throw new ValidationError(`image ${request.imageId} has no ranges`);
  const volumeSizeBytes = summaries[0]!.volumeSizeBytes;
  const segments: string[] = [];
  for (const summary of summaries) {
    if (summary.volumeSizeBytes !== volumeSizeBytes) {
      throw new IntegrityError(`ranges of image ${request.imageId} saw different volume sizes`, {
        context: { imageId: request.imageId, firstBlock: summary.firstBlock },
      });
    }
    if (summary.firstSegment !== segments.length) {
      throw new ValidationError(
        `ranges of image ${request.imageId} do not tile the volume: segment ${segments.length} expected, ${summary.firstSegment} found`,
        { context: { imageId: request.imageId } },
      );
    }
    segments.push(...summary.segments);
  }
  const expected = segmentCount(volumeSizeBytes);
  if (segments.length !== expected) {
    throw new ValidationError(
      `ranges of image ${request.imageId} cover ${segments.length} of ${expected} segments`,
      {
        context: { imageId: request.imageId },
      },
    );
  }
  const incremental =
    request.parentSnapshotId !== undefined && summaries.every((s) => s.mode === 'incremental');
  const fullReadReason =
    request.fullReadReason ?? summaries.find((s) => s.fullReadReason !== undefined)?.fullReadReason;
  const stats = summaries.reduce((sum, s) => addStats(sum, s.stats), EMPTY_IMAGE_STATS);
  const manifest: ImageManifest = {
    formatVersion: 0, // set by the codec that writes it
    volumeId: request.volumeId,
    imageId: request.imageId,
    createdAt: request.createdAt,
    kind: incremental ? 'incremental' : 'full',
    snapshotId: request.snapshotId,
    ...(request.parentImageId === undefined ? {} : { parentImageId: request.parentImageId }),
    ...(incremental ? { parentSnapshotId: request.parentSnapshotId } : {}),
    ...(!incremental && request.parentImageId !== undefined && fullReadReason !== undefined
      ? { fullReadReason }
      : {}),
    volumeSizeBytes,
    blockSizeBytes: 0,
    chunkSizeBytes: 0,
    segmentChunks: 0,
    segments,
    stats,
  };
  const written = await deps.images.putManifest(manifest);
  const stored = await deps.images.getManifest(request.volumeId, request.imageId, written.sha256);
  const record: ImageRecord = {
    volumeId: request.volumeId,
    imageId: request.imageId,
    createdAt: request.createdAt,
    kind: stored.kind,
    formatVersion: stored.formatVersion,
    snapshotId: request.snapshotId,
    ...(stored.parentImageId === undefined ? {} : { parentImageId: stored.parentImageId }),
    ...(stored.parentSnapshotId === undefined ? {} : { parentSnapshotId: stored.parentSnapshotId }),
    // A full read the operator did not ask for is told where they look (API, `rbp images`), not
    // only in the manifest: it costs a GetSnapshotBlock per written block of the volume.
    ...(stored.fullReadReason === undefined ? {} : { fullReadReason: stored.fullReadReason }),
    volumeSizeBytes,
    manifestKey: written.key,
    manifestSha256: written.sha256,
    stats: {
      chunksCreated: stats.chunksCreated,
      bytesCreated: stats.bytesCreated,
      blocksRead: stats.blocksRead,
      ...(stored.fullReadReason === undefined
        ? {}
        : {
            blocksReadInFull: summaries
              .filter((s) => s.mode === 'full')
              .reduce((sum, s) => sum + s.stats.blocksRead, 0),
          }),
    },
    ...(request.source === undefined ? {} : { source: request.source }),
  };
  const conditions = deps.gate === undefined ? undefined : await deps.gate(stored.segments);
  await deps.records.putImageRecord(
    record,
    conditions,
    request.lock,
    request.serverId === undefined ? undefined : { serverId: request.serverId },
  );
  return { manifest: stored, record };
}

/** Loads a committed image: its record (it exists only with one) and its verified manifest. */
export async function loadCommittedImage(
  deps: { readonly images: ImageStore; readonly records: ImageRecordStore },
  volumeId: string,
  imageId: string,
): Promise<{ record: ImageRecord; manifest: ImageManifest }> {
  const record = await deps.records.getImageRecord(volumeId, imageId);
  const manifest = await deps.images.getManifest(volumeId, imageId, record.manifestSha256);
  return { record, manifest };
}
