/**
 * Whole-volume restores as a state machine (statemachines/volume-restore.asl.json), so that no
 * restore is bound by one Lambda's 15 minutes: Plan Restore starts the snapshot and lists the block
 * ranges, a Distributed Map runs Restore Range per range, Complete Restore sends CompleteSnapshot
 * with the changed-block count and the LINEAR checksum, a Check/Wait loop waits for `completed`,
 * and Finish Restore marks the job succeeded (Fail Restore marks it failed with the reason).
 *
 * Resumable: every segment (1 GiB) a range finishes is recorded in the work bucket with the
 * digests of the blocks it put; a retried or re-run range skips recorded segments and rewrites at
 * most the segment it was in (PutSnapshotBlock may overwrite a block). StartSnapshot's ClientToken
 * derives from the restore id, so a re-planned restore continues the same snapshot.
 *
 * Memory does not grow with the volume size: Plan Restore reads the manifests as streams
 * (volume-restore-manifest.ts) and writes each range's segment hashes to a range object as it goes,
 * RESTORE_RANGE_WRITES_IN_FLIGHT at a time; a range worker reads its range object (never the
 * manifest) and holds one segment's table and digests (64 KiB) and RESTORE_CHUNKS_IN_FLIGHT
 * chunks; Complete Restore hashes the range records in order, RESTORE_RECORD_READS_IN_FLIGHT at a
 * time. What Plan Restore still holds in proportion to something is its item list (one item of
 * about 130 bytes per range that has something to write, written as one object for the Map's
 * ItemReader). That is bounded by the largest EBS volume, 64 TiB
 * (https://docs.aws.amazon.com/ebs/latest/userguide/volume_constraints.html): 16,384 ranges, about
 * 2 MB when every range holds data. A streamed (multipart) upload would not hold less: every part
 * but the last must be at least 5 MiB
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
 *
 * Delta restores (parentRestoreId): the new snapshot starts from the parent restore's snapshot
 * and only chunks whose entry differs between the two images' segment tables are put; segments
 * with the same hash in both manifests are skipped without reading them. Within a differing
 * chunk a half is put when it holds data, or (as zeros) when the parent's chunk held data.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConflictError, IntegrityError, NotFoundError, PermanentError, RbpError } from '../errors.ts';
import { EBS_BLOCK_SIZE_BYTES, EBS_BLOCKS_PER_CHUNK, GIB_BYTES } from '../geometry.ts';
import { DIGEST_BYTES, ZERO_HALF_DIGEST, ZERO_HASH_HEX, isZeroHash, sha256Hex } from '../image/hashing.ts';
import type { ImageStore } from '../image/image-store.ts';
import { SEGMENT_CHUNKS, segmentEntryCount } from '../image/image-types.ts';
import type { SnapshotBlockWriter, SnapshotStateReader } from '../backup/snapshot-ports.ts';
import { putJsonOnce } from '../backup/work-area.ts';
import type { Clock, StepLog } from '../ports.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../util/retry.ts';
import type { RestoredVolumes } from './restored-volumes.ts';
import {
  requireDeltaParent,
  type VolumeRestoreJob,
  type VolumeRestoreJobStore,
} from './volume-restore-jobs.ts';
import {
  RESTORE_CHUNKS_IN_FLIGHT,
  RESTORE_SNAPSHOT_TIMEOUT_MINUTES,
  restoreClientToken,
  restoredSnapshotTags,
  snapshotBlockPutter,
} from './volume-restore.ts';
import { openManifestStream, type ManifestPieces, type ManifestStream } from './volume-restore-manifest.ts';
import {
  restoreRangeWorkSchema,
  type RestorePlan,
  type RestoreRangeItem,
  type RestoreRangeJob,
  type RestoreRangeOutput,
  type RestoreRangeWork,
  type RestoreSnapshotCheck,
} from './volume-restore-state.ts';

/** Segments (1 GiB) per range: 4 GiB = 8,192 blocks, about 2 minutes at one worker's share of the budget; 16 TiB is 4,096 items. */
export const RESTORE_RANGE_SEGMENTS = 4;
/**
 * PutSnapshotBlock requests per second for one snapshot, all range workers together: half of the
 * 1,000/s per-snapshot PutSnapshotBlock quota, which other writers in the account share
 * (https://docs.aws.amazon.com/general/latest/gr/ebs-service.html).
 */
export const SNAPSHOT_WRITE_BUDGET_REQUESTS_PER_SECOND = 500;
/** Range workers of one restore at once (the Distributed Map's MaxConcurrency). */
export const DEFAULT_RESTORE_RANGE_WORKERS = 8;
/** Range records Complete Restore reads at once (each at most 8,192 × 32 bytes = 256 KiB). */
export const RESTORE_RECORD_READS_IN_FLIGHT = 16;
/**
 * Range objects Plan Restore writes at once: enough to keep 16,384 PUTs (a 64 TiB volume full of
 * data) to seconds, few enough that the plan holds a handful of ~600-byte objects.
 */
export const RESTORE_RANGE_WRITES_IN_FLIGHT = 16;
/** Key prefix of the restores' work objects in the work bucket (the state machine's grants cover it). */
export const VOLUME_RESTORE_WORK_PREFIX = 'volume-restores/';

const ZERO_BLOCK = new Uint8Array(EBS_BLOCK_SIZE_BYTES);

export function restoreWorkPrefix(restoreId: string): string {
  return `${VOLUME_RESTORE_WORK_PREFIX}${restoreId}/`;
}
export function restoreItemsKey(restoreId: string): string {
  return `${restoreWorkPrefix(restoreId)}items.json`;
}
/**
 * A range object (restoreRangeWorkSchema), named by its index and its SHA-256: an attempt of Plan
 * Restore that read other bytes (and failed its manifest's digest check) wrote other keys, which
 * no item names.
 */
export function restoreRangeWorkKey(restoreId: string, index: number, sha256: string): string {
  return `${restoreWorkPrefix(restoreId)}range-work/${String(index).padStart(8, '0')}-${sha256}.json`;
}
/** The digests of the blocks one finished segment put, in block order (zero-padded: listings sort). */
export function restoreSegmentRecordKey(restoreId: string, segment: number): string {
  return `${restoreWorkPrefix(restoreId)}segments/${String(segment).padStart(8, '0')}.digests`;
}
/** The digests of the blocks one finished range put, in block order. */
export function restoreRangeRecordKey(restoreId: string, index: number): string {
  return `${restoreWorkPrefix(restoreId)}ranges/${String(index).padStart(8, '0')}.digests`;
}
/** Why a range's last failed attempt failed (restoreRangeFailureSchema); the same index as its record. */
export function restoreRangeFailureKey(restoreId: string, index: number): string {
  return `${restoreWorkPrefix(restoreId)}range-failures/${String(index).padStart(8, '0')}.json`;
}

/**
 * The error Step Functions gives a Distributed Map whose children failed, never a child's own
 * (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html): Fail Restore
 * then reads the ranges' failure records for the real error.
 */
export const MAP_RUN_FAILED_ERROR = 'States.ExceedToleratedFailureThreshold';

/** One restore range's last failed attempt. */
export const restoreRangeFailureSchema = z.object({
  index: z.number().int().min(0),
  errorName: z.string().min(1),
  message: z.string(),
  /** An RbpError that is not retryable: no retry can make the range succeed. */
  permanent: z.boolean(),
});
export type RestoreRangeFailure = z.infer<typeof restoreRangeFailureSchema>;

export interface VolumeRestoreStepDeps {
  readonly jobs: VolumeRestoreJobStore;
  readonly clock: Clock;
  readonly images: ImageStore;
  readonly writer: SnapshotBlockWriter;
  readonly snapshots: SnapshotStateReader;
  /** The work bucket: item lists and the ranges' progress records. */
  readonly work: ObjectStore;
  readonly workBucket: string;
  /** The manifest object of a committed image in pieces, with the digest its image record gives. */
  openManifest(volumeId: string, imageId: string): Promise<ManifestPieces>;
  /** Range workers at once (default DEFAULT_RESTORE_RANGE_WORKERS). */
  readonly rangeWorkers?: number;
  /** PutSnapshotBlock requests per second per snapshot (default SNAPSHOT_WRITE_BUDGET_REQUESTS_PER_SECOND). */
  readonly writeBudget?: number;
  readonly retry?: RetryPolicy;
  /** CreateVolume for jobs that ask for a volume (restored-volumes.ts); absent: such a job fails. */
  readonly volumes?: RestoredVolumes;
}

export interface RestoreRangeDeps extends VolumeRestoreStepDeps {
  /** Paces this worker's PutSnapshotBlock requests (its share of the budget). */
  readonly writePacer: { acquire(): Promise<void> };
  /** Where a failure to record a range's failure is logged (default: nowhere). */
  readonly log?: StepLog;
}

async function runningJob(jobs: VolumeRestoreJobStore, restoreId: string): Promise<VolumeRestoreJob> {
  const job = await jobs.get(restoreId);
  if (job.status !== 'running') {
    throw new ConflictError(`volume restore ${restoreId} is ${job.status}, not running`, {
      context: { restoreId, status: job.status },
    });
  }
  return job;
}

/** Whether a segment has anything to write: data (full restore) or a difference from the parent (delta). */
function segmentHasWork(hash: string, parentHash: string | undefined, delta: boolean): boolean {
  return delta ? hash !== (parentHash ?? ZERO_HASH_HEX) : !isZeroHash(hash);
}

/** Ranges in flight: at most `size` writes at once; the first failure is thrown by `add` or `drain`. */
class WriteWindow {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { readonly error: unknown } | undefined;

  constructor(private readonly size: number) {}

  async add(write: () => Promise<unknown>): Promise<void> {
    while (this.inFlight.size >= this.size) await Promise.race(this.inFlight);
    this.throwFailure();
    const running: Promise<void> = write()
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwFailure();
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}

async function nextSegment(manifest: ManifestStream, segment: number, key: string): Promise<string> {
  const hash = await manifest.next();
  if (hash === undefined) {
    throw new IntegrityError(`manifest of ${key} ends before segment ${segment}`, {
      context: { key, segment },
    });
  }
  return hash;
}

/**
 * The ranges of a restore, read from the manifest streams: runs of `rangeSegments` segments that
 * have something to write. Each one's range object is handed to `write` as soon as it is read; the
 * items are answered once both manifests are read to their end and verified.
 */
export async function planRestoreRanges(
  image: ManifestStream,
  parent: ManifestStream | undefined,
  write: (work: RestoreRangeWork, body: Uint8Array, sha256: string) => Promise<void>,
  rangeSegments: number = RESTORE_RANGE_SEGMENTS,
): Promise<RestoreRangeItem[]> {
  const items: RestoreRangeItem[] = [];
  const segments = image.segmentCount;
  const imageKey = `${image.header.volumeId}/${image.header.imageId}`;
  let parentLeft = parent?.segmentCount ?? 0;
  for (let first = 0; first < segments; first += rangeSegments) {
    const count = Math.min(rangeSegments, segments - first);
    const hashes: string[] = [];
    const parentHashes: string[] = [];
    for (let s = first; s < first + count; s += 1) {
      hashes.push(await nextSegment(image, s, imageKey));
      if (parent !== undefined && parentLeft > 0) {
        parentHashes.push(await nextSegment(parent, s, `${parent.header.volumeId}/${parent.header.imageId}`));
        parentLeft -= 1;
      }
    }
    if (!hashes.some((hash, i) => segmentHasWork(hash, parentHashes[i], parent !== undefined))) continue;
    const work: RestoreRangeWork = {
      index: items.length,
      firstSegment: first,
      segmentCount: count,
      volumeSizeBytes: image.header.volumeSizeBytes,
      segments: hashes,
      ...(parent === undefined
        ? {}
        : { parent: { volumeSizeBytes: parent.header.volumeSizeBytes, segments: parentHashes } }),
    };
    const body = new TextEncoder().encode(JSON.stringify(work));
    const sha256 = sha256Hex(body);
    await write(work, body, sha256);
    items.push({ index: work.index, firstSegment: first, segmentCount: count, work: sha256 });
  }
  // Both lists read to their end: the streams check the digests, the schema and the counts.
  for (const manifest of parent === undefined ? [image] : [image, parent]) {
    while ((await manifest.next()) !== undefined) {
      if (manifest === image) {
        throw new IntegrityError(`manifest of ${imageKey} lists more than ${segments} segments`, {
          context: { key: imageKey },
        });
      }
    }
  }
  return items;
}

/**
 * Plan Restore: reads the manifests (the image's and, for a delta, the parent restore's image's)
 * as streams and writes the range objects, then starts (or, on a re-run, finds again) the snapshot
 * with the job's KMS key and, for a delta, the parent restore's snapshot, marks the job running
 * and writes the range items.
 */
export async function planVolumeRestore(
  deps: VolumeRestoreStepDeps,
  restoreId: string,
): Promise<RestorePlan> {
  const job = await deps.jobs.get(restoreId);
  if (job.status !== 'pending' && job.status !== 'running') {
    throw new ConflictError(`volume restore ${restoreId} is ${job.status}: it cannot be planned`, {
      context: { restoreId, status: job.status },
    });
  }
  const parentJob =
    job.parentRestoreId === undefined
      ? undefined
      : await requireDeltaParent(deps.jobs, job.parentRestoreId, job.volumeId);
  const image = await openManifestStream(await deps.openManifest(job.volumeId, job.imageId), job);
  const parent =
    parentJob === undefined
      ? undefined
      : await openManifestStream(await deps.openManifest(job.volumeId, parentJob.imageId), {
          volumeId: job.volumeId,
          imageId: parentJob.imageId,
        });
  const writes = new WriteWindow(RESTORE_RANGE_WRITES_IN_FLIGHT);
  const items = await planRestoreRanges(image, parent, (work, body, sha256) =>
    writes.add(() => putRecordOnce(deps.work, restoreRangeWorkKey(restoreId, work.index, sha256), body)),
  );
  await writes.drain();
  const retry = deps.retry ?? DEFAULT_RETRY_POLICY;
  const started = await withRetry(retry, () =>
    deps.writer.startSnapshot({
      volumeSizeGib: Math.ceil(image.header.volumeSizeBytes / GIB_BYTES),
      clientToken: restoreClientToken(restoreId),
      timeoutMinutes: RESTORE_SNAPSHOT_TIMEOUT_MINUTES,
      description: `rbp restore ${restoreId} of ${job.volumeId}/${job.imageId}`,
      tags: restoredSnapshotTags(restoreId, job.volumeId, job.imageId),
      ...(job.kmsKeyArn === undefined ? {} : { kmsKeyArn: job.kmsKeyArn }),
      ...(parentJob === undefined ? {} : { parentSnapshotId: parentJob.snapshotId }),
    }),
  );
  const now = deps.clock.now().toISOString();
  const running: VolumeRestoreJob = {
    ...job,
    status: 'running',
    snapshotId: started.snapshotId,
    snapshotStartedAt: job.snapshotStartedAt ?? now,
    rangeCount: items.length,
    ...(parentJob === undefined
      ? {}
      : { parentSnapshotId: parentJob.snapshotId, parentImageId: parentJob.imageId }),
    updatedAt: now,
  };
  await deps.jobs.update(running, ['pending', 'running']);
  const key = restoreItemsKey(restoreId);
  await putJsonOnce(deps.work, key, items);
  const maxConcurrency = Math.max(
    1,
    Math.min(deps.rangeWorkers ?? DEFAULT_RESTORE_RANGE_WORKERS, items.length),
  );
  return {
    restoreId,
    snapshotId: started.snapshotId,
    workItems: { bucket: deps.workBucket, key },
    rangeCount: items.length,
    maxConcurrency,
    job: {
      restoreId,
      snapshotId: started.snapshotId,
      snapshotStartedAt: running.snapshotStartedAt!,
      writeRequestsPerSecond:
        (deps.writeBudget ?? SNAPSHOT_WRITE_BUDGET_REQUESTS_PER_SECOND) / maxConcurrency,
    },
  };
}

async function getIfPresent(store: ObjectStore, key: string): Promise<Uint8Array | undefined> {
  try {
    return await store.get(key);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

function putRecordOnce(store: ObjectStore, key: string, body: Uint8Array): Promise<unknown> {
  return store.putIfAbsent({
    key,
    body,
    sha256Base64: createHash('sha256').update(body).digest('base64'),
    contentType: 'application/octet-stream',
  });
}

/** A chunk to write: its index, the new entry (hex, or undefined for zeros) and whether the parent had data there. */
interface ChunkWrite {
  readonly chunkIndex: number;
  readonly name: string | undefined;
  readonly parentHadData: boolean;
}

/** One segment of a range object: its hash and, for a delta, the parent's (undefined past the parent's end). */
interface RangeSegment {
  readonly segment: number;
  readonly hash: string;
  readonly parentHash: string | undefined;
}

async function segmentWrites(
  images: ImageStore,
  work: RestoreRangeWork,
  { segment, hash, parentHash }: RangeSegment,
): Promise<ChunkWrite[]> {
  const delta = work.parent !== undefined;
  const entryCount = segmentEntryCount(work.volumeSizeBytes, segment);
  const table = await images.getSegment(hash, entryCount);
  const parentTable =
    work.parent === undefined || parentHash === undefined
      ? undefined
      : await images.getSegment(parentHash, segmentEntryCount(work.parent.volumeSizeBytes, segment));
  const writes: ChunkWrite[] = [];
  for (let i = 0; i < entryCount; i += 1) {
    const entry = table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    const isZero = entry.every((b) => b === 0);
    const old =
      parentTable === undefined || (i + 1) * DIGEST_BYTES > parentTable.length
        ? undefined
        : parentTable.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    const parentHadData = old !== undefined && !old.every((b) => b === 0);
    if (!delta ? isZero : old !== undefined ? entry.equals(old) : isZero) continue;
    writes.push({
      chunkIndex: segment * SEGMENT_CHUNKS + i,
      name: isZero ? undefined : entry.toString('hex'),
      parentHadData,
    });
  }
  return writes;
}

/** The range object an item names, verified against the item's digest and position. */
async function rangeWork(
  work: ObjectStore,
  restoreId: string,
  range: RestoreRangeItem,
): Promise<RestoreRangeWork> {
  const key = restoreRangeWorkKey(restoreId, range.index, range.work);
  const bytes = await work.get(key);
  if (sha256Hex(bytes) !== range.work) {
    throw new IntegrityError(`range object ${key} does not match its digest`, { context: { key } });
  }
  const parsed = restoreRangeWorkSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (
    !parsed.success ||
    parsed.data.index !== range.index ||
    parsed.data.firstSegment !== range.firstSegment ||
    parsed.data.segmentCount !== range.segmentCount
  ) {
    throw new PermanentError(`range object ${key} does not describe range ${range.index}`, {
      context: { key, restoreId },
    });
  }
  return parsed.data;
}

/**
 * Restore Range: writes the blocks of one range, segment by segment, skipping segments a previous
 * attempt recorded; records each finished segment and, at the end, the range. A failed attempt
 * records its error (restoreRangeFailureKey, replacing the range's earlier record; best effort)
 * and throws it unchanged, for Fail Restore to report (explainRestoreFailure).
 */
export async function restoreRangeStep(
  deps: RestoreRangeDeps,
  input: { readonly range: RestoreRangeItem; readonly job: RestoreRangeJob },
): Promise<RestoreRangeOutput> {
  try {
    return await restoreOneRange(deps, input);
  } catch (error) {
    const failure: RestoreRangeFailure = {
      index: input.range.index,
      errorName: error instanceof Error ? error.name : 'Error',
      message: error instanceof Error ? error.message : String(error),
      permanent: error instanceof RbpError && !error.retryable,
    };
    await recordRestoreRangeFailure(deps, input.job.restoreId, failure);
    throw error;
  }
}

/** Writes the range's failure record, replacing its earlier one; a failure to write is logged only. */
async function recordRestoreRangeFailure(
  deps: RestoreRangeDeps,
  restoreId: string,
  failure: RestoreRangeFailure,
): Promise<void> {
  try {
    if (deps.work.replace === undefined) throw new Error('the work store cannot overwrite a failure record');
    const body = new TextEncoder().encode(JSON.stringify(failure));
    await deps.work.replace({
      key: restoreRangeFailureKey(restoreId, failure.index),
      body,
      sha256Base64: createHash('sha256').update(body).digest('base64'),
      contentType: 'application/json',
    });
  } catch (recordError) {
    deps.log?.warn('restore range failure not recorded', {
      index: failure.index,
      errorName: failure.errorName,
      recordError: recordError instanceof Error ? recordError.message : String(recordError),
    });
  }
}

async function restoreOneRange(
  deps: RestoreRangeDeps,
  input: { readonly range: RestoreRangeItem; readonly job: RestoreRangeJob },
): Promise<RestoreRangeOutput> {
  const { range } = input;
  const { restoreId, snapshotId } = input.job;
  const rangeKey = restoreRangeRecordKey(restoreId, range.index);
  const done = await getIfPresent(deps.work, rangeKey);
  if (done !== undefined) {
    return {
      index: range.index,
      blocksPut: 0,
      putRequests: 0,
      segmentsResumed: range.segmentCount,
      throttled: 0,
    };
  }
  await runningJob(deps.jobs, restoreId);
  const work = await rangeWork(deps.work, restoreId, range);
  const startedAtMs = Date.parse(input.job.snapshotStartedAt);
  const putter = snapshotBlockPutter({
    writer: deps.writer,
    snapshotId,
    retry: deps.retry ?? DEFAULT_RETRY_POLICY,
    sinceStartMs: () => deps.clock.now().getTime() - startedAtMs,
    pace: () => deps.writePacer.acquire(),
  });
  const records: Uint8Array[] = [];
  let blocksPut = 0;
  let segmentsResumed = 0;
  for (let segment = range.firstSegment; segment < range.firstSegment + range.segmentCount; segment += 1) {
    const segmentKey = restoreSegmentRecordKey(restoreId, segment);
    const recorded = await getIfPresent(deps.work, segmentKey);
    if (recorded !== undefined) {
      records.push(recorded);
      segmentsResumed += 1;
      continue;
    }
    const at: RangeSegment = {
      segment,
      hash: work.segments[segment - range.firstSegment]!,
      parentHash: work.parent?.segments[segment - range.firstSegment],
    };
    const writes = segmentHasWork(at.hash, at.parentHash, work.parent !== undefined)
      ? await segmentWrites(deps.images, work, at)
      : [];
    const perChunk = await mapWithConcurrency(writes, RESTORE_CHUNKS_IN_FLIGHT, async (write) => {
      const chunk = write.name === undefined ? undefined : await deps.images.getChunk(write.name);
      const digests: Buffer[] = [];
      for (const half of [0, 1] as const) {
        const digest = chunk?.halfDigests[half] ?? ZERO_HALF_DIGEST;
        const holdsData = !digest.equals(ZERO_HALF_DIGEST);
        if (!holdsData && !write.parentHadData) continue;
        const data =
          chunk === undefined || !holdsData
            ? ZERO_BLOCK
            : chunk.data.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES);
        await putter.put(write.chunkIndex * EBS_BLOCKS_PER_CHUNK + half, data, digest);
        digests.push(digest);
      }
      return digests;
    });
    const record = Buffer.concat(perChunk.flat());
    await putRecordOnce(deps.work, segmentKey, record);
    records.push(record);
    blocksPut += record.length / DIGEST_BYTES;
  }
  await putRecordOnce(deps.work, rangeKey, Buffer.concat(records));
  return {
    index: range.index,
    blocksPut,
    putRequests: putter.requests(),
    segmentsResumed,
    throttled: putter.throttled(),
  };
}

/**
 * Complete Restore: the changed-block count and the LINEAR checksum (SHA-256 over the blocks'
 * raw digests in ascending block order,
 * https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html) from the range
 * records, then CompleteSnapshot; the job records that every block is written.
 */
export async function completeVolumeRestore(
  deps: VolumeRestoreStepDeps,
  restoreId: string,
): Promise<{ snapshotId: string; changedBlocksCount: number; checksumBase64?: string }> {
  const job = await runningJob(deps.jobs, restoreId);
  if (job.snapshotId === undefined) {
    throw new PermanentError(`volume restore ${restoreId} has no snapshot: it was never planned`, {
      context: { restoreId },
    });
  }
  if (job.written === true)
    return { snapshotId: job.snapshotId, changedBlocksCount: job.changedBlocksCount ?? 0 };
  if (job.rangeCount === undefined) {
    throw new PermanentError(`volume restore ${restoreId} has no ranges: it was never planned`, {
      context: { restoreId },
    });
  }
  const hash = createHash('sha256');
  let changedBlocksCount = 0;
  for (let at = 0; at < job.rangeCount; at += RESTORE_RECORD_READS_IN_FLIGHT) {
    const window = Array.from(
      { length: Math.min(RESTORE_RECORD_READS_IN_FLIGHT, job.rangeCount - at) },
      (_, i) => at + i,
    );
    const records = await mapWithConcurrency(window, RESTORE_RECORD_READS_IN_FLIGHT, async (index) => {
      const record = await getIfPresent(deps.work, restoreRangeRecordKey(restoreId, index));
      if (record === undefined) {
        throw new PermanentError(`volume restore ${restoreId}: range ${index} has not finished`, {
          context: { restoreId, range: index },
        });
      }
      return record;
    });
    for (const record of records) {
      hash.update(record);
      changedBlocksCount += record.length / DIGEST_BYTES;
    }
  }
  const checksumBase64 = hash.digest('base64');
  await withRetry(deps.retry ?? DEFAULT_RETRY_POLICY, () =>
    deps.writer.completeSnapshot({ snapshotId: job.snapshotId!, changedBlocksCount, checksumBase64 }),
  );
  await deps.jobs.update(
    { ...job, written: true, changedBlocksCount, updatedAt: deps.clock.now().toISOString() },
    ['running'],
  );
  return { snapshotId: job.snapshotId, changedBlocksCount, checksumBase64 };
}

/**
 * Check Snapshot: the new snapshot's state for the Choice (`error` fails the restore), and whether
 * the job asks for a volume made from it (restored-volumes.ts).
 */
export async function checkVolumeRestoreSnapshot(
  deps: Pick<VolumeRestoreStepDeps, 'jobs' | 'snapshots' | 'retry'>,
  restoreId: string,
): Promise<RestoreSnapshotCheck> {
  const job = await runningJob(deps.jobs, restoreId);
  const snapshotId = job.snapshotId!;
  const status = await withRetry(deps.retry ?? DEFAULT_RETRY_POLICY, () =>
    deps.snapshots.describeSnapshot(snapshotId),
  );
  if (status.state === 'error') {
    throw new PermanentError(`snapshot ${snapshotId} failed: ${status.stateMessage ?? 'no message'}`, {
      context: { snapshotId, restoreId },
    });
  }
  return { state: status.state, createVolume: job.volume !== undefined };
}

/** Finish Restore: the job succeeded (a finished job is left as it is). */
export async function finishVolumeRestore(
  deps: Pick<VolumeRestoreStepDeps, 'jobs' | 'clock'>,
  restoreId: string,
): Promise<{ restoreId: string; status: string; snapshotId?: string }> {
  const job = await deps.jobs.get(restoreId);
  if (job.status !== 'running') return { restoreId, status: job.status };
  await deps.jobs.update({ ...job, status: 'succeeded', updatedAt: deps.clock.now().toISOString() }, [
    'running',
  ]);
  return {
    restoreId,
    status: 'succeeded',
    ...(job.snapshotId === undefined ? {} : { snapshotId: job.snapshotId }),
  };
}

/** The message of a Step Functions error cause: a Lambda's `errorMessage` when the cause is its JSON. */
export function causeMessage(error: { readonly Error?: string; readonly Cause?: string }): string {
  let message = error.Cause ?? '';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // Not JSON: the cause is the message.
  }
  const name = error.Error ?? 'Error';
  return message === '' ? name : `${name}: ${message}`;
}

/** The file name of a work key without its extension (`00000003`): failures and range records share it. */
function indexPart(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1).replace(/\.[a-z]+$/, '');
}

/**
 * The real error of a failed Restore Ranges: the ranges' failure records, without the ranges that
 * finished on a later attempt; a permanent one first, else the first in index order. Undefined when
 * there is none (the children timed out or crashed before they could write one).
 */
export async function explainRestoreFailure(
  work: ObjectStore,
  restoreId: string,
): Promise<{ readonly errorName: string; readonly reason: string } | undefined> {
  const finished = new Set(
    (await work.list(`${restoreWorkPrefix(restoreId)}ranges/`)).map((key) => indexPart(key)),
  );
  const keys = (await work.list(`${restoreWorkPrefix(restoreId)}range-failures/`)).filter(
    (key) => !finished.has(indexPart(key)),
  );
  const failures = await Promise.all(
    keys.map(async (key) =>
      restoreRangeFailureSchema.parse(JSON.parse(new TextDecoder().decode(await work.get(key)))),
    ),
  );
  const chosen = failures.find((f) => f.permanent) ?? failures[0];
  if (chosen === undefined) return undefined;
  return {
    errorName: chosen.errorName,
    reason: `range ${chosen.index} of restore ${restoreId}: ${chosen.errorName}: ${chosen.message} (${failures.length} ranges failed)`,
  };
}

/**
 * Fail Restore: the job failed with the error that stopped the state machine; for a failed Map Run
 * (MAP_RUN_FAILED_ERROR), with the ranges' recorded error when there is one.
 */
export async function failVolumeRestore(
  deps: Pick<VolumeRestoreStepDeps, 'jobs' | 'clock'> & { readonly work?: ObjectStore },
  restoreId: string,
  error: { readonly Error?: string; readonly Cause?: string },
): Promise<{ restoreId: string; status: string; reason: string }> {
  const explained =
    error.Error === MAP_RUN_FAILED_ERROR && deps.work !== undefined
      ? await explainRestoreFailure(deps.work, restoreId)
      : undefined;
  const reason = explained?.reason ?? causeMessage(error);
  const errorName = explained?.errorName ?? error.Error ?? 'Error';
  const job = await deps.jobs.get(restoreId);
  if (job.status !== 'pending' && job.status !== 'running') return { restoreId, status: job.status, reason };
  await deps.jobs.update(
    {
      ...job,
      status: 'failed',
      failure: { reason, errorName },
      updatedAt: deps.clock.now().toISOString(),
    },
    ['pending', 'running'],
  );
  return { restoreId, status: 'failed', reason };
}
