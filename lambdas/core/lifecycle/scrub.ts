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
 */
import { IntegrityError, NotFoundError, RbpError, describeError } from '../errors.ts';
import { DIGEST_BYTES, isZeroHash, sha256Hex } from '../image/hashing.ts';
import { decodeChunkSync, decodeManifest, decodeSegment } from '../image/image-format.ts';
import { chunkKey, segmentKey } from '../image/image-types.ts';
import { FANOUT_PREFIXES, prefixOf } from './name-runs.ts';
import type { LifecycleImageRecords, LifecycleObjectStore } from './ports.ts';

/** Runs that together read every chunk: a daily scrub reads each chunk once a month. */
export const SCRUB_COVER_RUNS = 30;
/** Chunk reads in flight: GETs overlap one another; each chunk's decode and hashing run in turn. */
export const SCRUB_CONCURRENCY = 8;

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

export interface ScrubFinding {
  readonly key: string;
  /** `volumeId/imageId` of every live image this object breaks. */
  readonly images: readonly string[];
  readonly reason: string;
}

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
  readonly corrupt: readonly ScrubFinding[];
  readonly missing: readonly ScrubFinding[];
}

export interface ScrubDeps {
  readonly objects: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
}

export interface ScrubOptions {
  /** Check every chunk instead of this run's share. */
  readonly all?: boolean;
  /** Increases by one per scheduled run (kept in the job store); picks the subset. */
  readonly runNumber: number;
  readonly coverRuns?: number;
  readonly concurrency?: number;
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

export async function scrub(deps: ScrubDeps, options: ScrubOptions): Promise<ScrubResult> {
  const coverRuns = options.all === true ? 1 : (options.coverRuns ?? SCRUB_COVER_RUNS);
  const runNumber = options.all === true ? 0 : options.runNumber;
  const corrupt: ScrubFinding[] = [];
  const missing: ScrubFinding[] = [];
  const report = (error: unknown, key: string, images: Iterable<string>): void => {
    const finding = { key, images: [...images].sort(), reason: describeError(error) };
    if (error instanceof NotFoundError) missing.push(finding);
    // Bytes that do not decode at all (a header that names no format version, a bad frame) are as
    // corrupt as a digest mismatch; a retryable failure of the read itself is not a finding.
    else if (error instanceof IntegrityError || (error instanceof RbpError && !error.retryable))
      corrupt.push(finding);
    else throw error;
  };

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
      report(error, image.manifestKey, [ref]);
    }
  }

  // Segments: every one is checked; chunk name → the segments that hold it, for this run's
  // prefixes only (a chunk sits in few segments, while a segment may serve thousands of images).
  const chunkSegments = new Map<string, string[]>();
  for (const [hash, refs] of [...segmentImages].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      const table = await decodeSegment(await deps.objects.get(segmentKey(hash)), hash);
      for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
        const entry = table.subarray(offset, offset + DIGEST_BYTES);
        if (entry.every((b) => b === 0)) continue;
        const name = entry.toString('hex');
        if (!prefixInRun(prefixOf(name), runNumber, coverRuns)) continue;
        const segments = chunkSegments.get(name);
        if (segments === undefined) chunkSegments.set(name, [hash]);
        else if (segments.at(-1) !== hash) segments.push(hash);
      }
    } catch (error) {
      report(error, segmentKey(hash), refs);
    }
  }

  // Chunks: read, decompress, check length and name.
  let chunksVerified = 0;
  let bytesRead = 0;
  const names = [...chunkSegments.keys()].sort();
  const imagesOf = (name: string): Set<string> =>
    new Set(chunkSegments.get(name)!.flatMap((hash) => [...segmentImages.get(hash)!]));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next]!;
      next += 1;
      try {
        const bytes = await deps.objects.get(chunkKey(name));
        bytesRead += bytes.length;
        decodeChunkSync(bytes, name);
        chunksVerified += 1;
      } catch (error) {
        report(error, chunkKey(name), imagesOf(name));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? SCRUB_CONCURRENCY }, worker));

  const byKey = (a: ScrubFinding, b: ScrubFinding): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  let prefixesCovered = 0;
  for (let p = 0; p < FANOUT_PREFIXES; p += 1) if (prefixInRun(p, runNumber, coverRuns)) prefixesCovered += 1;
  return {
    status: corrupt.length + missing.length === 0 ? 'ok' : 'findings',
    runNumber,
    coverRuns,
    prefixesCovered,
    manifestsChecked: images.length,
    segmentsChecked: segmentImages.size,
    chunksVerified,
    bytesRead,
    corrupt: corrupt.sort(byKey),
    missing: missing.sort(byKey),
  };
}
