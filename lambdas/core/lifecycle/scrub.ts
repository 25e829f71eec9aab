/**
 * Scrub: read stored data back and check it against its names, so that corruption is found by a
 * schedule rather than by a restore. For every live image it checks the manifest (digest in the
 * record), every segment (decoded, hash = key), and the chunks of this run's subset: read,
 * decompressed, length and both half digests checked against the name (the same decode a restore
 * uses, docs/image-format.md "Chunk object").
 *
 * Coverage: the chunk key space is cut into the 4,096 three-hex-digit prefixes; run number r
 * checks the prefixes p with p mod N = r mod N, so N consecutive runs check every chunk (chunk
 * names are content hashes, so each run gets about 1/N of the chunks). `all` checks every chunk.
 * The run number comes from a stored cursor (ScrubCursorStore) that moves on only when a run has
 * checked its share, so every chunk is checked within N completed runs, whatever the schedule did
 * (a missed day, two runs in one day, a failed run). A finding names the images it breaks.
 *
 * Slices: a run is a sequence of slices (one per Lambda invocation, lifecycle-jobs.ts), each
 * resuming from the run's progress (ScrubProgress, saved after every step of
 * SCRUB_CHUNKS_PER_STEP chunks): the share's chunk names are checked in name order, and the
 * progress holds the last name checked. Every slice lists the live images and reads their
 * manifests and segments again (to know which chunks the share still holds and which images each
 * breaks); only the first slice reports what it finds in them. A chunk written after a slice
 * passed its name waits for the next cycle; one whose images were all deleted before a later
 * slice is no longer in the share.
 *
 * Quarantine (chunk-quarantine.ts): each corrupt or missing chunk becomes an entry (unless it has
 * one), which makes the next backup of its volumes rewrite it. The first slice also checks every entry outside the
 * share: one whose chunk reads back whole, or that no live image references any more, is cleared;
 * one still broken is reported again. An entry inside the share is cleared when the chunk checks out.
 *
 * Caps: the progress is saved in the job's DynamoDB item and the result is published as one event,
 * so a bucket-wide problem must not make them grow with the number of findings. A run keeps the
 * MAX_SCRUB_FINDINGS_KEPT findings of each kind (manifests and segments first, then the smallest
 * chunk keys), each naming at most
 * MAX_SCRUB_FINDING_IMAGES images, with exact totals beside them (`corruptCount`, `missingCount`,
 * a finding's `imageCount`). The quarantine gets every finding with all of its images' volumes.
 */
import { z } from 'zod';
import { IntegrityError, NotFoundError, RbpError, describeError } from '../errors.ts';
import { DIGEST_BYTES, isZeroHash, sha256Hex } from '../image/hashing.ts';
import { decodeChunkSync, decodeManifest, decodeSegment } from '../image/image-format.ts';
import { MANIFEST_KEY_PREFIX, SEGMENT_KEY_PREFIX, chunkKey, segmentKey } from '../image/image-types.ts';
import type { ChunkQuarantine } from './chunk-quarantine.ts';
import { volumesOf } from './chunk-quarantine.ts';
import { FANOUT_PREFIXES, prefixOf } from './name-runs.ts';
import type { LifecycleImageRecords, LifecycleObjectStore } from './ports.ts';

/** Runs that together read every chunk: a daily scrub reads each chunk once a month. */
export const SCRUB_COVER_RUNS = 30;
/** Chunk reads in flight: GETs overlap one another; each chunk's decode and hashing run in turn. */
export const SCRUB_CONCURRENCY = 8;
/**
 * Chunks checked between two saves of a run's progress: at most 256 MiB of reads, a few seconds
 * at the Lambda's throughput, so a slice stops well inside its hand-over margin and a retried
 * invocation reads at most that much again.
 */
export const SCRUB_CHUNKS_PER_STEP = 256;
/**
 * Findings of each kind (corrupt, missing) a run keeps in its progress and result: enough to show
 * what broke; the totals count the rest. A kept finding is at most ~1.2 KB as JSON (a key of ~100
 * characters, 10 image names of ~70, a reason of 200), so 2 × 50 of them stay inside
 * SCRUB_PROGRESS_MAX_BYTES.
 */
export const MAX_SCRUB_FINDINGS_KEPT = 50;
/** Images a kept finding names (the first in name order); its `imageCount` counts them all. */
export const MAX_SCRUB_FINDING_IMAGES = 10;
/** Characters of a finding's reason kept: an error's message with its causes is otherwise unbounded. */
export const MAX_SCRUB_REASON_CHARS = 200;
/**
 * What the saved progress (and so the result and the Scrub Findings event) stays under as JSON,
 * whatever the number of findings: a third of a DynamoDB item's 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html) and half of
 * an EventBridge entry's 256 KB (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html).
 */
export const SCRUB_PROGRESS_MAX_BYTES = 128 * 1024;

/**
 * Where the rolling scrub stands: the next run checks the share of `runNumber`, in a cycle of
 * `coverRuns` runs. A different configured cycle starts again at 0.
 */
export interface ScrubCursor {
  readonly runNumber: number;
  readonly coverRuns: number;
}

export interface ScrubCursorStore {
  /** Undefined before the first completed run. */
  get(): Promise<ScrubCursor | undefined>;
  /**
   * Moves the cursor from `from` (undefined: no cursor yet) to `to`, conditionally: false when
   * another run moved it first (its share was then checked by that run).
   */
  advance(from: ScrubCursor | undefined, to: ScrubCursor): Promise<boolean>;
}

/** The run number of the next rolling scrub in a cycle of `coverRuns` runs. */
export function scrubRunNumberOf(cursor: ScrubCursor | undefined, coverRuns: number): number {
  return cursor === undefined || cursor.coverRuns !== coverRuns ? 0 : cursor.runNumber;
}

/** A corrupt or missing object a scrub found: kept in its progress and answered by the API. */
export const scrubFindingSchema = z
  .object({
    key: z.string(),
    /** At most MAX_SCRUB_FINDING_IMAGES of the images it breaks, in name order. */
    images: z.array(z.string()),
    /** Every image it breaks, counted. */
    imageCount: z.number().int(),
    reason: z.string(),
  })
  .strict();
export type ScrubFinding = z.infer<typeof scrubFindingSchema>;

/**
 * A run's state between slices (a job's `progress`): what to check, how far it got, what it found.
 * Only `after` and the counters move; everything else is fixed when the run starts.
 */
const scrubProgressObject = z
  .object({
    runNumber: z.number().int(),
    coverRuns: z.number().int().min(1),
    all: z.boolean(),
    /** The stored cursor the run started from (null: none yet); absent: the run moves no cursor. */
    cursorFrom: z.object({ runNumber: z.number().int(), coverRuns: z.number().int() }).nullable().optional(),
    /** Manifests, segments and quarantine entries were checked and reported (by the first slice). */
    structureChecked: z.boolean(),
    /** The last chunk name checked; names are checked in order. Absent: none yet. */
    after: z.string().optional(),
    done: z.boolean(),
    /** Slices that worked on the run (1 + hand-overs that made progress). */
    slices: z.number().int(),
    manifestsChecked: z.number().int(),
    segmentsChecked: z.number().int(),
    chunksVerified: z.number().int(),
    bytesRead: z.number().int(),
    /** At most MAX_SCRUB_FINDINGS_KEPT findings of each kind, in the order `kept` gives (manifests, segments, chunks). */
    corrupt: z.array(scrubFindingSchema),
    missing: z.array(scrubFindingSchema),
    /** Every finding of each kind so far, counted. */
    corruptCount: z.number().int(),
    missingCount: z.number().int(),
  })
  .strict();

/**
 * A finding or a progress saved before the caps, by the release before them: no totals, and its
 * lists were whole (images in name order), so their lengths are the totals; the images are cut
 * here and the findings by the run's next step.
 */
function withTotals(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const progress = value as Record<string, unknown>;
  const findings = (list: unknown): unknown =>
    Array.isArray(list)
      ? list.map((f: unknown) =>
          typeof f === 'object' &&
          f !== null &&
          !('imageCount' in f) &&
          'images' in f &&
          Array.isArray(f.images)
            ? { ...f, images: f.images.slice(0, MAX_SCRUB_FINDING_IMAGES), imageCount: f.images.length }
            : f,
        )
      : list;
  const count = (key: string, list: unknown): Record<string, unknown> =>
    key in progress || !Array.isArray(list) ? {} : { [key]: list.length };
  return {
    ...progress,
    corrupt: findings(progress.corrupt),
    missing: findings(progress.missing),
    ...count('corruptCount', progress.corrupt),
    ...count('missingCount', progress.missing),
  };
}

export const scrubProgressSchema = z.preprocess(withTotals, scrubProgressObject);
export type ScrubProgress = z.infer<typeof scrubProgressSchema>;

export interface ScrubResult {
  readonly status: 'ok' | 'findings';
  readonly runNumber: number;
  readonly coverRuns: number;
  /** Chunk-name prefixes (of 4,096) this run covered. */
  readonly prefixesCovered: number;
  readonly manifestsChecked: number;
  readonly segmentsChecked: number;
  readonly chunksVerified: number;
  /** Compressed bytes read for chunks. */
  readonly bytesRead: number;
  /** Invocations the run took (1 when it finished in the first). */
  readonly slices: number;
  /** At most MAX_SCRUB_FINDINGS_KEPT of each kind, manifests and segments first; the counts are the totals. */
  readonly corrupt: readonly ScrubFinding[];
  readonly missing: readonly ScrubFinding[];
  readonly corruptCount: number;
  readonly missingCount: number;
}

export interface ScrubDeps {
  readonly objects: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
  /** Where chunk findings go, for the next backup to repair; absent: findings are only reported. */
  readonly quarantine?: ChunkQuarantine;
  /** Time of a quarantine entry (ISO-8601); defaults to the epoch when there is no clock. */
  readonly now?: () => Date;
}

export interface ScrubOptions {
  /** Check every chunk instead of this run's share. */
  readonly all?: boolean;
  /** Increases by one per scheduled run (kept in the job store); picks the subset. */
  readonly runNumber: number;
  readonly coverRuns?: number;
  readonly concurrency?: number;
}

export interface ScrubSliceOptions {
  readonly concurrency?: number;
  /** Chunks per step (default SCRUB_CHUNKS_PER_STEP). */
  readonly chunksPerStep?: number;
  /** The scrub run's id, kept in quarantine entries. */
  readonly runId?: string;
  /** Called with the progress after every step (the caller saves it). */
  readonly saved?: (progress: ScrubProgress) => Promise<void>;
  /** Asked after every step: true ends the slice there (the run is then not done). */
  readonly stop?: () => boolean;
}

/** True when run `runNumber` of an N-run cycle checks chunks with this prefix. */
export function prefixInRun(prefix: number, runNumber: number, coverRuns: number): boolean {
  return prefix % coverRuns === ((runNumber % coverRuns) + coverRuns) % coverRuns;
}

function addTo(map: Map<string, Set<string>>, key: string, image: string): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([image]));
  else set.add(image);
}

/** A run that has checked nothing yet. */
export function startScrubProgress(
  options: ScrubOptions & { readonly cursorFrom?: ScrubCursor | null },
): ScrubProgress {
  const all = options.all === true;
  return {
    runNumber: all ? 0 : options.runNumber,
    coverRuns: all ? 1 : (options.coverRuns ?? SCRUB_COVER_RUNS),
    all,
    ...(options.cursorFrom === undefined ? {} : { cursorFrom: options.cursorFrom }),
    structureChecked: false,
    done: false,
    slices: 0,
    manifestsChecked: 0,
    segmentsChecked: 0,
    chunksVerified: 0,
    bytesRead: 0,
    corrupt: [],
    missing: [],
    corruptCount: 0,
    missingCount: 0,
  };
}

/**
 * Kept first: a broken manifest or segment breaks whole images and nothing repairs it by itself,
 * while a broken chunk is quarantined and rewritten by the next backup; so manifests, then
 * segments, then chunks, each in key order.
 */
const KEEP_ORDER: readonly string[] = [MANIFEST_KEY_PREFIX, SEGMENT_KEY_PREFIX];
const keepRank = (key: string): number => {
  const rank = KEEP_ORDER.findIndex((prefix) => key.startsWith(prefix));
  return rank === -1 ? KEEP_ORDER.length : rank;
};
const byKeepOrder = (a: ScrubFinding, b: ScrubFinding): number =>
  keepRank(a.key) - keepRank(b.key) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The findings a run keeps: MAX_SCRUB_FINDINGS_KEPT of them, manifests and segments first (KEEP_ORDER). */
function kept(findings: readonly ScrubFinding[]): ScrubFinding[] {
  return [...findings].sort(byKeepOrder).slice(0, MAX_SCRUB_FINDINGS_KEPT);
}

/** A finding as kept: its first images in name order, all of them counted, its reason cut. */
export function scrubFindingOf(key: string, images: readonly string[], reason: string): ScrubFinding {
  const sorted = [...images].sort();
  return {
    key,
    images: sorted.slice(0, MAX_SCRUB_FINDING_IMAGES),
    imageCount: sorted.length,
    reason:
      reason.length <= MAX_SCRUB_REASON_CHARS ? reason : `${reason.slice(0, MAX_SCRUB_REASON_CHARS - 1)}…`,
  };
}

/** The result of a finished run. */
export function scrubResultOf(progress: ScrubProgress): ScrubResult {
  let prefixesCovered = 0;
  for (let p = 0; p < FANOUT_PREFIXES; p += 1)
    if (prefixInRun(p, progress.runNumber, progress.coverRuns)) prefixesCovered += 1;
  return {
    status: progress.corruptCount + progress.missingCount === 0 ? 'ok' : 'findings',
    runNumber: progress.runNumber,
    coverRuns: progress.coverRuns,
    prefixesCovered,
    manifestsChecked: progress.manifestsChecked,
    segmentsChecked: progress.segmentsChecked,
    chunksVerified: progress.chunksVerified,
    bytesRead: progress.bytesRead,
    slices: progress.slices,
    corrupt: kept(progress.corrupt),
    missing: kept(progress.missing),
    corruptCount: progress.corruptCount,
    missingCount: progress.missingCount,
  };
}

/** Classifies a read's failure: a finding, or thrown (a retryable failure of the read itself). */
function findingOf(error: unknown): 'corrupt' | 'missing' {
  if (error instanceof NotFoundError) return 'missing';
  // Bytes that do not decode at all (a header that names no format version, a bad frame) are as
  // corrupt as a digest mismatch; a retryable failure of the read itself is not a finding.
  if (error instanceof IntegrityError || (error instanceof RbpError && !error.retryable)) return 'corrupt';
  throw error;
}

/**
 * One slice of a run: from `progress` until the share is checked (`done`) or `stop` answers true
 * after a step. At least one step is made whatever `stop` says, so every slice moves the run on.
 */
export async function scrubSlice(
  deps: ScrubDeps,
  start: ScrubProgress,
  options: ScrubSliceOptions = {},
): Promise<ScrubProgress> {
  if (start.done) return start;
  let progress: ScrubProgress = { ...start, slices: start.slices + 1 };
  const report = !progress.structureChecked;
  let corrupt: ScrubFinding[] = [...progress.corrupt];
  let missing: ScrubFinding[] = [...progress.missing];
  let corruptCount = progress.corruptCount;
  let missingCount = progress.missingCount;
  const quarantine = deps.quarantine;
  const now = (): string => (deps.now?.() ?? new Date(0)).toISOString();
  const record = async (
    error: unknown,
    key: string,
    images: readonly string[],
    chunk?: { readonly name: string; readonly volumes: readonly string[] },
  ) => {
    const kind = findingOf(error);
    const finding = scrubFindingOf(key, images, describeError(error));
    // Kept lists are cut back whenever they reach twice the cap, so a step holds few findings.
    if (kind === 'missing') {
      missingCount += 1;
      missing.push(finding);
      if (missing.length >= 2 * MAX_SCRUB_FINDINGS_KEPT) missing = kept(missing);
    } else {
      corruptCount += 1;
      corrupt.push(finding);
      if (corrupt.length >= 2 * MAX_SCRUB_FINDINGS_KEPT) corrupt = kept(corrupt);
    }
    // The quarantine gets every finding with every volume it breaks, whatever the progress keeps.
    if (chunk !== undefined && quarantine !== undefined) {
      await quarantine.add({
        name: chunk.name,
        volumeIds: [...chunk.volumes],
        reason: finding.reason,
        ...(options.runId === undefined ? {} : { runId: options.runId }),
        foundAt: now(),
      });
    }
  };
  const structural = async (error: unknown, key: string, images: Iterable<string>): Promise<void> => {
    findingOf(error); // a retryable failure is thrown by every slice
    if (report) await record(error, key, [...images].sort());
  };
  const entries = report && quarantine !== undefined ? await quarantine.list() : [];
  const quarantined = new Set(entries.map((entry) => entry.name));
  const inShare = (name: string): boolean =>
    prefixInRun(prefixOf(name), progress.runNumber, progress.coverRuns);

  // Manifests: segment hash → images.
  const segmentImages = new Map<string, Set<string>>();
  const images = (await deps.records.listImages()).filter((image) => image.status === 'live');
  for (const image of images) {
    const ref = `${image.volumeId}/${image.imageId}`;
    try {
      const bytes = await deps.objects.get(image.manifestKey);
      if (sha256Hex(bytes) !== image.manifestSha256) {
        throw new IntegrityError(
          `manifest ${image.manifestKey} does not match the digest in its image record`,
        );
      }
      for (const hash of decodeManifest(bytes, image.manifestKey).segments) {
        if (!isZeroHash(hash)) addTo(segmentImages, hash, ref);
      }
    } catch (error) {
      await structural(error, image.manifestKey, [ref]);
    }
  }

  // Segments: every one is checked; chunk name → the segments that hold it, for the names of this
  // run's prefixes not yet checked and the quarantined ones (a chunk sits in few segments, while a
  // segment may serve thousands of images).
  const after = progress.after;
  const chunkSegments = new Map<string, string[]>();
  for (const [hash, refs] of [...segmentImages].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      const table = await decodeSegment(await deps.objects.get(segmentKey(hash)), hash);
      for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
        const entry = table.subarray(offset, offset + DIGEST_BYTES);
        if (entry.every((b) => b === 0)) continue;
        const name = entry.toString('hex');
        const wanted = (inShare(name) && (after === undefined || name > after)) || quarantined.has(name);
        if (!wanted) continue;
        const segments = chunkSegments.get(name);
        if (segments === undefined) chunkSegments.set(name, [hash]);
        else if (segments.at(-1) !== hash) segments.push(hash);
      }
    } catch (error) {
      await structural(error, segmentKey(hash), refs);
    }
  }
  // The images a chunk breaks, sorted, and their volumes. A bucket-wide problem finds thousands of
  // chunks of the same segments, each serving up to thousands of images: a chunk in one segment (the
  // usual case) takes that segment's lists, computed once.
  const ofSegment = new Map<string, { readonly images: string[]; readonly volumes: string[] }>();
  const imagesOf = (name: string): { readonly images: string[]; readonly volumes: string[] } => {
    const hashes = chunkSegments.get(name)!;
    const cached = hashes.length === 1 ? ofSegment.get(hashes[0]!) : undefined;
    if (cached !== undefined) return cached;
    const sorted = [...new Set(hashes.flatMap((hash) => [...segmentImages.get(hash)!]))].sort();
    const found = { images: sorted, volumes: volumesOf(sorted) };
    if (hashes.length === 1) ofSegment.set(hashes[0]!, found);
    return found;
  };
  /** Reads and checks one chunk; true when it is whole. Counts only the share's chunks. */
  const check = async (name: string, counted: boolean): Promise<boolean> => {
    try {
      const bytes = await deps.objects.get(chunkKey(name));
      if (counted) progress = { ...progress, bytesRead: progress.bytesRead + bytes.length };
      decodeChunkSync(bytes, name);
      if (counted) progress = { ...progress, chunksVerified: progress.chunksVerified + 1 };
      return true;
    } catch (error) {
      const { images: broken, volumes } = imagesOf(name);
      await record(error, chunkKey(name), broken, { name, volumes });
      return false;
    }
  };

  if (report) {
    // Quarantined chunks outside the share: cleared when whole or no longer referenced.
    for (const entry of entries) {
      const referenced = chunkSegments.has(entry.name);
      if (referenced && inShare(entry.name)) continue; // checked with the share below
      if (!referenced || (await check(entry.name, false))) await quarantine!.clear(entry.name);
    }
    progress = {
      ...progress,
      structureChecked: true,
      manifestsChecked: images.length,
      segmentsChecked: segmentImages.size,
    };
  }

  // Chunks of the share, in name order, a step at a time.
  const names = [...chunkSegments.keys()]
    .filter((name) => inShare(name) && (after === undefined || name > after))
    .sort();
  const perStep = Math.max(1, options.chunksPerStep ?? SCRUB_CHUNKS_PER_STEP);
  let position = 0;
  do {
    const step = names.slice(position, position + perStep);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < step.length) {
        const name = step[next]!;
        next += 1;
        if ((await check(name, true)) && quarantined.has(name)) await quarantine!.clear(name);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? SCRUB_CONCURRENCY }, worker));
    position += step.length;
    progress = {
      ...progress,
      ...(step.length === 0 ? {} : { after: step.at(-1)! }),
      done: position >= names.length,
      corrupt: kept(corrupt),
      missing: kept(missing),
      corruptCount,
      missingCount,
    };
    await options.saved?.(progress);
  } while (!progress.done && options.stop?.() !== true);
  return progress;
}

/** A whole run in one go: every slice until the share is checked. */
export async function scrub(deps: ScrubDeps, options: ScrubOptions): Promise<ScrubResult> {
  let progress = startScrubProgress(options);
  while (!progress.done) {
    progress = await scrubSlice(deps, progress, {
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    });
  }
  return scrubResultOf(progress);
}
