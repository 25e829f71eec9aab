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
 * Memory does not grow with the volume: a range worker holds one segment's table and digests
 * (64 KiB) and RESTORE_CHUNKS_IN_FLIGHT chunks; Complete Restore hashes the range records in
 * order, RESTORE_RECORD_READS_IN_FLIGHT at a time.
 *
 * Delta restores (parentRestoreId): the new snapshot starts from the parent restore's snapshot
 * and only chunks whose entry differs between the two images' segment tables are put; segments
 * with the same hash in both manifests are skipped without reading them. Within a differing
 * chunk a half is put when it holds data, or (as zeros) when the parent's chunk held data.
 */
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, PermanentError } from '../errors.ts';
import { EBS_BLOCK_SIZE_BYTES, EBS_BLOCKS_PER_CHUNK, GIB_BYTES } from '../geometry.ts';
import { DIGEST_BYTES, ZERO_HALF_DIGEST, isZeroHash } from '../image/hashing.ts';
import type { ImageStore } from '../image/image-store.ts';
import { segmentEntryCount, type ImageManifest } from '../image/image-types.ts';
import type { SnapshotBlockWriter, SnapshotStateReader } from '../backup/snapshot-ports.ts';
import { getJson, putJsonOnce } from '../backup/work-area.ts';
import type { Clock } from '../ports.ts';
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
import {
  restoreRangeItemSchema,
  type RestorePlan,
  type RestoreRangeItem,
  type RestoreRangeJob,
  type RestoreRangeOutput,
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
/** Key prefix of the restores' work objects in the work bucket (the state machine's grants cover it). */
export const VOLUME_RESTORE_WORK_PREFIX = 'volume-restores/';

const ZERO_BLOCK = new Uint8Array(EBS_BLOCK_SIZE_BYTES);

export function restoreWorkPrefix(restoreId: string): string {
  return `${VOLUME_RESTORE_WORK_PREFIX}${restoreId}/`;
}
export function restoreItemsKey(restoreId: string): string {
  return `${restoreWorkPrefix(restoreId)}items.json`;
}
/** The digests of the blocks one finished segment put, in block order (zero-padded: listings sort). */
export function restoreSegmentRecordKey(restoreId: string, segment: number): string {
  return `${restoreWorkPrefix(restoreId)}segments/${String(segment).padStart(8, '0')}.digests`;
}
/** The digests of the blocks one finished range put, in block order. */
export function restoreRangeRecordKey(restoreId: string, index: number): string {
  return `${restoreWorkPrefix(restoreId)}ranges/${String(index).padStart(8, '0')}.digests`;
}

export interface VolumeRestoreStepDeps {
  readonly jobs: VolumeRestoreJobStore;
  readonly clock: Clock;
  readonly images: ImageStore;
  readonly writer: SnapshotBlockWriter;
  readonly snapshots: SnapshotStateReader;
  /** The work bucket: item lists and the ranges' progress records. */
  readonly work: ObjectStore;
  readonly workBucket: string;
  /** The manifest of a committed image (verified against its record). */
  loadManifest(volumeId: string, imageId: string): Promise<ImageManifest>;
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

function segmentHash(manifest: ImageManifest | undefined, segment: number): string {
  return manifest?.segments[segment] ?? '0'.repeat(DIGEST_BYTES * 2);
}

/** Whether a segment has anything to write: data (full restore) or a difference from the parent (delta). */
function segmentHasWork(
  manifest: ImageManifest,
  parent: ImageManifest | undefined,
  segment: number,
): boolean {
  const hash = segmentHash(manifest, segment);
  return parent === undefined ? !isZeroHash(hash) : hash !== segmentHash(parent, segment);
}

/** The ranges of a restore: runs of RESTORE_RANGE_SEGMENTS segments that have something to write. */
export function planRestoreRanges(
  manifest: ImageManifest,
  parent?: ImageManifest,
  rangeSegments: number = RESTORE_RANGE_SEGMENTS,
): RestoreRangeItem[] {
  const items: RestoreRangeItem[] = [];
  const segments = manifest.segments.length;
  for (let first = 0; first < segments; first += rangeSegments) {
    const count = Math.min(rangeSegments, segments - first);
    let work = false;
    for (let s = first; s < first + count && !work; s += 1) work = segmentHasWork(manifest, parent, s);
    if (work) items.push({ index: items.length, firstSegment: first, segmentCount: count });
  }
  return items;
}

/**
 * Plan Restore: marks the job running, starts (or, on a re-run, finds again) the snapshot with the
 * job's KMS key and, for a delta, the parent restore's snapshot, and writes the range items.
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
  const manifest = await deps.loadManifest(job.volumeId, job.imageId);
  const parentJob =
    job.parentRestoreId === undefined
      ? undefined
      : await requireDeltaParent(deps.jobs, job.parentRestoreId, job.volumeId);
  const parent =
    parentJob === undefined ? undefined : await deps.loadManifest(job.volumeId, parentJob.imageId);
  const retry = deps.retry ?? DEFAULT_RETRY_POLICY;
  const started = await withRetry(retry, () =>
    deps.writer.startSnapshot({
      volumeSizeGib: Math.ceil(manifest.volumeSizeBytes / GIB_BYTES),
      clientToken: restoreClientToken(restoreId),
      timeoutMinutes: RESTORE_SNAPSHOT_TIMEOUT_MINUTES,
      description: `rbp restore ${restoreId} of ${manifest.volumeId}/${manifest.imageId}`,
      tags: restoredSnapshotTags(restoreId, job.volumeId, job.imageId),
      ...(job.kmsKeyArn === undefined ? {} : { kmsKeyArn: job.kmsKeyArn }),
      ...(parentJob === undefined ? {} : { parentSnapshotId: parentJob.snapshotId }),
    }),
  );
  const items = planRestoreRanges(manifest, parent);
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

async function segmentWrites(
  images: ImageStore,
  manifest: ImageManifest,
  parent: ImageManifest | undefined,
  segment: number,
): Promise<ChunkWrite[]> {
  const entryCount = segmentEntryCount(manifest.volumeSizeBytes, segment);
  const table = await images.getSegment(segmentHash(manifest, segment), entryCount);
  const parentTable =
    parent === undefined || segment >= parent.segments.length
      ? undefined
      : await images.getSegment(
          segmentHash(parent, segment),
          segmentEntryCount(parent.volumeSizeBytes, segment),
        );
  const writes: ChunkWrite[] = [];
  for (let i = 0; i < entryCount; i += 1) {
    const entry = table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    const isZero = entry.every((b) => b === 0);
    const old =
      parentTable === undefined || (i + 1) * DIGEST_BYTES > parentTable.length
        ? undefined
        : parentTable.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    const parentHadData = old !== undefined && !old.every((b) => b === 0);
    if (parent === undefined ? isZero : old !== undefined ? entry.equals(old) : isZero) continue;
    writes.push({
      chunkIndex: segment * manifest.segmentChunks + i,
      name: isZero ? undefined : entry.toString('hex'),
      parentHadData,
    });
  }
  return writes;
}

/**
 * Restore Range: writes the blocks of one range, segment by segment, skipping segments a previous
 * attempt recorded; records each finished segment and, at the end, the range.
 */
export async function restoreRangeStep(
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
  const job = await runningJob(deps.jobs, restoreId);
  const manifest = await deps.loadManifest(job.volumeId, job.imageId);
  const parent =
    job.parentImageId === undefined ? undefined : await deps.loadManifest(job.volumeId, job.parentImageId);
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
    const writes = segmentHasWork(manifest, parent, segment)
      ? await segmentWrites(deps.images, manifest, parent, segment)
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
  const items = restoreRangeItemSchema.array().parse(await getJson(deps.work, restoreItemsKey(restoreId)));
  const hash = createHash('sha256');
  let changedBlocksCount = 0;
  for (let at = 0; at < items.length; at += RESTORE_RECORD_READS_IN_FLIGHT) {
    const window = items.slice(at, at + RESTORE_RECORD_READS_IN_FLIGHT);
    const records = await mapWithConcurrency(window, RESTORE_RECORD_READS_IN_FLIGHT, async (item) => {
      const record = await getIfPresent(deps.work, restoreRangeRecordKey(restoreId, item.index));
      if (record === undefined) {
        throw new PermanentError(`volume restore ${restoreId}: range ${item.index} has not finished`, {
          context: { restoreId, range: item.index },
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

/** Fail Restore: the job failed with the error that stopped the state machine. */
export async function failVolumeRestore(
  deps: Pick<VolumeRestoreStepDeps, 'jobs' | 'clock'>,
  restoreId: string,
  error: { readonly Error?: string; readonly Cause?: string },
): Promise<{ restoreId: string; status: string; reason: string }> {
  const reason = causeMessage(error);
  const job = await deps.jobs.get(restoreId);
  if (job.status !== 'pending' && job.status !== 'running') return { restoreId, status: job.status, reason };
  await deps.jobs.update(
    {
      ...job,
      status: 'failed',
      failure: { reason, errorName: error.Error ?? 'Error' },
      updatedAt: deps.clock.now().toISOString(),
    },
    ['pending', 'running'],
  );
  return { restoreId, status: 'failed', reason };
}
