/**
 * Scheduled restore tests (what AWS Backup calls restore testing,
 * https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing.html): for every protected
 * server, the newest recovery point (every volume of the server's newest run, as AWS Backup's
 * `LATEST_WITHIN_WINDOW` picks the latest recovery point) is restored in part and checked.
 *
 * - A sample of regular files is taken from the image's catalog: a bounded walk of the catalog's
 *   directories in an order seeded by the run id, keeping per size class the files whose seeded
 *   score is lowest, then picking round-robin over the classes (small to large) within a byte
 *   budget. The same run id over the same image picks the same files; another run id picks others.
 * - Each file is restored through the file-restore path (the filesystem opened on the image reader,
 *   `readFileBytes`) into a sink that hashes and counts and keeps nothing; its length must equal the
 *   size the catalog recorded (the catalog stores no content checksum, only inode metadata), and
 *   the filesystem's own size for the inode must agree. The SHA-256 of what came out is recorded.
 * - With `wholeVolume`, every non-zero chunk of every image of the point is read through the
 *   volume-restore path (`restoreImageToSink`) into a sink that keeps nothing: every chunk must
 *   decode (zstd, length, both half digests against its name). No EBS snapshot is created.
 *
 * A test runs in steps over a progress record (RestoreTestProgress): one server's sample, or
 * WHOLE_VOLUME_SEGMENTS_PER_STEP segments of one image. The caller saves the progress after every
 * step and may stop between two (the lifecycle job hands over to a new invocation before Lambda's
 * 15 minutes run out, as the collection does); figures are counted into the progress in the same
 * step that moves the cursor past what they count, so a resumed test never counts a segment twice,
 * and a test run in many invocations ends with the result of one run.
 *
 * A chunk that fails verification makes the read fail with the chunk's name (image-store.ts), so
 * a failure names the file and the chunk. A retryable error (throttling) ends the test with that
 * error, so the job is retried rather than reported as a failed restore.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { describeError, isRetryable, NotFoundError } from '../errors.ts';
import { listDirectory, MAX_PAGE_ENTRIES } from '../catalog/catalog-queries.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { versionKeyOf, type ImageRef } from '../catalog/catalog-types.ts';
import { readFileBytes } from '../file-restore/file-bytes.ts';
import { openImageFilesystem, type OpenedFilesystem } from '../file-restore/open-filesystem.ts';
import { ImageReader } from '../image/image-reader.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { Clock } from '../ports.ts';
import { restoreImageToSink, RESTORE_SEGMENTS_IN_FLIGHT } from '../restore/volume-restore.ts';
import type { LifecycleImage, LifecycleImageRecords } from './ports.ts';

/** Files checked per server by default: enough to touch several directories and size classes. */
export const RESTORE_TEST_FILES_PER_SERVER = 16;
/** Most files one test may check per server (a request or configuration asking more is refused). */
export const RESTORE_TEST_MAX_FILES = 1000;
/** Bytes of sampled files read per server at most: 256 MiB take seconds from S3 inside one Lambda. */
export const RESTORE_TEST_MAX_SAMPLE_BYTES = 256 * 1024 * 1024;
/** Catalog entries the sample walk looks at per server: about 40 DynamoDB pages, bounded time. */
export const RESTORE_TEST_MAX_ENTRIES_SCANNED = 20_000;
/** Directories waiting to be walked at most (the highest-scored are dropped): bounded memory. */
export const RESTORE_TEST_MAX_FRONTIER = 10_000;
/**
 * Upper bounds of the size classes the sample mixes (the last class is everything larger): small
 * files (inline or one extent), around a chunk, several chunks, and large files.
 */
export const RESTORE_TEST_SIZE_CLASS_BOUNDS = [64 * 1024, 1024 * 1024, 16 * 1024 * 1024] as const;
/** Catalog statuses whose entries are listed (a failed or unsupported partition has none to trust). */
const SAMPLED_PARTITION_STATUSES = new Set(['complete', 'partial']);
/** Recovery points looked at, newest first, for one whose images are all catalogued. */
export const RESTORE_TEST_CATALOG_LOOKBACK = 3;
/**
 * Segments (1 GiB of chunks each) read per whole-volume step: the restore path's own parallelism,
 * so a step takes seconds to tens of seconds and a hand-over loses at most that much work.
 */
export const WHOLE_VOLUME_SEGMENTS_PER_STEP = RESTORE_SEGMENTS_IN_FLIGHT;
/** Version of the progress record a restore test keeps in its job (a reader refuses others). */
export const RESTORE_TEST_PROGRESS_VERSION = 1;

/** What a restore test found for one server (the job's result, the API's answer). */
export const restoreTestServerSchema = z
  .object({
    server: z.string(),
    /** The newest image of the recovery point tested; `images`: `volumeId/imageId` of all of them. */
    imageId: z.string(),
    recoveryPointId: z.string().optional(),
    images: z.array(z.string()),
    filesChecked: z.number().int(),
    bytesChecked: z.number().int(),
    durationMs: z.number().int(),
    result: z.enum(['Passed', 'Failed']),
    /** Why it failed: each names the file (and the chunk when one failed verification). */
    failures: z.array(z.string()),
    /** The files checked: path as catalogued, the catalog's size, the SHA-256 of the restored bytes. */
    files: z.array(
      z
        .object({
          volumeId: z.string(),
          partition: z.number().int(),
          path: z.string(),
          size: z.number().int(),
          sha256: z.string().optional(),
        })
        .strict(),
    ),
    /** Not failures: no catalogued image (no files sampled), nothing that fits the sample. */
    notes: z.array(z.string()),
    wholeVolume: z.object({ chunksVerified: z.number().int(), bytes: z.number().int() }).strict().optional(),
  })
  .strict();

export type RestoreTestServerResult = z.infer<typeof restoreTestServerSchema>;
export type CheckedFile = RestoreTestServerResult['files'][number];
export type RestoreTestVerdict = RestoreTestServerResult['result'];

export interface RestoreTestResult {
  readonly status: 'passed' | 'failed';
  readonly servers: readonly RestoreTestServerResult[];
}

export interface RestoreTestDeps {
  /** `getImage` re-checks an image whose read failed: one deleted during the test is not a failure. */
  readonly records: Pick<LifecycleImageRecords, 'listImages' | 'getImage'>;
  readonly catalog: CatalogStore;
  readonly images: ImageStore;
  readonly clock: Clock;
  /** Segments read per whole-volume step (default WHOLE_VOLUME_SEGMENTS_PER_STEP). */
  readonly segmentsPerStep?: number;
}

export interface RestoreTestOptions {
  /** Seeds the sample: the same id over the same image checks the same files. */
  readonly runId: string;
  /** One server only; absent: every server with a live image. */
  readonly server?: string;
  readonly files?: number;
  readonly wholeVolume?: boolean;
  /** Sampled bytes per server at most (default RESTORE_TEST_MAX_SAMPLE_BYTES). */
  readonly maxSampleBytes?: number;
  /** Catalog entries walked per server at most (default RESTORE_TEST_MAX_ENTRIES_SCANNED). */
  readonly maxEntriesScanned?: number;
}

// ---- choosing the recovery point ----

/** The server an image belongs to: its tag-derived server, else (untagged volumes) its volume. */
export function serverOf(image: LifecycleImage): string {
  return image.serverId ?? image.volumeId;
}

/**
 * Recovery points of each server, newest first: the images of one run share a recoveryPointId;
 * an image without one is a point of its own. Only live images count.
 */
export function recoveryPointsByServer(images: readonly LifecycleImage[]): Map<string, LifecycleImage[][]> {
  const byServer = new Map<string, Map<string, LifecycleImage[]>>();
  for (const image of images) {
    if (image.status !== 'live') continue;
    const server = serverOf(image);
    const points = byServer.get(server) ?? new Map<string, LifecycleImage[]>();
    byServer.set(server, points);
    const point = image.recoveryPointId ?? `${image.volumeId}/${image.imageId}`;
    points.set(point, [...(points.get(point) ?? []), image]);
  }
  const newest = (point: readonly LifecycleImage[]) =>
    point.reduce((a, b) => (versionKeyOf(a) > versionKeyOf(b) ? a : b));
  const out = new Map<string, LifecycleImage[][]>();
  for (const server of [...byServer.keys()].sort()) {
    const points = [...byServer.get(server)!.values()].map((point) =>
      [...point].sort((a, b) => a.volumeId.localeCompare(b.volumeId)),
    );
    points.sort((a, b) => (versionKeyOf(newest(b)) < versionKeyOf(newest(a)) ? -1 : 1));
    out.set(server, points);
  }
  return out;
}

// ---- the sample ----

export interface SampleCandidate {
  readonly volumeId: string;
  readonly partition: number;
  readonly path: string;
  readonly size: number;
}

interface Scored extends SampleCandidate {
  readonly score: string;
}

/** The seeded score of a name: a hex SHA-256, compared as text. */
export function sampleScore(seed: string, parts: readonly (string | number)[]): string {
  return createHash('sha256')
    .update([seed, ...parts].join('\u0000'))
    .digest('hex');
}

export function sizeClassOf(size: number): number {
  const index = RESTORE_TEST_SIZE_CLASS_BOUNDS.findIndex((bound) => size < bound);
  return index === -1 ? RESTORE_TEST_SIZE_CLASS_BOUNDS.length : index;
}

const byScore = (a: Scored, b: Scored) => (a.score < b.score ? -1 : a.score > b.score ? 1 : 0);

/**
 * Keeps, per size class, the `files` candidates with the lowest seeded score (memory: files ×
 * classes), so the outcome does not depend on the order candidates arrive in.
 */
export class SampleCollector {
  private readonly classes: Scored[][] = RESTORE_TEST_SIZE_CLASS_BOUNDS.map(() => []).concat([[]]);

  constructor(
    private readonly seed: string,
    private readonly files: number,
    private readonly maxBytes: number,
  ) {}

  add(candidate: SampleCandidate): void {
    if (candidate.size > this.maxBytes || this.files === 0) return;
    const scored = {
      ...candidate,
      score: sampleScore(this.seed, [candidate.volumeId, candidate.partition, candidate.path]),
    };
    const kept = this.classes[sizeClassOf(candidate.size)]!;
    if (kept.length >= this.files && byScore(scored, kept.at(-1)!) >= 0) return;
    kept.push(scored);
    kept.sort(byScore);
    if (kept.length > this.files) kept.pop();
  }

  /**
   * Round-robin over the size classes, smallest first, each giving its lowest-scored file that
   * still fits the byte budget, until `files` are picked or no class has one that fits.
   */
  pick(): SampleCandidate[] {
    const queues = this.classes.map((kept) => [...kept]);
    const picked: SampleCandidate[] = [];
    let bytes = 0;
    for (let progress = true; progress && picked.length < this.files;) {
      progress = false;
      for (const queue of queues) {
        if (picked.length >= this.files) break;
        const index = queue.findIndex((c) => bytes + c.size <= this.maxBytes);
        if (index === -1) continue;
        const [chosen] = queue.splice(index, 1);
        const { score: _score, ...candidate } = chosen!;
        picked.push(candidate);
        bytes += candidate.size;
        progress = true;
      }
    }
    return picked;
  }
}

/** Pure: the sample of `candidates` for `seed` (what SampleCollector keeps and picks). */
export function pickSample(
  seed: string,
  candidates: Iterable<SampleCandidate>,
  files: number,
  maxBytes: number,
): SampleCandidate[] {
  const collector = new SampleCollector(seed, files, maxBytes);
  for (const candidate of candidates) collector.add(candidate);
  return collector.pick();
}

interface Frontier {
  readonly dir: string;
  readonly score: string;
}

/** Inserts keeping `frontier` sorted by score (binary search; the walk takes from the front). */
function insertByScore(frontier: Frontier[], item: Frontier): void {
  let low = 0;
  let high = frontier.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (frontier[middle]!.score <= item.score) low = middle + 1;
    else high = middle;
  }
  frontier.splice(low, 0, item);
}

/**
 * Walks the catalog of one partition as of `image`: directories in seeded-score order (so a
 * bounded walk reaches different subtrees for different seeds), at most `budget.left` entries.
 */
async function walkPartition(
  catalog: RestoreTestDeps['catalog'],
  image: ImageRef,
  partition: number,
  seed: string,
  collector: SampleCollector,
  budget: { left: number },
): Promise<void> {
  const frontier: Frontier[] = [{ dir: '/', score: '' }];
  while (frontier.length > 0 && budget.left > 0) {
    const { dir } = frontier.shift()!;
    let cursor: string | undefined;
    do {
      const page = await listDirectory(catalog, image, partition, dir, {
        limit: Math.min(MAX_PAGE_ENTRIES, Math.max(1, budget.left)),
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const entry of page.items) {
        budget.left -= 1;
        if (entry.type === 'directory') {
          insertByScore(frontier, {
            dir: entry.path,
            score: sampleScore(seed, [image.volumeId, partition, entry.path]),
          });
        } else if (entry.type === 'file' && entry.encrypted !== true) {
          collector.add({ volumeId: image.volumeId, partition, path: entry.path, size: entry.size });
        }
      }
      cursor = page.cursor;
    } while (cursor !== undefined && budget.left > 0);
    if (frontier.length > RESTORE_TEST_MAX_FRONTIER) frontier.length = RESTORE_TEST_MAX_FRONTIER;
  }
}

// ---- checking ----

/** A sink that keeps nothing: counts the bytes written (the volume path's RandomAccessSink). */
function countingSink() {
  let bytes = 0;
  return {
    get bytes() {
      return bytes;
    },
    setSize: () => Promise.resolve(),
    write: (_offset: number, data: Uint8Array) => {
      bytes += data.length;
      return Promise.resolve();
    },
  };
}

function imageName(image: Pick<LifecycleImage, 'volumeId' | 'imageId'>): string {
  return `${image.volumeId}/${image.imageId}`;
}

/** A failure's words: the error's message and causes, or a retryable error thrown on. */
function reasonOf(error: unknown): string {
  if (isRetryable(error)) throw error;
  return describeError(error);
}

async function checkFile(
  opened: OpenedFilesystem,
  file: SampleCandidate,
): Promise<{ sha256?: string; bytes: number; failure?: string }> {
  const inode = await opened.fs.lookup(file.path);
  const stat = await opened.fs.stat(inode);
  if (stat.type !== 'file') {
    return { bytes: 0, failure: `is a ${stat.type} in the image, the catalog says a regular file` };
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of readFileBytes(opened.fs, opened.reader, inode)) {
    hash.update(piece);
    bytes += piece.length;
  }
  const sha256 = hash.digest('hex');
  if (stat.size !== file.size) {
    return { sha256, bytes, failure: `the filesystem says ${stat.size} bytes, the catalog ${file.size}` };
  }
  if (bytes !== file.size) {
    return { sha256, bytes, failure: `restored ${bytes} bytes, the catalog says ${file.size}` };
  }
  return { sha256, bytes };
}

interface PointCatalog {
  readonly image: LifecycleImage;
  readonly partitions: readonly number[];
}

/** The sampled partitions of each image of the point, or undefined when one is not catalogued. */
async function catalogOf(
  deps: RestoreTestDeps,
  point: readonly LifecycleImage[],
): Promise<PointCatalog[] | undefined> {
  const out: PointCatalog[] = [];
  for (const image of point) {
    const record = await deps.catalog.getImageCatalog(image.volumeId, versionKeyOf(image));
    if (record === undefined || !SAMPLED_PARTITION_STATUSES.has(record.status)) return undefined;
    out.push({
      image,
      partitions: record.partitions
        .filter((p) => SAMPLED_PARTITION_STATUSES.has(p.status))
        .map((p) => p.index),
    });
  }
  return out;
}

async function testServer(
  deps: RestoreTestDeps,
  server: string,
  points: readonly (readonly LifecycleImage[])[],
  options: Required<Omit<RestoreTestOptions, 'server'>>,
): Promise<RestoreTestServerResult> {
  const started = deps.clock.now().getTime();
  const notes: string[] = [];
  // The newest point whose images are all catalogued (the catalog is built after the backup),
  // looking back a few points; else the newest, without a file sample.
  let point = points[0]!;
  let catalogued: PointCatalog[] | undefined;
  for (const candidate of points.slice(0, RESTORE_TEST_CATALOG_LOOKBACK)) {
    catalogued = await catalogOf(deps, candidate);
    if (catalogued !== undefined) {
      point = candidate;
      break;
    }
  }
  if (catalogued === undefined) {
    notes.push(
      `no catalogued image among the newest ${RESTORE_TEST_CATALOG_LOOKBACK} recovery points: no files sampled`,
    );
  }
  const newest = point.reduce((a, b) => (versionKeyOf(a) > versionKeyOf(b) ? a : b));
  const failures: string[] = [];
  const files: CheckedFile[] = [];
  let bytesChecked = 0;
  const readers = new Map<string, ImageReader>();
  const readerOf = async (image: LifecycleImage): Promise<ImageReader> => {
    let reader = readers.get(imageName(image));
    if (reader === undefined) {
      const manifest = await deps.images.getManifest(image.volumeId, image.imageId, image.manifestSha256);
      reader = new ImageReader(deps.images, manifest);
      readers.set(imageName(image), reader);
    }
    return reader;
  };

  if (catalogued !== undefined) {
    const collector = new SampleCollector(options.runId, options.files, options.maxSampleBytes);
    const perImage = Math.max(1, Math.floor(options.maxEntriesScanned / catalogued.length));
    for (const { image, partitions } of catalogued) {
      const budget = { left: perImage };
      for (const partition of partitions) {
        if (budget.left <= 0) break;
        await walkPartition(deps.catalog, image, partition, options.runId, collector, budget);
      }
    }
    const sample = collector.pick();
    if (sample.length === 0) notes.push('the catalog lists no regular file that fits the sample');
    const opened = new Map<string, OpenedFilesystem>();
    for (const file of sample) {
      const image = catalogued.find((c) => c.image.volumeId === file.volumeId)!.image;
      const where = `file ${file.path} (partition ${file.partition} of ${imageName(image)})`;
      try {
        const key = `${imageName(image)}#${file.partition}`;
        let fs = opened.get(key);
        if (fs === undefined) {
          fs = await openImageFilesystem(await readerOf(image), file.partition);
          opened.set(key, fs);
        }
        const checked = await checkFile(fs, file);
        bytesChecked += checked.bytes;
        files.push({ ...file, ...(checked.sha256 === undefined ? {} : { sha256: checked.sha256 }) });
        if (checked.failure !== undefined) failures.push(`${where}: ${checked.failure}`);
      } catch (error) {
        files.push(file);
        failures.push(`${where}: ${reasonOf(error)}`);
      }
    }
  }

  return {
    server,
    imageId: newest.imageId,
    ...(newest.recoveryPointId === undefined ? {} : { recoveryPointId: newest.recoveryPointId }),
    images: point.map(imageName),
    filesChecked: files.length,
    bytesChecked,
    durationMs: deps.clock.now().getTime() - started,
    result: failures.length === 0 ? 'Passed' : 'Failed',
    failures,
    files,
    notes,
    ...(options.wholeVolume ? { wholeVolume: { chunksVerified: 0, bytes: 0 } } : {}),
  };
}

// ---- the test in steps ----

/** One image a whole-volume read covers: its server (index into the results) and manifest. */
const wholeVolumeImageSchema = z
  .object({
    result: z.number().int().min(0),
    volumeId: z.string(),
    imageId: z.string(),
    manifestSha256: z.string(),
  })
  .strict();

/**
 * Where a restore test is (the job's `progress`): the servers to test (fixed when it starts), the
 * results of those sampled so far, the images left for the whole-volume read, and the cursor in
 * them (image index, first segment not yet read). Counted figures live in the results.
 */
export const restoreTestProgressSchema = z
  .object({
    version: z.literal(RESTORE_TEST_PROGRESS_VERSION),
    servers: z.array(z.string()),
    results: z.array(restoreTestServerSchema),
    wholeVolume: z.array(wholeVolumeImageSchema),
    cursor: z.object({ image: z.number().int().min(0), segment: z.number().int().min(0) }).strict(),
  })
  .strict();
export type RestoreTestProgress = z.infer<typeof restoreTestProgressSchema>;

/** The options with their defaults. */
function resolvedOptions(options: RestoreTestOptions): Required<Omit<RestoreTestOptions, 'server'>> {
  return {
    runId: options.runId,
    files: options.files ?? RESTORE_TEST_FILES_PER_SERVER,
    wholeVolume: options.wholeVolume === true,
    maxSampleBytes: options.maxSampleBytes ?? RESTORE_TEST_MAX_SAMPLE_BYTES,
    maxEntriesScanned: options.maxEntriesScanned ?? RESTORE_TEST_MAX_ENTRIES_SCANNED,
  };
}

/**
 * The progress of a test that has not started: the servers with a live image (or `options.server`,
 * a NotFoundError when it has none), in name order.
 */
export async function startRestoreTestProgress(
  deps: RestoreTestDeps,
  options: Pick<RestoreTestOptions, 'server'>,
): Promise<RestoreTestProgress> {
  const points = recoveryPointsByServer(await deps.records.listImages());
  if (options.server !== undefined && !points.has(options.server)) {
    throw new NotFoundError(`server ${options.server} has no live images to test`, {
      context: { server: options.server },
    });
  }
  const servers = options.server === undefined ? [...points.keys()] : [options.server];
  return {
    version: RESTORE_TEST_PROGRESS_VERSION,
    servers,
    results: [],
    wholeVolume: [],
    cursor: { image: 0, segment: 0 },
  };
}

/** True when every server is sampled and every whole-volume image read. */
export function restoreTestDone(progress: RestoreTestProgress): boolean {
  return (
    progress.results.length === progress.servers.length &&
    progress.cursor.image >= progress.wholeVolume.length
  );
}

/** What a finished test found: its results, passed when every server passed. */
export function restoreTestResultOf(progress: RestoreTestProgress): RestoreTestResult {
  return {
    status: progress.results.every((r) => r.result === 'Passed') ? 'passed' : 'failed',
    servers: progress.results,
  };
}

/**
 * A server that lost every live image between its test's start and its turn (retention expired
 * them while the test ran for hours): nothing left to read, a note and not a failure.
 */
function vanishedServer(server: string): RestoreTestServerResult {
  return {
    server,
    imageId: '',
    images: [],
    filesChecked: 0,
    bytesChecked: 0,
    durationMs: 0,
    result: 'Passed',
    failures: [],
    files: [],
    notes: [`server ${server} has no live image any more: its images were deleted during the test; not read`],
  };
}

/**
 * Whether an image whose read failed was deleted (or is being deleted) since the test listed it: a
 * whole-volume read takes hours, and retention and collection go on meanwhile.
 */
async function deletedSinceListed(
  deps: RestoreTestDeps,
  image: Pick<LifecycleImage, 'volumeId' | 'imageId'>,
): Promise<boolean> {
  try {
    return (await deps.records.getImage(image.volumeId, image.imageId)).status !== 'live';
  } catch (error) {
    if (error instanceof NotFoundError) return true;
    throw error;
  }
}

/**
 * Runs the next step of the test and returns the progress after it (a new object; the argument is
 * left as it was): the sample of the next server, else WHOLE_VOLUME_SEGMENTS_PER_STEP segments of
 * the image under the cursor (a failure there fails the server, names the image and skips the rest
 * of that image). A retryable error is thrown with the progress unchanged.
 */
export async function restoreTestStep(
  deps: RestoreTestDeps,
  options: RestoreTestOptions,
  progress: RestoreTestProgress,
  /** The servers' recovery points (recoveryPointsByServer), read once per invocation by the caller. */
  points: () => Promise<Map<string, LifecycleImage[][]>>,
): Promise<RestoreTestProgress> {
  const next = structuredClone(progress);
  if (next.results.length < next.servers.length) {
    const server = next.servers[next.results.length]!;
    const serverPoints = (await points()).get(server);
    if (serverPoints === undefined) {
      next.results.push(vanishedServer(server));
      return next;
    }
    const resolved = resolvedOptions(options);
    const result = await testServer(deps, server, serverPoints, resolved);
    if (resolved.wholeVolume) {
      const tested = new Set(result.images);
      for (const image of serverPoints.flat()) {
        if (!tested.has(imageName(image))) continue;
        const { volumeId, imageId, manifestSha256 } = image;
        next.wholeVolume.push({ result: next.results.length, volumeId, imageId, manifestSha256 });
      }
    }
    next.results.push(result);
    return next;
  }
  const image = next.wholeVolume[next.cursor.image];
  if (image === undefined) return next;
  const result = next.results[image.result]!;
  const started = deps.clock.now().getTime();
  const sink = countingSink();
  // The image is done when its last segment is read, or when reading it failed (the rest is skipped).
  let imageDone = true;
  try {
    const manifest = await deps.images.getManifest(image.volumeId, image.imageId, image.manifestSha256);
    const from = next.cursor.segment;
    const step = deps.segmentsPerStep ?? WHOLE_VOLUME_SEGMENTS_PER_STEP;
    const to = Math.min(from + step, manifest.segments.length);
    const batch = Array.from({ length: Math.max(0, to - from) }, (_, n) => from + n);
    const { chunksWritten } = await restoreImageToSink(deps.images, manifest, sink, { segments: batch });
    const counted = result.wholeVolume ?? { chunksVerified: 0, bytes: 0 };
    result.wholeVolume = {
      chunksVerified: counted.chunksVerified + chunksWritten,
      bytes: counted.bytes + sink.bytes,
    };
    next.cursor.segment = to;
    imageDone = to >= manifest.segments.length;
  } catch (error) {
    const reason = reasonOf(error);
    if (await deletedSinceListed(deps, image)) {
      result.notes.push(`whole volume ${imageName(image)}: image deleted during the test; not read further`);
    } else {
      result.failures.push(`whole volume ${imageName(image)}: ${reason}`);
      result.result = 'Failed';
    }
  }
  result.durationMs += deps.clock.now().getTime() - started;
  if (imageDone) next.cursor = { image: next.cursor.image + 1, segment: 0 };
  return next;
}

/**
 * Tests the newest recovery point of every protected server (or of `options.server`) in one go:
 * every step of the test, one after another. Servers are tested in name order; a server with no
 * live image is a NotFoundError when asked for by name.
 */
export async function runRestoreTest(
  deps: RestoreTestDeps,
  options: RestoreTestOptions,
): Promise<RestoreTestResult> {
  let progress = await startRestoreTestProgress(deps, options);
  const points = pointsOnce(deps);
  while (!restoreTestDone(progress)) progress = await restoreTestStep(deps, options, progress, points);
  return restoreTestResultOf(progress);
}

/** The servers' recovery points, read on first use and then kept (one listing per invocation). */
export function pointsOnce(deps: RestoreTestDeps): () => Promise<Map<string, LifecycleImage[][]>> {
  let read: Promise<Map<string, LifecycleImage[][]>> | undefined;
  return () => (read ??= deps.records.listImages().then(recoveryPointsByServer));
}
