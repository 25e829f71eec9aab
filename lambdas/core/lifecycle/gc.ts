/**
 * Garbage collection of chunks, segments and orphaned manifests: mark and sweep with memory that
 * does not grow with the number of chunks, resumable after any crash, safe with concurrent backups
 * (gc-fence.ts) and with Object Lock (object-lock.ts). docs/lifecycle.md describes the phases.
 *
 * Phases, each a sequence of small steps that end with a saved checkpoint:
 * 1. start     take the fence (no image commits until the end), compute the sweep cutoff. The
 *              fence comes first so that the run is the collection in progress from its first
 *              step: a second start (`rbp gc run`, the schedule) finds it and resumes it.
 *    deletions finish the image deletions a crash left unfinished (image-deletion.ts
 *              finishSomePendingDeletions, at most PENDING_DELETIONS_PER_GC_RUN per run; a step
 *              of it that fails as a whole is recorded and the run goes on), under
 *              the fence and before the mark, so what they held is collected in the same run;
 *              only with `deletions` deps and not in a dry run.
 * 2. mark      read the manifest of every live image (sorted by volume and image id) and spill
 *              its segment hashes to sorted runs in the bucket (`gc/<runId>/segments/`).
 * 3. manifests delete manifests with no image record (a commit that never finished); a manifest
 *              whose record is live although the live set missed it stops the run before anything
 *              is deleted (LiveSetIncompleteError; the fence is released).
 * 4. segments  per segment shard: the shard's live segment hashes (from the runs), each live
 *              segment's chunk names spilled to `gc/<runId>/chunks/`, then the shard's segment
 *              keys listed in order and the unreferenced ones deleted.
 * 5. chunks    per chunk shard: the shard's live chunk names (from the runs), the shard's keys
 *              listed from a start-after cursor, the unreferenced ones deleted 1,000 per request;
 *              in a new Object Lock generation the live ones are re-locked in one batch per page.
 * 6. finish    release the fence, delete the spill runs.
 * A shard holds about NAMES_PER_SHARD names whatever the total, so memory is bounded.
 */
import { z } from 'zod';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  PermanentError,
  ValidationError,
  describeError,
} from '../errors.ts';
import { DIGEST_BYTES, HEX_HASH_PATTERN, isZeroHash } from '../image/hashing.ts';
import { decodeManifest, decodeSegment } from '../image/image-format.ts';
import { CHUNK_KEY_PREFIX, MANIFEST_KEY_PREFIX, SEGMENT_KEY_PREFIX } from '../image/image-types.ts';
import type { Clock } from '../ports.ts';
import type { GcCoordination, GcFence } from './gc-fence.ts';
import {
  finishSomePendingDeletions,
  PENDING_DELETION_FAILURES_PER_GC_RUN,
  PENDING_DELETIONS_PER_GC_RUN,
  type ImageDeletionDeps,
} from './image-deletion.ts';
import { GC_SAFETY_MARGIN_MS, sweepCutoff } from './gc-fence.ts';
import type { ObjectLockConfig } from './object-lock.ts';
import { certainlyLockedUntil, generationOf, retainUntilForGeneration } from './object-lock.ts';
import { FANOUT_PREFIXES, RunSet, RunWriter, prefixHex, shardPrefixes } from './name-runs.ts';
import type { LifecycleImage, LifecycleImageRecords, LifecycleObjectStore, ObjectInfo } from './ports.ts';
import { DELETE_OBJECTS_MAX_KEYS, LIST_MAX_KEYS } from './ports.ts';

/** Names held in memory per shard: 100,000 × ~100 bytes as JS strings ≈ 10 MiB. */
export const NAMES_PER_SHARD = 100_000;
/** Names buffered before a sorted run is spilled: 131,072 × ~100 bytes ≈ 13 MiB. */
export const SPILL_RUN_NAMES = 131_072;
/** Manifests read per mark step (one checkpoint each): a step stays well under a Lambda's 15 minutes. */
export const MARK_IMAGES_PER_STEP = 64;
/** Where the collector spills its runs; outside the chunk, segment and manifest prefixes. */
export const GC_SPILL_PREFIX = 'gc/';

const countersSchema = z.object({
  keysScanned: z.number().int(),
  imagesMarked: z.number().int(),
  segmentsLive: z.number().int(),
  segmentsDeleted: z.number().int(),
  chunksLive: z.number().int(),
  chunksDeleted: z.number().int(),
  manifestsDeleted: z.number().int(),
  bytesFreed: z.number().int(),
  skippedRecent: z.number().int(),
  lockedNotDeleted: z.number().int(),
  lockedBytes: z.number().int(),
  retentionExtended: z.number().int(),
  deleteErrors: z.number().int(),
  /** Unfinished image deletions this run completed, failed again, and left for the next run. */
  deletionsFinished: z.number().int().default(0),
  deletionsFailed: z.number().int().default(0),
  deletionsLeft: z.number().int().default(0),
  /**
   * Unfinished deletions abandoned because the image must be kept now (a legal hold or an Object
   * Lock retention set since the crash): the image stays live (image-deletion.ts finishPending).
   */
  deletionsKept: z.number().int().default(0),
  /** Steps of the deletions phase that failed as a whole (a listing, the catalog pruning). */
  deletionStepsFailed: z.number().int().default(0),
});
export type GcCounters = z.infer<typeof countersSchema>;

/** The counters of a run that has not yet done anything. */
export const ZERO_COUNTERS: Readonly<GcCounters> = {
  keysScanned: 0,
  imagesMarked: 0,
  segmentsLive: 0,
  segmentsDeleted: 0,
  chunksLive: 0,
  chunksDeleted: 0,
  manifestsDeleted: 0,
  bytesFreed: 0,
  skippedRecent: 0,
  lockedNotDeleted: 0,
  lockedBytes: 0,
  retentionExtended: 0,
  deleteErrors: 0,
  deletionsFinished: 0,
  deletionsFailed: 0,
  deletionsLeft: 0,
  deletionsKept: 0,
  deletionStepsFailed: 0,
};

/** The collector's step state: saved after every step, the only thing a resumed run needs. */
export const gcCheckpointSchema = z.object({
  runId: z.string().min(1),
  dryRun: z.boolean(),
  phase: z.enum(['start', 'deletions', 'mark', 'manifests', 'segments', 'chunks', 'finish', 'done']),
  startedAt: z.string().optional(),
  cutoff: z.string().optional(),
  /** Re-lock live objects to this date in this run (a new Object Lock generation). */
  extendTo: z.string().optional(),
  lockGeneration: z.number().int().optional(),
  fenceEpoch: z.number().int().optional(),
  /** `volumeId/imageId` of the last image marked. */
  imageCursor: z.string().optional(),
  shardCount: z.number().int().optional(),
  nextShard: z.number().int(),
  /** Last key processed inside the current shard. */
  startAfter: z.string().optional(),
  counters: countersSchema,
  /** Live images whose manifest or segment could not be read (they are broken; scrub reports them). */
  unreadable: z.array(z.string()),
  /**
   * Unfinished deletions that failed again in this run, with the reason (at most the run's
   * attempts: PENDING_DELETIONS_PER_GC_RUN + PENDING_DELETION_FAILURES_PER_GC_RUN).
   */
  deletionFailures: z
    .array(z.object({ volumeId: z.string(), imageId: z.string(), reason: z.string() }))
    .optional(),
  /** Unfinished deletions abandoned in this run because the image must be kept now, with the reason. */
  deletionsKept: z
    .array(z.object({ volumeId: z.string(), imageId: z.string(), reason: z.string() }))
    .optional(),
  /**
   * Steps of the deletions phase that failed as a whole, with the reason: the run went on to the
   * collection without them (the deletions wait for the next run).
   */
  deletionStepFailures: z
    .array(
      z.object({
        step: z.enum(['list detached marks', 'list deleting records', 'prune catalogs']),
        reason: z.string(),
      }),
    )
    .optional(),
  /** Why the run stopped without sweeping (LiveSetIncompleteError), when it did. */
  refused: z.string().optional(),
});
export type GcCheckpoint = z.infer<typeof gcCheckpointSchema>;

/**
 * The collector found a live image record that its live set (LifecycleImageRecords.listImages) did
 * not contain: sweeping would delete that image's objects, so the run stops before deleting
 * anything. Not retryable: the listing is wrong until someone looks (docs/lifecycle.md).
 */
export class LiveSetIncompleteError extends PermanentError {}

/** `images/<volumeId>/<imageId>.json` (image-types.ts manifestKey), or undefined for another key. */
const MANIFEST_KEY_PATTERN = /^images\/([^/]+)\/([^/]+)\.json$/;

export interface GcCheckpointStore {
  load(runId: string): Promise<GcCheckpoint | undefined>;
  save(checkpoint: GcCheckpoint): Promise<void>;
}

export interface GcDeps {
  readonly objects: LifecycleObjectStore;
  /**
   * Where the spill runs go: a bucket (or prefix) without Object Lock, since a locked bucket's
   * default retention would keep the collector's scratch files for the whole retention period.
   * Defaults to `objects`.
   */
  readonly scratch?: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
  readonly coordination: GcCoordination;
  readonly checkpoints: GcCheckpointStore;
  readonly clock: Clock;
  readonly objectLock?: ObjectLockConfig;
  /**
   * Image deletion (with the recovery points and the catalog), so that a run first finishes the
   * deletions a crash left unfinished, whichever volume they are on (phase `deletions`). Absent:
   * they wait for an expiry (retention-apply.ts).
   */
  readonly deletions?: ImageDeletionDeps;
}

export interface GcOptions {
  readonly runId: string;
  readonly dryRun?: boolean;
  /** Stop after this many steps (a Lambda's time slice); the run resumes from its checkpoint. */
  readonly maxSteps?: number;
  /** Tests and benchmarks shrink these to exercise many shards and runs. */
  readonly namesPerShard?: number;
  readonly spillRunNames?: number;
  readonly deleteBatchKeys?: number;
  readonly safetyMarginMs?: number;
  /** Unfinished deletions finished per run at most (default PENDING_DELETIONS_PER_GC_RUN). */
  readonly deletionsPerRun?: number;
  /**
   * Attempts per run beyond deletionsPerRun, for deletions that fail again (default
   * PENDING_DELETION_FAILURES_PER_GC_RUN).
   */
  readonly deletionFailuresPerRun?: number;
}

export interface GcResult {
  readonly runId: string;
  readonly status: 'running' | 'complete' | 'dry-run';
  readonly phase: GcCheckpoint['phase'];
  readonly chunksLive: number;
  readonly chunksDeleted: number;
  readonly segmentsDeleted: number;
  readonly bytesFreed: number;
  readonly counters: GcCounters;
  readonly unreadable: readonly string[];
}

function resultOf(checkpoint: GcCheckpoint): GcResult {
  const done = checkpoint.phase === 'done';
  return {
    runId: checkpoint.runId,
    status: !done ? 'running' : checkpoint.dryRun ? 'dry-run' : 'complete',
    phase: checkpoint.phase,
    chunksLive: checkpoint.counters.chunksLive,
    chunksDeleted: checkpoint.counters.chunksDeleted,
    segmentsDeleted: checkpoint.counters.segmentsDeleted,
    bytesFreed: checkpoint.counters.bytesFreed,
    counters: checkpoint.counters,
    unreadable: checkpoint.unreadable,
  };
}

/**
 * The run holding the fence, if any. The fence is never taken from a run (a run that resumed after
 * a takeover would sweep with a stale live set): an interrupted run is resumed under its id.
 */
export async function heldCollectionRun(coordination: GcCoordination): Promise<string | undefined> {
  const fence = await coordination.getFence();
  return fence.phase === 'collecting' ? fence.runId : undefined;
}

/** Runs (or resumes) collection `runId` until it is done or `maxSteps` steps have run. */
export async function runGc(deps: GcDeps, options: GcOptions): Promise<GcResult> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.runId)) {
    throw new ValidationError(`invalid collection run id ${JSON.stringify(options.runId)}`, {
      context: { runId: options.runId },
    });
  }
  let checkpoint: GcCheckpoint = (await deps.checkpoints.load(options.runId)) ?? {
    runId: options.runId,
    dryRun: options.dryRun ?? false,
    phase: 'start',
    nextShard: 0,
    counters: { ...ZERO_COUNTERS },
    unreadable: [],
  };
  const collector = new Collector(deps, options);
  for (let steps = 0; checkpoint.phase !== 'done'; steps += 1) {
    if (options.maxSteps !== undefined && steps >= options.maxSteps) break;
    try {
      checkpoint = await collector.step(checkpoint);
    } catch (error) {
      if (!(error instanceof LiveSetIncompleteError)) throw error;
      // Nothing was deleted: release the fence and end the run (it must never resume with this
      // live set), then report.
      const ended = await collector.step({ ...checkpoint, phase: 'finish' });
      await deps.checkpoints.save({ ...ended, refused: error.message });
      throw error;
    }
    await deps.checkpoints.save(checkpoint);
  }
  return resultOf(checkpoint);
}

class Collector {
  private readonly namesPerShard: number;
  private readonly spillRunNames: number;
  private readonly deleteBatchKeys: number;
  private runSets = new Map<string, RunSet>();
  private readonly scratch: LifecycleObjectStore;

  constructor(
    private readonly deps: GcDeps,
    private readonly options: GcOptions,
  ) {
    this.scratch = deps.scratch ?? deps.objects;
    this.namesPerShard = options.namesPerShard ?? NAMES_PER_SHARD;
    this.spillRunNames = options.spillRunNames ?? SPILL_RUN_NAMES;
    this.deleteBatchKeys = Math.min(
      options.deleteBatchKeys ?? DELETE_OBJECTS_MAX_KEYS,
      DELETE_OBJECTS_MAX_KEYS,
    );
  }

  private spillBase(checkpoint: GcCheckpoint, kind: 'segments' | 'chunks'): string {
    return `${GC_SPILL_PREFIX}${checkpoint.runId}/${kind}/`;
  }

  private async runSet(checkpoint: GcCheckpoint, kind: 'segments' | 'chunks'): Promise<RunSet> {
    const base = this.spillBase(checkpoint, kind);
    let set = this.runSets.get(base);
    if (set === undefined) {
      set = await RunSet.open(this.scratch, base);
      this.runSets.set(base, set);
    }
    return set;
  }

  step(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    switch (checkpoint.phase) {
      case 'deletions':
        // A checkpoint saved before the fence came first (phase order deletions → start): take
        // the fence now; `start` comes back to the deletions.
        if (checkpoint.startedAt === undefined) return this.start(checkpoint);
        return this.finishDeletions(checkpoint);
      case 'start':
        return this.start(checkpoint);
      case 'mark':
        return this.mark(checkpoint);
      case 'manifests':
        return this.sweepManifests(checkpoint);
      case 'segments':
        return this.segmentShard(checkpoint);
      case 'chunks':
        return this.chunkPage(checkpoint);
      case 'finish':
        return this.finish(checkpoint);
      case 'done':
        return Promise.resolve(checkpoint);
    }
  }

  /**
   * Completes up to the run's budget of unfinished deletions, fleet-wide, through image deletion's
   * own path; the rest wait for the next run. Runs under the fence (taken by `start`): no commit
   * happens meanwhile. One step: a crash repeats it, and what it finished is gone, so the repeat
   * goes on with the rest.
   */
  private async finishDeletions(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const deps = this.deps.deletions;
    if (deps === undefined || checkpoint.dryRun) return { ...checkpoint, phase: 'mark' };
    const done = await finishSomePendingDeletions(
      deps,
      this.options.deletionsPerRun ?? PENDING_DELETIONS_PER_GC_RUN,
      this.options.deletionFailuresPerRun ?? PENDING_DELETION_FAILURES_PER_GC_RUN,
    );
    const failures = [
      ...(checkpoint.deletionFailures ?? []),
      ...[...done.stillLocked, ...done.failed].map((f) => ({ ...f })),
    ];
    const stepFailures = [
      ...(checkpoint.deletionStepFailures ?? []),
      ...done.stepFailures.map((f) => ({ ...f })),
    ];
    const kept = [...(checkpoint.deletionsKept ?? []), ...done.kept.map((k) => ({ ...k }))];
    // Added to the counters saved before the step. A step repeated after a crash starts again from
    // that checkpoint, so the deletions the crashed attempt finished are counted by neither.
    const counters = checkpoint.counters;
    return {
      ...checkpoint,
      phase: 'mark',
      counters: {
        ...counters,
        deletionsFinished: counters.deletionsFinished + done.finished,
        deletionsFailed: counters.deletionsFailed + done.stillLocked.length + done.failed.length,
        // Not a sum: what is still waiting after this step.
        deletionsLeft: done.left,
        deletionsKept: counters.deletionsKept + done.kept.length,
        deletionStepsFailed: counters.deletionStepsFailed + done.stepFailures.length,
      },
      ...(failures.length === 0 ? {} : { deletionFailures: failures }),
      ...(kept.length === 0 ? {} : { deletionsKept: kept }),
      ...(stepFailures.length === 0 ? {} : { deletionStepFailures: stepFailures }),
    };
  }

  private async start(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const now = this.deps.clock.now();
    let fence: GcFence = await this.deps.coordination.getFence();
    if (!checkpoint.dryRun) {
      if (fence.phase === 'collecting' && fence.runId !== checkpoint.runId) {
        throw new ConflictError(
          `garbage collection ${fence.runId} holds the fence; one collection at a time (resume it with its run id)`,
          {
            context: { runId: checkpoint.runId, running: fence.runId },
          },
        );
      }
      if (fence.phase === 'idle') {
        const next: GcFence = {
          ...fence,
          epoch: fence.epoch + 1,
          phase: 'collecting',
          runId: checkpoint.runId,
          startedAt: now.toISOString(),
        };
        if (!(await this.deps.coordination.swapFence(fence, next))) {
          throw new ConflictError('the collection fence changed while taking it; retry', {
            context: { runId: checkpoint.runId },
          });
        }
        fence = next;
      }
    }
    const startedAt =
      fence.phase === 'collecting' && fence.startedAt !== undefined ? new Date(fence.startedAt) : now;
    const cutoff = sweepCutoff(
      startedAt,
      await this.deps.coordination.listLeases(),
      this.options.safetyMarginMs ?? GC_SAFETY_MARGIN_MS,
    );
    const lock = this.deps.objectLock;
    const generation = lock === undefined ? undefined : generationOf(now, lock);
    const extend =
      lock !== undefined &&
      generation !== undefined &&
      (fence.lockedGeneration ?? -1) < generation &&
      !checkpoint.dryRun;
    return {
      ...checkpoint,
      // A dry run changes nothing, so it finishes no deletion either.
      phase: this.deps.deletions === undefined || checkpoint.dryRun ? 'mark' : 'deletions',
      startedAt: startedAt.toISOString(),
      cutoff: cutoff.toISOString(),
      fenceEpoch: fence.epoch,
      ...(extend
        ? { extendTo: retainUntilForGeneration(generation, lock).toISOString(), lockGeneration: generation }
        : {}),
    };
  }

  private async liveImages(): Promise<LifecycleImage[]> {
    const images = await this.deps.records.listImages();
    return images
      .filter((image) => image.status === 'live')
      .sort((a, b) => compareText(imageRef(a), imageRef(b)));
  }

  private async mark(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const images = (await this.liveImages()).filter(
      (image) => checkpoint.imageCursor === undefined || imageRef(image) > checkpoint.imageCursor,
    );
    const batch = images.slice(0, MARK_IMAGES_PER_STEP);
    if (batch.length === 0) return { ...checkpoint, phase: 'manifests', imageCursor: undefined };
    const writer = new RunWriter(this.scratch, this.spillBase(checkpoint, 'segments'), this.spillRunNames);
    const unreadable = [...checkpoint.unreadable];
    for (const image of batch) {
      try {
        const manifest = decodeManifest(await this.deps.objects.get(image.manifestKey), image.manifestKey);
        for (const hash of manifest.segments) if (!isZeroHash(hash)) await writer.add(hash);
      } catch (error) {
        if (!(error instanceof NotFoundError || error instanceof IntegrityError)) throw error;
        unreadable.push(`${imageRef(image)}: ${describeError(error)}`);
      }
    }
    await writer.flush();
    return {
      ...checkpoint,
      imageCursor: imageRef(batch.at(-1)!),
      unreadable,
      counters: { ...checkpoint.counters, imagesMarked: checkpoint.counters.imagesMarked + batch.length },
    };
  }

  /** Manifests of images that have no record at all (a commit that stopped before its record). */
  private async sweepManifests(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const known = new Set((await this.deps.records.listImages()).map((image) => image.manifestKey));
    const counters = { ...checkpoint.counters };
    let page: ObjectInfo[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const listed = await this.deps.objects.listPage(MANIFEST_KEY_PREFIX, startAfter, LIST_MAX_KEYS);
      counters.keysScanned += listed.objects.length;
      page.push(...listed.objects.filter((o) => !known.has(o.key)));
      if (page.length >= this.deleteBatchKeys || !listed.isTruncated || listed.objects.length === 0) {
        const garbage = this.garbage(page, checkpoint, counters);
        await this.refuseLiveManifests(garbage, checkpoint);
        counters.manifestsDeleted += await this.delete(garbage, checkpoint, counters);
        page = [];
      }
      if (!listed.isTruncated || listed.objects.length === 0) break;
      startAfter = listed.objects.at(-1)!.key;
    }
    const segments = await this.runSet(checkpoint, 'segments');
    const shardCount = shardCountFor(segments.totalNames(), this.namesPerShard);
    return { ...checkpoint, phase: 'segments', shardCount, nextShard: 0, startAfter: undefined, counters };
  }

  /**
   * The safety belt: a manifest about to be deleted must have no live record. One record read per
   * such manifest (failed commits: few). Runs before any segment or chunk is swept, so an image
   * the live set missed stops the run while its objects are all still there.
   */
  private async refuseLiveManifests(garbage: readonly ObjectInfo[], checkpoint: GcCheckpoint): Promise<void> {
    for (const object of garbage) {
      const match = MANIFEST_KEY_PATTERN.exec(object.key);
      if (match === null) continue;
      const [, volumeId, imageId] = match as unknown as [string, string, string];
      let image: LifecycleImage;
      try {
        image = await this.deps.records.getImage(volumeId, imageId);
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        throw error;
      }
      if (image.status !== 'live' || image.manifestKey !== object.key) continue;
      throw new LiveSetIncompleteError(
        `garbage collection ${checkpoint.runId} stopped before sweeping: image ${imageId} of ${volumeId} has a live record that its live set did not contain; nothing was deleted`,
        { context: { runId: checkpoint.runId, volumeId, imageId } },
      );
    }
  }

  private async segmentShard(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const shardCount = checkpoint.shardCount!;
    if (checkpoint.nextShard >= shardCount) {
      const chunks = await this.runSet(checkpoint, 'chunks');
      return {
        ...checkpoint,
        phase: 'chunks',
        shardCount: shardCountFor(chunks.totalNames(), this.namesPerShard),
        nextShard: 0,
        startAfter: undefined,
      };
    }
    const [from, to] = shardPrefixes(checkpoint.nextShard, shardCount);
    const live = await (await this.runSet(checkpoint, 'segments')).namesIn(from, to);
    const writer = new RunWriter(this.scratch, this.spillBase(checkpoint, 'chunks'), this.spillRunNames);
    const unreadable = [...checkpoint.unreadable];
    for (const hash of [...live].sort()) {
      try {
        const table = await decodeSegment(await this.deps.objects.get(`${SEGMENT_KEY_PREFIX}${hash}`), hash);
        for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
          const entry = table.subarray(offset, offset + DIGEST_BYTES);
          if (!entry.every((b) => b === 0)) await writer.add(entry.toString('hex'));
        }
      } catch (error) {
        if (!(error instanceof NotFoundError || error instanceof IntegrityError)) throw error;
        unreadable.push(`segment ${hash}: ${describeError(error)}`);
      }
    }
    await writer.flush();
    const counters = { ...checkpoint.counters, segmentsLive: checkpoint.counters.segmentsLive + live.size };
    // The shard's segment keys: every key is listed, the unreferenced ones deleted.
    let startAfter: string | undefined =
      from === 0 ? undefined : `${SEGMENT_KEY_PREFIX}${prefixHex(from - 1)}~`;
    const end = to >= FANOUT_PREFIXES ? undefined : `${SEGMENT_KEY_PREFIX}${prefixHex(to)}`;
    for (;;) {
      const { keys, more } = await this.listRange(SEGMENT_KEY_PREFIX, startAfter, end);
      counters.keysScanned += keys.length;
      const ours = keys.filter((o) => HEX_HASH_PATTERN.test(o.key.slice(SEGMENT_KEY_PREFIX.length)));
      const candidates = ours.filter((o) => !live.has(o.key.slice(SEGMENT_KEY_PREFIX.length)));
      const liveKeys = ours.filter((o) => live.has(o.key.slice(SEGMENT_KEY_PREFIX.length))).map((o) => o.key);
      if (checkpoint.extendTo !== undefined && liveKeys.length > 0) {
        await this.deps.objects.extendRetention(liveKeys, new Date(checkpoint.extendTo));
        counters.retentionExtended += liveKeys.length;
      }
      counters.segmentsDeleted += await this.delete(
        this.garbage(candidates, checkpoint, counters),
        checkpoint,
        counters,
      );
      if (!more) break;
      startAfter = keys.at(-1)!.key;
    }
    return { ...checkpoint, nextShard: checkpoint.nextShard + 1, unreadable, counters };
  }

  /** Keys under `prefix` after `startAfter` and before `end`, one page; `more` = the range goes on. */
  private async listRange(
    prefix: string,
    startAfter: string | undefined,
    end: string | undefined,
  ): Promise<{ keys: ObjectInfo[]; more: boolean }> {
    const page = await this.deps.objects.listPage(
      prefix,
      startAfter,
      Math.min(LIST_MAX_KEYS, this.deleteBatchKeys),
    );
    const keys = page.objects.filter((o) => end === undefined || o.key < end);
    const more = page.isTruncated && keys.length === page.objects.length && keys.length > 0;
    return { keys, more };
  }

  private currentChunkLive: { shard: number; names: Set<string> } | undefined;

  private async chunkPage(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    const shardCount = checkpoint.shardCount!;
    if (checkpoint.nextShard >= shardCount) return { ...checkpoint, phase: 'finish', startAfter: undefined };
    const [from, to] = shardPrefixes(checkpoint.nextShard, shardCount);
    if (this.currentChunkLive?.shard !== checkpoint.nextShard) {
      this.currentChunkLive = {
        shard: checkpoint.nextShard,
        names: await (await this.runSet(checkpoint, 'chunks')).namesIn(from, to),
      };
    }
    const live = this.currentChunkLive.names;
    const startAfter =
      checkpoint.startAfter ?? (from === 0 ? undefined : `${CHUNK_KEY_PREFIX}${prefixHex(from - 1)}~`);
    const end = to >= FANOUT_PREFIXES ? undefined : `${CHUNK_KEY_PREFIX}${prefixHex(to)}`;
    const { keys, more } = await this.listRange(CHUNK_KEY_PREFIX, startAfter, end);
    const counters = { ...checkpoint.counters, keysScanned: checkpoint.counters.keysScanned + keys.length };
    const candidates: ObjectInfo[] = [];
    const liveKeys: string[] = [];
    for (const object of keys) {
      const name = object.key.slice(CHUNK_KEY_PREFIX.length);
      if (live.has(name)) {
        counters.chunksLive += 1;
        liveKeys.push(object.key);
      } else if (HEX_HASH_PATTERN.test(name)) {
        candidates.push(object);
      } // else not a chunk name: never touched
    }
    if (checkpoint.extendTo !== undefined && liveKeys.length > 0) {
      await this.deps.objects.extendRetention(liveKeys, new Date(checkpoint.extendTo));
      counters.retentionExtended += liveKeys.length;
    }
    counters.chunksDeleted += await this.delete(
      this.garbage(candidates, checkpoint, counters),
      checkpoint,
      counters,
    );
    if (more) return { ...checkpoint, startAfter: keys.at(-1)!.key, counters };
    this.currentChunkLive = undefined;
    return { ...checkpoint, nextShard: checkpoint.nextShard + 1, startAfter: undefined, counters };
  }

  /** The candidates old enough to delete and not certainly locked; counts the rest. */
  private garbage(
    candidates: readonly ObjectInfo[],
    checkpoint: GcCheckpoint,
    counters: GcCounters,
  ): ObjectInfo[] {
    const cutoff = Date.parse(checkpoint.cutoff!);
    const now = Date.parse(checkpoint.startedAt!);
    const out: ObjectInfo[] = [];
    for (const object of candidates) {
      if (object.lastModified.getTime() >= cutoff) {
        counters.skippedRecent += 1;
      } else if (
        this.deps.objectLock !== undefined &&
        certainlyLockedUntil(object.lastModified, this.deps.objectLock).getTime() > now
      ) {
        counters.lockedNotDeleted += 1;
        counters.lockedBytes += object.size;
      } else {
        out.push(object);
      }
    }
    return out;
  }

  /** Deletes in batches of ≤ 1,000 (none in a dry run); returns how many went; counts bytes and locks. */
  private async delete(
    objects: readonly ObjectInfo[],
    checkpoint: GcCheckpoint,
    counters: GcCounters,
  ): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < objects.length; i += this.deleteBatchKeys) {
      const batch = objects.slice(i, i + this.deleteBatchKeys);
      if (checkpoint.dryRun) {
        deleted += batch.length;
        counters.bytesFreed += batch.reduce((sum, o) => sum + o.size, 0);
        continue;
      }
      const outcome = await this.deps.objects.deleteObjects(batch.map((o) => o.key));
      const sizes = new Map(batch.map((o) => [o.key, o.size]));
      deleted += outcome.deleted.length;
      for (const key of outcome.deleted) counters.bytesFreed += sizes.get(key) ?? 0;
      for (const failure of outcome.failed) {
        if (failure.code === 'AccessDenied') {
          counters.lockedNotDeleted += 1;
          counters.lockedBytes += sizes.get(failure.key) ?? 0;
        } else {
          counters.deleteErrors += 1;
        }
      }
    }
    return deleted;
  }

  private async finish(checkpoint: GcCheckpoint): Promise<GcCheckpoint> {
    if (!checkpoint.dryRun) {
      const fence = await this.deps.coordination.getFence();
      if (fence.phase === 'collecting' && fence.runId === checkpoint.runId) {
        const released: GcFence = {
          epoch: fence.epoch,
          phase: 'idle',
          releasedAt: this.deps.clock.now().toISOString(),
          ...(checkpoint.lockGeneration !== undefined
            ? { lockedGeneration: checkpoint.lockGeneration }
            : fence.lockedGeneration !== undefined
              ? { lockedGeneration: fence.lockedGeneration }
              : {}),
        };
        if (!(await this.deps.coordination.swapFence(fence, released))) {
          throw new ConflictError('the collection fence changed while releasing it; retry', {
            context: { runId: checkpoint.runId },
          });
        }
      }
    }
    // The spill runs are the collector's own scratch space: removed whatever their age.
    const base = `${GC_SPILL_PREFIX}${checkpoint.runId}/`;
    for (;;) {
      const page = await this.scratch.listPage(base, undefined, DELETE_OBJECTS_MAX_KEYS);
      if (page.objects.length === 0) break;
      const outcome = await this.scratch.deleteObjects(page.objects.map((o) => o.key));
      if (!page.isTruncated || outcome.deleted.length === 0) break;
    }
    return { ...checkpoint, phase: 'done' };
  }
}

function imageRef(image: { readonly volumeId: string; readonly imageId: string }): string {
  return `${image.volumeId}/${image.imageId}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function shardCountFor(totalNames: number, namesPerShard: number): number {
  return Math.min(FANOUT_PREFIXES, Math.max(1, Math.ceil(totalNames / namesPerShard)));
}
