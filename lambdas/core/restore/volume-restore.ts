/**
 * Whole-volume restores of one image: (a) to raw bytes through a random-access sink (zero chunks
 * are left as holes), (b) to a new EBS snapshot through StartSnapshot / PutSnapshotBlock /
 * CompleteSnapshot, and the wait for that snapshot to be completed.
 */
import { createHash } from 'node:crypto';
import { NotFoundError, PermanentError, RetryableError, ThrottledError, isRetryable } from '../errors.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCKS_PER_CHUNK, EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../geometry.ts';
import { DIGEST_BYTES, ZERO_HALF_DIGEST } from '../image/hashing.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { segmentEntryCount } from '../image/image-types.ts';
import type { SnapshotBlockWriter, SnapshotState, SnapshotStateReader } from '../backup/snapshot-ports.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import type { RetryPolicy, Sleep } from '../util/retry.ts';
import { DEFAULT_RETRY_POLICY, withRetry } from '../util/retry.ts';

/** Tag every snapshot a volume restore writes carries (the IAM conditions on restored snapshots use it). */
export const RESTORE_ID_TAG = 'rbp:restore-id';

/** The tags of the snapshot a volume restore writes: the restore, and the volume and image it restores. */
export function restoredSnapshotTags(
  restoreId: string,
  volumeId: string,
  imageId: string,
): Readonly<Record<string, string>> {
  return { [RESTORE_ID_TAG]: restoreId, 'rbp:source-volume': volumeId, 'rbp:image-id': imageId };
}

/** Chunks fetched and written at once per restore: 16 × 2 PutSnapshotBlock ≈ 320/s at 100 ms. */
export const RESTORE_CHUNKS_IN_FLIGHT = 16;
/** Segments (1 GiB ranges) restored in parallel. */
export const RESTORE_SEGMENTS_IN_FLIGHT = 2;
/** StartSnapshot Timeout: 24 h instead of the 60 min default, for long restores with pauses (max 4,320). */
export const RESTORE_SNAPSHOT_TIMEOUT_MINUTES = 1_440;
/** "Snapshot does not exist" right after StartSnapshot is retried this long (coldsnap #43: about 2 min). */
export const NEW_SNAPSHOT_VISIBILITY_MS = 120_000;
/** Attempts for one PutSnapshotBlock: enough backoff (max 5 s each) to span the 2-minute visibility window. */
export const PUT_BLOCK_MAX_ATTEMPTS = 40;
/** DescribeSnapshots poll interval while waiting for completed. */
export const SNAPSHOT_POLL_INTERVAL_MS = 5_000;

export interface RandomAccessSink {
  /** Sets the total size (a sparse file of that size). */
  setSize(bytes: number): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
}

/** Non-zero chunk entries of one segment: [chunkIndex, hex name]. */
async function nonZeroEntries(
  images: ImageStore,
  manifest: ImageManifest,
  segment: number,
): Promise<[number, string][]> {
  const entryCount = segmentEntryCount(manifest.volumeSizeBytes, segment);
  const table = await images.getSegment(manifest.segments[segment]!, entryCount);
  const entries: [number, string][] = [];
  for (let i = 0; i < entryCount; i += 1) {
    const entry = table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    if (!entry.every((b) => b === 0))
      entries.push([segment * manifest.segmentChunks + i, entry.toString('hex')]);
  }
  return entries;
}

function segmentIndexes(manifest: ImageManifest): number[] {
  return manifest.segments.map((_, i) => i);
}

/**
 * Writes every non-zero chunk at its offset; returns the number of chunks written. `segments`: only
 * the chunks of these segments (a restore test reads a volume a few segments per step).
 */
export async function restoreImageToSink(
  images: ImageStore,
  manifest: ImageManifest,
  sink: RandomAccessSink,
  options: { chunksInFlight?: number; segments?: readonly number[] } = {},
): Promise<{ chunksWritten: number }> {
  await sink.setSize(manifest.volumeSizeBytes);
  let chunksWritten = 0;
  const segments = options.segments ?? segmentIndexes(manifest);
  await mapWithConcurrency(segments, RESTORE_SEGMENTS_IN_FLIGHT, async (segment) => {
    const entries = await nonZeroEntries(images, manifest, segment);
    await mapWithConcurrency(
      entries,
      options.chunksInFlight ?? RESTORE_CHUNKS_IN_FLIGHT,
      async ([chunkIndex, name]) => {
        const { data } = await images.getChunk(name);
        const offset = chunkIndex * CHUNK_SIZE_BYTES;
        await sink.write(
          offset,
          data.subarray(0, Math.min(CHUNK_SIZE_BYTES, manifest.volumeSizeBytes - offset)),
        );
        chunksWritten += 1;
      },
    );
  });
  return { chunksWritten };
}

/** A ClientToken that is the same for every attempt of one restore, and differs between restores. */
export function restoreClientToken(restoreId: string): string {
  return createHash('sha256').update(`rbp-volume-restore:${restoreId}`).digest('hex');
}

/** LINEAR aggregate: SHA-256 over the raw 32-byte block digests in ascending block order, base64. */
export function linearChecksum(digestsInBlockOrder: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const digest of digestsInBlockOrder) hash.update(digest);
  return hash.digest('base64');
}

export interface SnapshotRestoreDeps {
  readonly images: ImageStore;
  readonly writer: SnapshotBlockWriter;
  /** Monotonic milliseconds (performance.now in production). */
  readonly nowMs: () => number;
  readonly retry?: RetryPolicy;
}

export interface SnapshotRestoreRequest {
  readonly manifest: ImageManifest;
  /** Stable id of this restore job: the StartSnapshot ClientToken derives from it. */
  readonly restoreId: string;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly chunksInFlight?: number;
  /** Encrypt the new snapshot with this KMS key (the stack's, or one the caller named). */
  readonly kmsKeyArn?: string;
}

export interface SnapshotRestoreResult {
  readonly snapshotId: string;
  readonly changedBlocksCount: number;
  readonly checksumBase64: string;
  readonly putRequests: number;
}

export async function restoreImageToSnapshot(
  deps: SnapshotRestoreDeps,
  request: SnapshotRestoreRequest,
): Promise<SnapshotRestoreResult> {
  const { manifest } = request;
  const retry = deps.retry ?? DEFAULT_RETRY_POLICY;
  const started = await withRetry(retry, () =>
    deps.writer.startSnapshot({
      volumeSizeGib: Math.ceil(manifest.volumeSizeBytes / GIB_BYTES),
      clientToken: restoreClientToken(request.restoreId),
      timeoutMinutes: RESTORE_SNAPSHOT_TIMEOUT_MINUTES,
      description:
        request.description ?? `rbp restore ${request.restoreId} of ${manifest.volumeId}/${manifest.imageId}`,
      ...(request.tags === undefined ? {} : { tags: request.tags }),
      ...(request.kmsKeyArn === undefined ? {} : { kmsKeyArn: request.kmsKeyArn }),
    }),
  );
  const startedAtMs = deps.nowMs();
  const putter = snapshotBlockPutter({
    writer: deps.writer,
    snapshotId: started.snapshotId,
    retry,
    sinceStartMs: () => deps.nowMs() - startedAtMs,
  });
  const putBlock = (blockIndex: number, data: Uint8Array, digest: Buffer): Promise<void> =>
    putter.put(blockIndex, data, digest);

  const segmentDigests = await mapWithConcurrency(
    segmentIndexes(manifest),
    RESTORE_SEGMENTS_IN_FLIGHT,
    async (segment) => {
      const entries = await nonZeroEntries(deps.images, manifest, segment);
      const perChunk = await mapWithConcurrency(
        entries,
        request.chunksInFlight ?? RESTORE_CHUNKS_IN_FLIGHT,
        async ([chunkIndex, name]) => {
          const chunk = await deps.images.getChunk(name);
          const written: Buffer[] = [];
          for (const half of [0, 1] as const) {
            const digest = chunk.halfDigests[half];
            if (digest.equals(ZERO_HALF_DIGEST)) continue;
            const data = chunk.data.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES);
            await putBlock(chunkIndex * EBS_BLOCKS_PER_CHUNK + half, data, digest);
            written.push(digest);
          }
          return written;
        },
      );
      return perChunk.flat();
    },
  );
  const digests = segmentDigests.flat();
  const checksumBase64 = linearChecksum(digests);
  await withRetry(retry, () =>
    deps.writer.completeSnapshot({
      snapshotId: started.snapshotId,
      changedBlocksCount: digests.length,
      checksumBase64,
    }),
  );
  return {
    snapshotId: started.snapshotId,
    changedBlocksCount: digests.length,
    checksumBase64,
    putRequests: putter.requests(),
  };
}

/**
 * PutSnapshotBlock with retries: ordinary retryable failures up to the policy's attempts, and
 * "snapshot not found" for as long as a new snapshot may still be invisible after StartSnapshot.
 * Counts the requests it sends.
 */
export function snapshotBlockPutter(options: {
  readonly writer: SnapshotBlockWriter;
  readonly snapshotId: string;
  readonly retry: RetryPolicy;
  /** Milliseconds since StartSnapshot answered. */
  readonly sinceStartMs: () => number;
  /** Waits for this request's turn under the write budget (called before every request). */
  readonly pace?: () => Promise<void>;
}): {
  put: (blockIndex: number, data: Uint8Array, digest: Buffer) => Promise<void>;
  requests: () => number;
  /** PutSnapshotBlock requests EBS throttled (each one retried with backoff while attempts last). */
  throttled: () => number;
} {
  const { retry } = options;
  const putPolicy: RetryPolicy = {
    ...retry,
    maxAttempts: Math.max(retry.maxAttempts, PUT_BLOCK_MAX_ATTEMPTS),
  };
  let requests = 0;
  let throttled = 0;
  const put = (blockIndex: number, data: Uint8Array, digest: Buffer): Promise<void> => {
    let ordinaryFailures = 0;
    return withRetry(
      putPolicy,
      async () => {
        if (options.pace !== undefined) await options.pace();
        requests += 1;
        return options.writer.putSnapshotBlock({
          snapshotId: options.snapshotId,
          blockIndex,
          data,
          checksumBase64: digest.toString('base64'),
        });
      },
      {
        shouldRetry: (error) => {
          if (error instanceof NotFoundError) return options.sinceStartMs() < NEW_SNAPSHOT_VISIBILITY_MS;
          if (error instanceof ThrottledError) throttled += 1;
          ordinaryFailures += 1;
          return isRetryable(error) && ordinaryFailures < retry.maxAttempts;
        },
      },
    );
  };
  return { put, requests: () => requests, throttled: () => throttled };
}

export interface WaitOptions {
  readonly intervalMs?: number;
  /** Give up after this long (milliseconds from the first poll). */
  readonly timeoutMs: number;
  readonly nowMs: () => number;
  readonly sleep: Sleep;
  readonly retry?: RetryPolicy;
}

/**
 * Polls DescribeSnapshots until the snapshot is completed. `error` fails at once (permanent);
 * still pending at the deadline is a RetryableError (the caller may wait longer).
 */
export async function waitForSnapshotCompleted(
  reader: SnapshotStateReader,
  snapshotId: string,
  options: WaitOptions,
): Promise<{ state: SnapshotState; polls: number }> {
  const deadline = options.nowMs() + options.timeoutMs;
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  for (let polls = 1; ; polls += 1) {
    const status = await withRetry(retry, () => reader.describeSnapshot(snapshotId));
    if (status.state === 'completed') return { state: status.state, polls };
    if (status.state === 'error') {
      throw new PermanentError(`snapshot ${snapshotId} failed: ${status.stateMessage ?? 'no message'}`, {
        context: { snapshotId },
      });
    }
    if (options.nowMs() >= deadline) {
      throw new RetryableError(
        `snapshot ${snapshotId} is still ${status.state} after ${options.timeoutMs} ms`,
        {
          context: { snapshotId, progress: status.progress },
        },
      );
    }
    await options.sleep(options.intervalMs ?? SNAPSHOT_POLL_INTERVAL_MS);
  }
}
