/**
 * Builds the catalog of one committed image: reads the partition table, walks every ext2/3/4
 * filesystem and writes a version item only for the entries that were added, changed or removed
 * since the catalog's state just before this image (docs/catalog.md, "Writing an incremental").
 *
 * Memory stays bounded by the directory nesting, not by the size of the filesystem: the walk
 * streams, and a directory's children are held only until its subtree is done; then they are sorted
 * and merge-joined with the previous state of that one directory (one paginated Query, started in
 * the background when the directory is entered). Other filesystems are recorded as unsupported;
 * damaged structures become recorded errors; neither fails the catalog.
 */
import { isRetryable } from '../errors.ts';
import type { ByteRangeReader } from '../ports.ts';
import {
  FileNotFoundInImageError,
  openExt4,
  readPartitionTable,
  sliceReader,
  type Ext4Filesystem,
  type OpenExt4Options,
  type Partition,
  type WalkEntry,
} from '../fs/index.ts';
import {
  APPLICATION_METADATA_MAX_BYTES,
  APPLICATION_METADATA_PATH,
  parseApplicationMetadata,
  type ApplicationRecord,
} from './applications.ts';
import { previousDirectoryState } from './catalog-queries.ts';
import { plainBytesReader } from './plain-bytes-reader.ts';
import type { CatalogStore } from './catalog-store.ts';
import {
  CATALOG_FORMAT_VERSION,
  MAX_RECORDED_PROBLEMS,
  addChanges,
  addCounts,
  compareCodePoints,
  emptyChanges,
  emptyCounts,
  fingerprintOf,
  versionKeyOf,
  type CatalogChanges,
  type CatalogCounts,
  type CatalogItem,
  type FileMeta,
  type ImageCatalogRecord,
  type ImageRef,
  type PartitionCatalog,
  type RecordedProblem,
} from './catalog-types.ts';

/** Items per store write: DynamoDB's BatchWriteItem maximum. */
export const WRITE_BATCH_ITEMS = 25;
/** Batch writes in flight: 4 × 25 items keeps a Lambda busy without bursting past on-demand limits. */
export const WRITE_CONCURRENCY = 4;
/** Previous-state queries in flight (one per open directory, started when the walk enters it). */
export const PREFETCH_CONCURRENCY = 8;
/**
 * Children of one directory held in memory (~300 B each: 150 MB). Beyond it the rest of that
 * directory is not catalogued and an error says so; real directories stay far below.
 */
export const MAX_DIRECTORY_CHILDREN = 500_000;

const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);

export interface BuildCatalogDeps {
  readonly store: CatalogStore;
}

export interface BuildCatalogRequest {
  readonly image: ImageRef;
  /** The whole disk image (an ImageReader in production). */
  readonly disk: ByteRangeReader;
  readonly ext4?: OpenExt4Options;
  /** Overrides MAX_DIRECTORY_CHILDREN (tests). */
  readonly maxDirectoryChildren?: number;
}

/** A counting semaphore for background work. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

/** Buffers items into batches and keeps a bounded number of batch writes in flight. */
class BatchedWriter {
  private buffer: CatalogItem[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;
  written = 0;

  constructor(private readonly store: CatalogStore) {}

  async add(item: CatalogItem): Promise<void> {
    this.buffer.push(item);
    if (this.buffer.length >= WRITE_BATCH_ITEMS) await this.flushBuffer();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async flushBuffer(): Promise<void> {
    this.throwIfFailed();
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    while (this.inFlight.size >= WRITE_CONCURRENCY) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const write = this.store.putItems(batch).then(
      () => {
        this.written += batch.length;
      },
      (error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    const tracked = write.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  async finish(): Promise<void> {
    await this.flushBuffer();
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }
}

interface OpenDirectory {
  readonly path: string;
  readonly children: CatalogItem[];
  truncated: boolean;
  readonly previous: Promise<CatalogItem[]> | undefined;
}

interface PartitionContext {
  readonly image: ImageRef;
  readonly version: string;
  readonly partition: number;
  readonly hasPrevious: boolean;
  readonly store: CatalogStore;
  readonly writer: BatchedWriter;
  readonly prefetch: Limiter;
  readonly maxChildren: number;
  readonly counts: CatalogCounts;
  readonly changes: CatalogChanges;
  readonly problems: ProblemLog;
}

/** Characters kept of a recorded path or message: 2 × 100 problems stay far below DynamoDB's 400 KB item. */
export const MAX_PROBLEM_TEXT_CHARS = 512;

function clip(text: string): string {
  return text.length <= MAX_PROBLEM_TEXT_CHARS ? text : `${text.slice(0, MAX_PROBLEM_TEXT_CHARS - 1)}…`;
}

function clipped(problem: RecordedProblem): RecordedProblem {
  return {
    ...problem,
    ...(problem.path === undefined ? {} : { path: clip(problem.path) }),
    message: clip(problem.message),
  };
}

class ProblemLog {
  readonly errors: RecordedProblem[] = [];
  readonly warnings: RecordedProblem[] = [];
  errorCount = 0;

  error(problem: RecordedProblem): void {
    this.errorCount += 1;
    if (this.errors.length < MAX_RECORDED_PROBLEMS) this.errors.push(clipped(problem));
  }

  warning(problem: RecordedProblem): void {
    if (this.warnings.length < MAX_RECORDED_PROBLEMS) this.warnings.push(clipped(problem));
  }
}

function metaOf(entry: WalkEntry): FileMeta {
  return {
    type: entry.type,
    inode: entry.inode,
    size: entry.size,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    nlink: entry.nlink,
    mtime: entry.mtime,
    ctime: entry.ctime,
    atime: entry.atime,
    ...(entry.crtime === undefined ? {} : { crtime: entry.crtime }),
    ...(entry.symlinkTarget === undefined ? {} : { symlinkTarget: entry.symlinkTarget }),
    ...(entry.device === undefined ? {} : { device: entry.device }),
  };
}

function countEntry(counts: CatalogCounts, meta: FileMeta): void {
  switch (meta.type) {
    case 'file':
      counts.files += 1;
      counts.bytes += meta.size / Math.max(1, meta.nlink);
      break;
    case 'directory':
      counts.directories += 1;
      break;
    case 'symlink':
      counts.symlinks += 1;
      break;
    default:
      counts.others += 1;
  }
}

function sortKeyOrder(a: CatalogItem, b: CatalogItem): number {
  return compareCodePoints(`${a.name}/`, `${b.name}/`);
}

function removalOf(ctx: PartitionContext, before: CatalogItem): CatalogItem {
  return {
    volumeId: ctx.image.volumeId,
    partition: ctx.partition,
    dir: before.dir,
    name: before.name,
    path: before.path,
    version: ctx.version,
    imageId: ctx.image.imageId,
    createdAt: ctx.image.createdAt,
    removed: true,
  };
}

/**
 * A directory that is gone (or is no longer a directory) takes its whole previous subtree with it:
 * every entry below it that is current gets a removal marker, so neither a listing nor a search
 * shows it in this image. Depth first with an explicit stack (bounded by the previous tree's shape).
 */
async function removePreviousSubtree(ctx: PartitionContext, root: string): Promise<void> {
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const entries = await previousDirectoryState(
      ctx.store,
      ctx.image.volumeId,
      ctx.partition,
      dir,
      ctx.version,
    );
    for (const entry of entries) {
      await ctx.writer.add(removalOf(ctx, entry));
      ctx.changes.removed += 1;
      if (entry.meta?.type === 'directory') pending.push(entry.path);
    }
  }
}

async function closeDirectory(ctx: PartitionContext, dir: OpenDirectory): Promise<void> {
  const fresh = dir.children.sort(sortKeyOrder);
  const previous = dir.previous === undefined ? [] : await dir.previous;
  let i = 0;
  let j = 0;
  let lastName: string | undefined;
  while (i < fresh.length || j < previous.length) {
    const now = fresh[i];
    const before = previous[j];
    if (now !== undefined && now.name === lastName) {
      ctx.problems.error({
        partition: ctx.partition,
        path: now.path,
        message: 'the directory lists this name twice; only the first entry is catalogued',
      });
      i += 1;
      continue;
    }
    const order = now === undefined ? 1 : before === undefined ? -1 : sortKeyOrder(now, before);
    if (order < 0) {
      await ctx.writer.add(now!);
      ctx.changes.added += 1;
      lastName = now!.name;
      i += 1;
    } else if (order > 0) {
      if (!dir.truncated) {
        await ctx.writer.add(removalOf(ctx, before!));
        ctx.changes.removed += 1;
        if (before!.meta?.type === 'directory') await removePreviousSubtree(ctx, before!.path);
      }
      j += 1;
    } else {
      if (fingerprintOf(now!.meta!) !== fingerprintOf(before!.meta!)) {
        await ctx.writer.add(now!);
        ctx.changes.changed += 1;
        // A directory replaced by something else: what was below it is gone too.
        if (before!.meta?.type === 'directory' && now!.meta?.type !== 'directory') {
          await removePreviousSubtree(ctx, before!.path);
        }
      }
      lastName = now!.name;
      i += 1;
      j += 1;
    }
  }
}

function openDirectory(ctx: PartitionContext, path: string): OpenDirectory {
  const previous = ctx.hasPrevious
    ? ctx.prefetch.run(() =>
        previousDirectoryState(ctx.store, ctx.image.volumeId, ctx.partition, path, ctx.version),
      )
    : undefined;
  // A rejection is handled when the directory is closed; don't let it surface as unhandled before.
  previous?.catch(() => undefined);
  return { path, children: [], truncated: false, previous };
}

async function catalogFilesystem(ctx: PartitionContext, fs: Ext4Filesystem): Promise<void> {
  const stack: OpenDirectory[] = [];
  for await (const item of fs.walk()) {
    if (item.kind === 'error') {
      ctx.problems.error({ partition: ctx.partition, path: item.path, message: item.error.message });
      continue;
    }
    while (stack.length > item.depth) await closeDirectory(ctx, stack.pop()!);
    if (item.depth === 0) {
      stack.push(openDirectory(ctx, '/'));
      continue;
    }
    const parent = stack[item.depth - 1];
    if (parent === undefined) continue; // the walk never yields a child before its parent
    const meta = metaOf(item);
    countEntry(ctx.counts, meta);
    if (parent.children.length >= ctx.maxChildren) {
      if (!parent.truncated) {
        parent.truncated = true;
        ctx.problems.error({
          partition: ctx.partition,
          path: parent.path,
          message: `directory has more than ${ctx.maxChildren} entries; the rest are not catalogued`,
        });
      }
    } else {
      parent.children.push({
        volumeId: ctx.image.volumeId,
        partition: ctx.partition,
        dir: parent.path,
        name: item.name,
        path: item.path,
        version: ctx.version,
        imageId: ctx.image.imageId,
        createdAt: ctx.image.createdAt,
        meta,
      });
    }
    if (item.type === 'directory') stack.push(openDirectory(ctx, item.path));
  }
  while (stack.length > 0) await closeDirectory(ctx, stack.pop()!);
}

async function readApplications(
  fs: Ext4Filesystem,
  image: ImageRef,
  partition: number,
  problems: ProblemLog,
): Promise<ApplicationRecord[] | undefined> {
  let inode: number;
  try {
    inode = await fs.lookup(APPLICATION_METADATA_PATH);
  } catch (error) {
    if (isRetryable(error)) throw error;
    if (!(error instanceof FileNotFoundInImageError)) {
      problems.warning({
        partition,
        path: APPLICATION_METADATA_PATH,
        message: `unreadable: ${String(error)}`,
      });
    }
    return undefined;
  }
  const where = { partition, path: APPLICATION_METADATA_PATH };
  try {
    const stat = await fs.stat(inode);
    if (stat.type !== 'file') {
      problems.warning({ ...where, message: `application metadata is a ${stat.type}, not a file` });
      return [];
    }
    if (stat.size > APPLICATION_METADATA_MAX_BYTES) {
      problems.warning({
        ...where,
        message: `application metadata is ${stat.size} bytes, above the ${APPLICATION_METADATA_MAX_BYTES}-byte limit`,
      });
      return [];
    }
    const parsed = parseApplicationMetadata(await fs.readFile(inode));
    if (!parsed.ok) {
      problems.warning({ ...where, message: `application metadata is malformed: ${parsed.problem}` });
      return [];
    }
    return parsed.metadata.applications.map((app) => ({
      volumeId: image.volumeId,
      imageId: image.imageId,
      partition,
      name: app.name,
      type: app.type,
      ...(app.version === undefined ? {} : { version: app.version }),
      paths: app.paths,
      databases: app.databases,
    }));
  } catch (error) {
    if (isRetryable(error)) throw error;
    problems.warning({ ...where, message: `application metadata unreadable: ${String(error)}` });
    return [];
  }
}

function problemMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Catalogs `request.image`; returns (and stores) its catalog record. Throws only retryable errors and store failures. */
export async function buildCatalog(
  deps: BuildCatalogDeps,
  request: BuildCatalogRequest,
): Promise<ImageCatalogRecord> {
  const { image } = request;
  const disk = plainBytesReader(request.disk);
  const { store } = deps;
  const version = versionKeyOf(image);
  const problems = new ProblemLog();
  const counts = emptyCounts();
  const changes = emptyChanges();
  const base = {
    volumeId: image.volumeId,
    imageId: image.imageId,
    createdAt: image.createdAt,
    version,
    formatVersion: CATALOG_FORMAT_VERSION,
  };
  const record = (
    status: ImageCatalogRecord['status'],
    partitions: PartitionCatalog[],
    applicationCount: number,
    scheme?: string,
  ): ImageCatalogRecord => ({
    ...base,
    status,
    ...(scheme === undefined ? {} : { partitionScheme: scheme }),
    partitions,
    counts: { ...counts, bytes: Math.round(counts.bytes) },
    changes,
    errorCount: problems.errorCount,
    errors: problems.errors,
    warnings: problems.warnings,
    applicationCount,
  });

  // Mark the attempt first: a later image then knows that items of this one may exist.
  await store.putImageCatalog(record('running', [], 0));
  const hasPrevious = (await store.latestImageCatalogBefore(image.volumeId, version)) !== undefined;

  let partitions: readonly Partition[];
  let scheme: string;
  try {
    const table = await readPartitionTable(disk);
    partitions = table.partitions;
    scheme = table.scheme;
    for (const warning of table.warnings) problems.warning({ message: `partition table: ${warning}` });
  } catch (error) {
    if (isRetryable(error)) throw error;
    problems.error({ message: `partition table unreadable: ${problemMessage(error)}` });
    const failed = record('failed', [], 0);
    await store.putImageCatalog(failed);
    return failed;
  }

  const writer = new BatchedWriter(store);
  const prefetch = new Limiter(PREFETCH_CONCURRENCY);
  const results: PartitionCatalog[] = [];
  const applications: ApplicationRecord[] = [];
  let sawApplicationFile = false;
  for (const partition of partitions) {
    if (!EXT_TYPES.has(partition.fsType)) {
      results.push({
        index: partition.index,
        fsType: partition.fsType,
        status: 'unsupported',
        counts: emptyCounts(),
        changes: emptyChanges(),
        errorCount: 0,
      });
      continue;
    }
    const partCounts = emptyCounts();
    const partChanges = emptyChanges();
    const errorsBefore = problems.errorCount;
    let fs: Ext4Filesystem;
    try {
      fs = await openExt4(sliceReader(disk, partition.startByte, partition.sizeBytes), request.ext4);
    } catch (error) {
      if (isRetryable(error)) throw error;
      problems.error({
        partition: partition.index,
        message: `filesystem unreadable: ${problemMessage(error)}`,
      });
      results.push({
        index: partition.index,
        fsType: partition.fsType,
        status: 'failed',
        counts: partCounts,
        changes: partChanges,
        errorCount: 1,
      });
      continue;
    }
    for (const warning of fs.warnings) problems.warning({ partition: partition.index, message: warning });
    const writtenBefore = writer.written;
    const ctx: PartitionContext = {
      image,
      version,
      partition: partition.index,
      hasPrevious,
      store,
      writer,
      prefetch,
      maxChildren: request.maxDirectoryChildren ?? MAX_DIRECTORY_CHILDREN,
      counts: partCounts,
      changes: partChanges,
      problems,
    };
    await catalogFilesystem(ctx, fs);
    await writer.finish();
    partChanges.itemsWritten = writer.written - writtenBefore;
    const apps = await readApplications(fs, image, partition.index, problems);
    if (apps !== undefined) {
      sawApplicationFile = true;
      applications.push(...apps);
    }
    const errorCount = problems.errorCount - errorsBefore;
    results.push({
      index: partition.index,
      fsType: partition.fsType,
      status: errorCount === 0 ? 'complete' : 'partial',
      ...(fs.label === '' ? {} : { label: fs.label }),
      uuid: fs.uuid,
      counts: { ...partCounts, bytes: Math.round(partCounts.bytes) },
      changes: partChanges,
      errorCount,
    });
    addCounts(counts, partCounts);
    addChanges(changes, partChanges);
  }

  const catalogued = results.filter((p) => p.status !== 'unsupported');
  if (catalogued.length > 0 && !sawApplicationFile) {
    problems.warning({
      message: `no application metadata file (${APPLICATION_METADATA_PATH}) on any filesystem`,
    });
  }
  await store.putApplications(image, applications);
  const status =
    catalogued.length === 0
      ? 'unsupported'
      : catalogued.every((p) => p.status === 'failed')
        ? 'failed'
        : catalogued.every((p) => p.status === 'complete')
          ? 'complete'
          : 'partial';
  const final = record(status, results, applications.length, scheme);
  await store.putImageCatalog(final);
  return final;
}
