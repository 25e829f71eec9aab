/**
 * The backup side of the collection fence (gc-fence.ts, docs/lifecycle.md "Why it is safe with
 * concurrent backups"): what a backup's Commit Image step does before it writes the image record.
 *
 * - While a collection holds the fence, the commit waits: a CollectionInProgressError, which the
 *   state machine retries every COLLECTION_WAIT_INTERVAL_SECONDS for up to COLLECTION_WAIT_SECONDS
 *   (a collection holds the fence for its whole run, tens of minutes on a large bucket).
 * - When no collection overlapped the backup (the fence's last release is older than the backup's
 *   start), every object the backup found present or reused is still there: the record is written
 *   under the condition "fence idle at this epoch" (one TransactWriteItems with the record), so a
 *   collection that starts in between makes the write fail instead of missing the image.
 * - Otherwise it re-checks the objects the image references that its parent does not (a live
 *   parent's objects are never swept; the parent's liveness is a second condition of the same
 *   transaction): each new segment is read, each of its chunks that the parent's segment at the
 *   same position lacks is probed with a one-byte ranged GET. A missing object fails the commit
 *   with a NotFoundError naming it; the next backup writes it again.
 *
 * Backups open no lease at their start yet, so the sweep cutoff is not held back for them and the
 * objects a backup wrote itself are re-checked too (the `verifyWritten` case of commitGate).
 */
import { CollectionInProgressError, NotFoundError } from '../errors.ts';
import { DIGEST_BYTES, isZeroHash } from '../image/hashing.ts';
import { decodeManifest, decodeSegment } from '../image/image-format.ts';
import { chunkKey, segmentKey } from '../image/image-types.ts';
import type { GcCoordination, GcFence } from './gc-fence.ts';
import type { LifecycleObjectStore } from './ports.ts';

/**
 * Margin between the backup's start (Step Functions' clock) and the fence's release time (the
 * collector's Lambda clock): both are AWS clocks within a second of each other; five minutes is
 * far above that, and the cost of erring is only a verification.
 */
export const FENCE_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Objects probed at once when a commit re-checks after a collection: GETs overlap, memory stays small. */
export const VERIFY_CONCURRENCY = 16;
/**
 * Seconds between two looks at the fence while a commit waits for a collection: a collection runs
 * for tens of minutes, so a minute adds little delay and costs one state transition and one
 * GetItem per look.
 */
export const COLLECTION_WAIT_INTERVAL_SECONDS = 60;
/**
 * Longest a commit waits for a collection before the run is suspended for a redrive: the same
 * bound as FENCE_HELD_ALARM_SECONDS, so a collection that outlasts it has raised its alarm by then.
 * Far below the backup lock's default lifetime (DEFAULT_LOCK_TTL_SECONDS, 48 h), which Renew Lock
 * extends just before Commit Image.
 */
export const COLLECTION_WAIT_SECONDS = 2 * 60 * 60;
/** Retries of Commit Image's CollectionInProgressError retrier (BackoffRate 1: one every interval). */
export const COLLECTION_WAIT_ATTEMPTS = COLLECTION_WAIT_SECONDS / COLLECTION_WAIT_INTERVAL_SECONDS;
/**
 * A fence held longer than this raises CollectionFenceHeldAlarm: a healthy collection finishes in
 * tens of minutes, and commits stop waiting at COLLECTION_WAIT_SECONDS (their backups are then
 * suspended), so the alarm fires no later than the first backup that gives up.
 */
export const FENCE_HELD_ALARM_SECONDS = COLLECTION_WAIT_SECONDS;

/** Missing keys named in the error message (all are counted). */
const MISSING_KEYS_SHOWN = 5;

/** What the image record's transaction must check besides the record's own uniqueness. */
export interface CommitConditions {
  /** The fence must be idle at this epoch (no fence item at all counts as idle at epoch 0). */
  readonly fenceEpoch: number;
  /** This parent record must still exist and not be marked deleting. */
  readonly liveParent?: { readonly volumeId: string; readonly imageId: string; readonly createdAt: string };
}

export interface GateParent {
  readonly imageId: string;
  readonly createdAt: string;
  readonly manifestKey: string;
}

export interface CommitGateDeps {
  readonly coordination: Pick<GcCoordination, 'getFence'>;
  readonly objects: Pick<LifecycleObjectStore, 'get' | 'getRange'>;
}

export interface CommitGateRequest {
  readonly volumeId: string;
  readonly imageId: string;
  /** ISO-8601: when the backup started, before it chose its parent or wrote anything. */
  readonly backupStartedAt: string;
  /** The image's segment hashes, in volume order (the manifest's). */
  readonly segments: readonly string[];
  /** The parent image, when it is still live (its record is readable); undefined otherwise. */
  readonly parent?: GateParent;
}

export interface CommitGateOutcome {
  readonly conditions: CommitConditions;
  /** Objects probed (0 when no collection overlapped the backup). */
  readonly verified: number;
  readonly fence: GcFence;
}

/**
 * How long the fence has been held at `now`, in whole seconds: 0 when it is idle or its start is
 * unknown (a fence taken before the start was recorded), never negative (clock skew).
 */
export function fenceHeldSeconds(fence: Pick<GcFence, 'phase' | 'startedAt'>, now: Date): number {
  if (fence.phase !== 'collecting' || fence.startedAt === undefined) return 0;
  return Math.max(0, Math.floor((now.getTime() - Date.parse(fence.startedAt)) / 1000));
}

/** True when a collection held the fence at some time since `startedAt` (or may have). */
export function collectionOverlapped(
  fence: GcFence,
  startedAt: string,
  skewMs = FENCE_CLOCK_SKEW_MS,
): boolean {
  if (fence.phase === 'collecting') return true;
  if (fence.epoch === 0) return false;
  if (fence.releasedAt === undefined) return true;
  return Date.parse(fence.releasedAt) >= Date.parse(startedAt) - skewMs;
}

export async function passCommitGate(
  deps: CommitGateDeps,
  request: CommitGateRequest,
): Promise<CommitGateOutcome> {
  const fence = await deps.coordination.getFence();
  if (fence.phase === 'collecting') {
    throw new CollectionInProgressError(request.imageId, fence.runId, fence.startedAt, {
      context: { volumeId: request.volumeId, epoch: fence.epoch },
    });
  }
  const liveParent =
    request.parent === undefined
      ? undefined
      : { volumeId: request.volumeId, imageId: request.parent.imageId, createdAt: request.parent.createdAt };
  const conditions: CommitConditions = {
    fenceEpoch: fence.epoch,
    ...(liveParent === undefined ? {} : { liveParent }),
  };
  if (!collectionOverlapped(fence, request.backupStartedAt)) return { conditions, verified: 0, fence };

  const parentSegments =
    request.parent === undefined
      ? []
      : decodeManifest(await deps.objects.get(request.parent.manifestKey), request.parent.manifestKey)
          .segments;
  const parentSet = new Set(parentSegments);
  const missing: string[] = [];
  let verified = 0;
  const probes: { key: string; index: number }[] = [];
  for (const [index, hash] of request.segments.entries()) {
    if (isZeroHash(hash) || parentSet.has(hash)) continue;
    probes.push({ key: segmentKey(hash), index });
  }
  // Segments first (each read gives its chunk names), then the chunks the parent lacks.
  const chunkProbes: string[] = [];
  await inParallel(probes, async ({ key, index }) => {
    const hash = request.segments[index]!;
    let table: Buffer;
    try {
      table = await decodeSegment(await deps.objects.get(key), hash);
    } catch (error) {
      if (error instanceof NotFoundError) {
        missing.push(key);
        return;
      }
      throw error;
    }
    verified += 1;
    const parentHash = parentSegments[index];
    const parentNames = new Set<string>();
    if (parentHash !== undefined && !isZeroHash(parentHash)) {
      const parentTable = await decodeSegment(await deps.objects.get(segmentKey(parentHash)), parentHash);
      for (let offset = 0; offset < parentTable.length; offset += DIGEST_BYTES) {
        parentNames.add(parentTable.subarray(offset, offset + DIGEST_BYTES).toString('hex'));
      }
    }
    for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
      const entry = table.subarray(offset, offset + DIGEST_BYTES);
      if (entry.every((b) => b === 0)) continue;
      const name = entry.toString('hex');
      if (!parentNames.has(name)) chunkProbes.push(chunkKey(name));
    }
  });
  await inParallel([...new Set(chunkProbes)], async (key) => {
    try {
      await deps.objects.getRange(key, 0, 1);
      verified += 1;
    } catch (error) {
      if (error instanceof NotFoundError) missing.push(key);
      else throw error;
    }
  });
  if (missing.length > 0) {
    missing.sort();
    throw new NotFoundError(
      `image ${request.imageId}: ${missing.length} object(s) it references were deleted by a garbage collection that ran during the backup (${missing.slice(0, MISSING_KEYS_SHOWN).join(', ')}${missing.length > MISSING_KEYS_SHOWN ? ', …' : ''}); nothing was committed, run the backup again`,
      { context: { imageId: request.imageId, volumeId: request.volumeId, missing: missing.length } },
    );
  }
  return { conditions, verified, fence };
}

async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, items.length) }, worker));
}
