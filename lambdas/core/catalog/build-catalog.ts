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
  openVolume,
  type FilesystemReader,
  type FileType,
  type InodeStat,
  type OpenExt4Options,
  type Partition,
  type VolumeContents,
  type WalkEntry,
} from '../fs/index.ts';
import {
  APPLICATION_METADATA_MAX_BYTES,
  APPLICATION_METADATA_PATH,
  applicationPaths,
  parseApplicationMetadata,
  type ApplicationRecord,
} from './applications.ts';
import { previousDirectoryState } from './catalog-queries.ts';
import {
  capSpans,
  changeOracle,
  decodeTreePage,
  metaFingerprint,
  normalizeSpans,
  pageSpanCap,
  treePageSplit,
  treePagesOf,
  MAX_OWN_SPANS,
  MAX_TREE_PAGE_ENTRIES,
  MAX_SUBTREE_SPANS,
  type ChangedBytes,
  type PageSummary,
  type SubtreeSummary,
  type TreeEntry,
  type TreePage,
} from './catalog-trees.ts';
import { metadataRangesOf, type ByteSpan, type MetadataRangeSource } from '../fs/metadata-ranges.ts';
import { CHUNK_SIZE_BYTES } from '../geometry.ts';
import { encodeName } from '../fs/name-encoding.ts';
import type { CatalogStore } from './catalog-store.ts';
import {
  CATALOG_FORMAT_VERSION,
  MAX_RECORDED_PROBLEMS,
  addChanges,
  addCounts,
  compareCodePoints,
  emptyChanges,
  emptyCounts,
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

export interface BuildCatalogDeps {
  readonly store: CatalogStore;
}

/** The image the previous catalog was built from, so that unchanged subtrees can be skipped. */
export interface PreviousImage {
  readonly image: ImageRef;
  readonly disk: ByteRangeReader;
  /**
   * Chunks (1 MiB, disk byte offset / 1 MiB) whose content may differ between that image and this
   * one: the engine's manifests tell (changedChunksBetween). Absent: every chunk is compared.
   */
  readonly changedChunks?: ReadonlySet<number>;
}

export interface BuildCatalogRequest {
  readonly image: ImageRef;
  /** Optional: without it an incremental still reads previous state from tree pages, but walks everything. */
  readonly previous?: PreviousImage;
  /** The whole disk image (an ImageReader in production). */
  readonly disk: ByteRangeReader;
  readonly ext4?: OpenExt4Options;
  /** Overrides MAX_DIRECTORY_CHILDREN (tests). */
  readonly maxDirectoryChildren?: number;
  /** Overrides MAX_TREE_PAGE_ENTRIES (tests: small directories of several pages). */
  readonly treePageEntries?: number;
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

/** An entry of a directory as the previous catalog knew it. */
interface PreviousEntry {
  readonly name: string;
  readonly path: string;
  readonly fp: string;
  readonly type: string | undefined;
  readonly inode: number;
  /** From tree pages only (what the counts need). */
  readonly size?: number;
  readonly nlink?: number;
  readonly sub?: SubtreeSummary;
  /** From tree pages only: the index of its page in the directory's refs. */
  readonly page?: number;
}

/** A child of the directory at `path` as the previous tree page number `page` recorded it. */
function previousOfTreeEntry(e: TreeEntry, path: string, page: number): PreviousEntry {
  return {
    name: e.name,
    path: childPath(path, e.name),
    fp: e.fp,
    type: e.type,
    inode: e.inode,
    size: e.size,
    nlink: e.nlink,
    page,
    ...(e.sub === undefined ? {} : { sub: e.sub }),
  };
}

interface OpenDirectory {
  readonly path: string;
  readonly inode: number;
  readonly children: CatalogItem[];
  truncated: boolean;
  previous: Promise<PreviousEntry[]> | undefined;
  prevByName?: Map<string, PreviousEntry>;
  /** What the previous catalog knew of this path's subtree (from its parent's page or the record). */
  readonly before: SubtreeSummary | undefined;
  /** Whether that was the same directory (inode): only then may its subtree be carried over. */
  readonly sameInode: boolean;
  /** Set when its subtree is carried over unread. */
  pruned?: SubtreeSummary;
  /** Set when its own listing is unchanged: visited from its pages (shallowVisit). */
  shallow?: boolean;
  /** Entries below it (not itself), including carried subtrees. */
  readonly counts: CatalogCounts;
  errors: number;
  /** Inode numbers of entries that failed to load (their records are part of the listing). */
  readonly failedInodes: number[];
  /** A walk error inside its own listing: its ranges are unknown. */
  damaged: boolean;
  readonly subs: Map<string, SubtreeSummary>;
}

/** Tree bookkeeping of one partition (catalog-trees.ts). */
interface TreeContext {
  /** Previous state comes from tree pages (the previous catalog finished and wrote them). */
  readonly fromPages: boolean;
  readonly root: SubtreeSummary | undefined;
  readonly ranges: MetadataRangeSource | undefined;
  /** Present when unchanged subtrees may be skipped. */
  readonly oracle: ChangedBytes | undefined;
  readonly pages: PageWriter;
  /** Entries per tree page at most (MAX_TREE_PAGE_ENTRIES unless a test sets it). */
  readonly pageEntries: number;
  readonly layout: string | undefined;
  rootSummary?: SubtreeSummary;
  pruned: number;
  /** Entries the walk yielded (the rest was carried over). */
  walked: number;
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
  readonly tree: TreeContext;
}

/** Tree pages of one catalog, written 25 to a request (BatchWriteItem), in the background. */
class PageWriter {
  private buffer: TreePage[] = [];
  private readonly pending: Promise<void>[] = [];
  written = 0;
  constructor(
    private readonly store: CatalogStore,
    private readonly volumeId: string,
  ) {}

  /** Hashes written (or queued) by this catalog: identical directories share a page. */
  private readonly seen = new Set<string>();

  add(pages: readonly TreePage[]): void {
    for (const page of pages) {
      if (this.seen.has(page.hash)) continue;
      this.seen.add(page.hash);
      this.buffer.push(page);
    }
    if (this.buffer.length >= WRITE_BATCH_ITEMS) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.written += batch.length;
    const write = this.store.putTreePages(this.volumeId, batch);
    write.catch(() => undefined); // surfaced by finish()
    this.pending.push(write);
  }

  async finish(): Promise<void> {
    this.flush();
    await Promise.all(this.pending);
  }
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

  /** Errors of a subtree carried over from the previous catalog: counted, their details are there. */
  carry(count: number): void {
    this.errorCount += count;
  }

  error(problem: RecordedProblem): void {
    this.errorCount += 1;
    if (this.errors.length < MAX_RECORDED_PROBLEMS) this.errors.push(clipped(problem));
  }

  warning(problem: RecordedProblem): void {
    if (this.warnings.length < MAX_RECORDED_PROBLEMS) this.warnings.push(clipped(problem));
  }
}

function metaOf(entry: InodeStat & { readonly symlinkTarget?: string }): FileMeta {
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
    ...(entry.windowsAttributes === undefined ? {} : { windowsAttributes: entry.windowsAttributes }),
    ...(entry.shortName === undefined ? {} : { shortName: entry.shortName }),
    ...(entry.streams === undefined || entry.streams.length === 0 ? {} : { streams: entry.streams }),
    ...(entry.reparseTag === undefined ? {} : { reparseTag: entry.reparseTag }),
    ...(entry.encrypted === true ? { encrypted: true as const } : {}),
  };
}

function countEntry(counts: CatalogCounts, meta: FileMeta): void {
  countParts(counts, meta.type, meta.size, meta.nlink);
}

function countParts(counts: CatalogCounts, type: FileType, size: number, nlink: number): void {
  switch (type) {
    case 'file':
      counts.files += 1;
      counts.bytes += size / Math.max(1, nlink);
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

function removalOf(
  ctx: PartitionContext,
  before: Pick<PreviousEntry, 'name' | 'path'> & { dir: string },
): CatalogItem {
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
async function removePreviousSubtree(ctx: PartitionContext, root: PreviousEntry): Promise<void> {
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const entries = await previousEntries(ctx, dir.path, dir.sub);
    for (const entry of entries) {
      await ctx.writer.add(removalOf(ctx, { ...entry, dir: dir.path }));
      ctx.changes.removed += 1;
      if (entry.type === 'directory') pending.push(entry);
    }
  }
}

function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * A directory as the previous catalog knew it: from its tree pages (one BatchGetItem, whatever its
 * history) when the previous catalog wrote them, else from its version items (one Query).
 */
async function previousEntries(
  ctx: PartitionContext,
  path: string,
  before: SubtreeSummary | undefined,
): Promise<PreviousEntry[]> {
  if (ctx.tree.fromPages && before !== undefined && before.truncated !== true) {
    const bodies = await ctx.store.getTreePages(ctx.image.volumeId, before.refs);
    if (before.refs.every((ref) => bodies.has(ref))) {
      return before.refs.flatMap((ref, page) =>
        decodeTreePage(ref, bodies.get(ref)!).map((e) => previousOfTreeEntry(e, path, page)),
      );
    }
  }
  if (ctx.tree.fromPages && before === undefined) return []; // new here: the pages say it did not exist
  if (!ctx.hasPrevious) return [];
  const items = await previousDirectoryState(ctx.store, ctx.image.volumeId, ctx.partition, path, ctx.version);
  return items.map((item) => ({
    name: item.name,
    path: item.path,
    fp: metaFingerprint(item.meta!),
    type: item.meta?.type,
    inode: item.meta?.inode ?? 0,
  }));
}

/**
 * The entries of some pages of a directory (`pages`: indexes into its refs), from the pages alone;
 * undefined when one of them is missing.
 */
async function previousPages(
  ctx: PartitionContext,
  path: string,
  before: SubtreeSummary,
  pages: ReadonlySet<number>,
): Promise<PreviousEntry[] | undefined> {
  const wanted = before.refs.filter((_, page) => pages.has(page));
  const bodies =
    wanted.length === 0
      ? new Map<string, string>()
      : await ctx.store.getTreePages(ctx.image.volumeId, wanted);
  const out: PreviousEntry[] = [];
  for (let page = 0; page < before.refs.length; page += 1) {
    if (!pages.has(page)) continue;
    const ref = before.refs[page]!;
    const body = bodies.get(ref);
    if (body === undefined) return undefined;
    for (const e of decodeTreePage(ref, body)) out.push(previousOfTreeEntry(e, path, page));
  }
  return out;
}

async function closeDirectory(
  ctx: PartitionContext,
  fs: FilesystemReader,
  dir: OpenDirectory,
  parent?: OpenDirectory,
): Promise<void> {
  if (dir.shallow === true && dir.children.length === 0) {
    await shallowVisit(ctx, fs, dir, parent);
    return;
  }
  if (dir.pruned !== undefined && dir.children.length === 0) {
    // Carried over unread: its listing and everything below are what the previous image had.
    const carried = dir.pruned;
    addCounts(ctx.counts, carried.counts);
    ctx.problems.carry(carried.errors);
    ctx.tree.pruned += 1;
    finishSummary(ctx, dir, parent, carried);
    return;
  }
  const fresh = dir.children.sort(sortKeyOrder);
  const previous = await previousOf(ctx, dir);
  const entries: TreeEntry[] = [];
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
      dir.errors += 1;
      dir.damaged = true;
      i += 1;
      continue;
    }
    const order =
      now === undefined
        ? 1
        : before === undefined
          ? -1
          : compareCodePoints(`${now.name}/`, `${before.name}/`);
    if (order <= 0) entries.push(treeEntryOf(dir, now!));
    if (order < 0) {
      await ctx.writer.add(now!);
      ctx.changes.added += 1;
      lastName = now!.name;
      i += 1;
    } else if (order > 0) {
      if (!dir.truncated) {
        await ctx.writer.add(removalOf(ctx, { ...before!, dir: dir.path }));
        ctx.changes.removed += 1;
        if (before!.type === 'directory') await removePreviousSubtree(ctx, before!);
      }
      j += 1;
    } else {
      if (metaFingerprint(now!.meta!) !== before!.fp) {
        await ctx.writer.add(now!);
        ctx.changes.changed += 1;
        // A directory replaced by something else: what was below it is gone too.
        if (before!.type === 'directory' && now!.meta?.type !== 'directory') {
          await removePreviousSubtree(ctx, before!);
        }
      }
      lastName = now!.name;
      i += 1;
      j += 1;
    }
  }
  const { pages, ends } = treePageSplit(entries, ctx.tree.pageEntries);
  const known = new Set(dir.before?.refs ?? []);
  ctx.tree.pages.add(pages.filter((page) => !known.has(page.hash)));
  const spans = await subtreeSpans(ctx, dir, fresh);
  finishSummary(ctx, dir, parent, {
    refs: pages.map((page) => page.hash),
    ...(spans === undefined ? {} : { spans: spans.spans, own: spans.own }),
    counts: dir.counts,
    errors: dir.errors,
    ...(dir.truncated ? { truncated: true as const } : {}),
    ...(spans !== undefined && pages.length > 1
      ? { pages: pageSummariesOf(entries, ends, spans.byName) }
      : {}),
  });
}

function treeEntryOf(dir: OpenDirectory, item: CatalogItem): TreeEntry {
  const meta = item.meta!;
  const sub = meta.type === 'directory' ? dir.subs.get(item.name) : undefined;
  return {
    name: item.name,
    type: meta.type,
    inode: meta.inode,
    fp: metaFingerprint(meta),
    size: meta.size,
    nlink: meta.nlink,
    ...(sub === undefined ? {} : { sub }),
  };
}

/** Hands a closed directory's summary to its parent (or, for the root, to the partition). */
function finishSummary(
  ctx: PartitionContext,
  dir: OpenDirectory,
  parent: OpenDirectory | undefined,
  summary: SubtreeSummary,
): void {
  if (parent === undefined) {
    ctx.tree.rootSummary = summary;
    return;
  }
  parent.subs.set(dir.path.slice(dir.path.lastIndexOf('/') + 1), summary);
  addCounts(parent.counts, summary.counts);
  parent.errors += summary.errors;
}

/**
 * The bytes this directory's subtree was read from: its own record and entry blocks, each entry's
 * record (and slow symlink blocks), and its subdirectories' spans. Unknown (never skipped) when the
 * reader has no range source, the listing was damaged or truncated, or a subdirectory's is unknown.
 */
async function subtreeSpans(
  ctx: PartitionContext,
  dir: OpenDirectory,
  children: readonly CatalogItem[],
): Promise<{ spans: ByteSpan[]; own: ByteSpan[]; byName: Map<string, ByteSpan[]> } | undefined> {
  const ranges = ctx.tree.ranges;
  if (ranges === undefined || dir.damaged || dir.truncated) return undefined;
  const spans: ByteSpan[] = [];
  /** Each child's own ranges, for the page summaries. */
  const byName = new Map<string, ByteSpan[]>();
  let own: ByteSpan[];
  try {
    own = capSpans(await ranges.directoryRanges(dir.inode), MAX_OWN_SPANS);
    spans.push(...own);
    for (const child of children) {
      const meta = child.meta!;
      const own = await ranges.entryRanges(meta.inode, meta.type, meta.size);
      byName.set(child.name, own);
      spans.push(...own);
    }
    for (const inode of dir.failedInodes) spans.push(...(await ranges.entryRanges(inode, undefined, 0)));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return undefined;
  }
  for (const child of children) {
    if (child.meta?.type !== 'directory') continue;
    const sub = dir.subs.get(child.name);
    if (sub?.spans === undefined) return undefined;
    spans.push(...sub.spans);
  }
  return { spans: capSpans(normalizeSpans(spans)), own, byName };
}

function previousOf(ctx: PartitionContext, dir: OpenDirectory): Promise<PreviousEntry[]> {
  if (dir.previous === undefined) {
    dir.previous = ctx.prefetch.run(() => previousEntries(ctx, dir.path, dir.before));
    // A rejection is handled when the directory is closed; don't let it surface as unhandled before.
    dir.previous.catch(() => undefined);
  }
  return dir.previous;
}

function openDirectory(
  ctx: PartitionContext,
  path: string,
  inode: number,
  before: { summary?: SubtreeSummary; sameInode: boolean },
): OpenDirectory {
  const dir: OpenDirectory = {
    path,
    inode,
    children: [],
    truncated: false,
    previous: undefined,
    before: before.summary,
    sameInode: before.sameInode,
    counts: emptyCounts(),
    errors: 0,
    failedInodes: [],
    damaged: false,
    subs: new Map(),
  };
  // Without skipping, start the previous-state read now so it overlaps the walk of the subtree.
  if (ctx.tree.oracle === undefined) void previousOf(ctx, dir);
  return dir;
}

/**
 * The walk's `descend`: a subdirectory whose previous subtree summary names only bytes that did not
 * change (same inode, known spans) is carried over without being walked; otherwise its previous
 * state is fetched while its subtree is walked.
 */
async function decideDescend(
  ctx: PartitionContext,
  stack: readonly OpenDirectory[],
  entry: WalkEntry,
): Promise<boolean> {
  const dir = stack.at(-1);
  if (dir === undefined || dir.path !== entry.path) return true;
  const summary = dir.before;
  if (
    ctx.tree.oracle !== undefined &&
    dir.sameInode &&
    summary?.spans !== undefined &&
    summary.truncated !== true &&
    !(await ctx.tree.oracle.changed(summary.spans))
  ) {
    dir.pruned = summary;
    return false;
  }
  // A directory with page summaries may be visited reading only its changed pages: fetch its
  // previous state only once it is walked. Others fetch it now, overlapping the check below.
  const pagewise = summary?.pages !== undefined;
  if (!pagewise) void previousOf(ctx, dir);
  if (
    ctx.tree.oracle !== undefined &&
    dir.sameInode &&
    summary?.spans !== undefined &&
    summary.truncated !== true &&
    !dir.path.includes('\uFFFD') &&
    !(await ownListingChanged(ctx, dir.inode, summary))
  ) {
    dir.shallow = true;
    return false;
  }
  if (pagewise) void previousOf(ctx, dir);
  return true;
}

/** What the parent's previous pages say about its subdirectory `name`, if it was a directory. */
async function beforeOf(
  ctx: PartitionContext,
  parent: OpenDirectory,
  name: string,
  inode: number,
): Promise<{ summary?: SubtreeSummary; sameInode: boolean }> {
  if (!ctx.tree.fromPages) return { sameInode: false };
  if (parent.prevByName === undefined) {
    const entries = await previousOf(ctx, parent);
    parent.prevByName = new Map(entries.map((e) => [e.name, e]));
  }
  const before = parent.prevByName.get(name);
  if (before?.type !== 'directory' || before.sub === undefined) return { sameInode: false };
  return { summary: before.sub, sameInode: before.inode === inode };
}

/** The open directory a walk error belongs to: the deepest whose path holds the error's path. */
function ownerOf(stack: readonly OpenDirectory[], path: string): OpenDirectory | undefined {
  for (let k = stack.length - 1; k >= 0; k -= 1) {
    const dir = stack[k]!;
    if (path === dir.path || path.startsWith(dir.path === '/' ? '/' : `${dir.path}/`)) return dir;
  }
  return undefined;
}

async function catalogFilesystem(ctx: PartitionContext, fs: FilesystemReader): Promise<void> {
  const root = ctx.tree.root;
  if (
    ctx.tree.oracle !== undefined &&
    root?.spans !== undefined &&
    !(await ctx.tree.oracle.changed(root.spans))
  ) {
    // Nothing any listing depends on changed: the whole filesystem is carried over.
    addCounts(ctx.counts, root.counts);
    ctx.problems.carry(root.errors);
    ctx.tree.rootSummary = root;
    ctx.tree.pruned += 1;
    return;
  }
  await walkFrom(
    ctx,
    fs,
    '/',
    { ...(root === undefined ? {} : { summary: root }), sameInode: true },
    undefined,
  );
}

/**
 * Walks the subtree at `rootPath` (the whole filesystem for "/"), cataloguing every directory it
 * descends into; `parentOfRoot` receives the root's summary (undefined: the partition's root).
 * `rootInode`, when the caller knows it, spares the reader resolving the path: a lookup reads every
 * directory above, in full, which for a deep path costs more than the walk itself.
 */
async function walkFrom(
  ctx: PartitionContext,
  fs: FilesystemReader,
  rootPath: string,
  rootBefore: { summary?: SubtreeSummary; sameInode: boolean },
  parentOfRoot: OpenDirectory | undefined,
  rootInode?: number,
): Promise<void> {
  const stack: OpenDirectory[] = [];
  const close = async (): Promise<void> => {
    const dir = stack.pop()!;
    await closeDirectory(ctx, fs, dir, stack.at(-1) ?? parentOfRoot);
  };
  const walk = fs.walk({
    root: rootPath,
    ...(rootInode === undefined ? {} : { rootInode }),
    ...(ctx.tree.oracle === undefined
      ? {}
      : { descend: (entry: WalkEntry) => decideDescend(ctx, stack, entry) }),
  });
  for await (const item of walk) {
    if (item.kind === 'error') {
      ctx.problems.error({ partition: ctx.partition, path: item.path, message: item.error.message });
      const owner = ownerOf(stack, item.path) ?? parentOfRoot;
      if (owner !== undefined) {
        owner.errors += 1;
        // Damage in its own listing (or an entry of it): what it depends on is no longer known.
        owner.damaged = true;
        if (item.inode !== undefined && item.path !== owner.path) owner.failedInodes.push(item.inode);
      }
      continue;
    }
    while (stack.length > item.depth) await close();
    if (item.depth === 0) {
      stack.push(openDirectory(ctx, rootPath, item.inode, rootBefore));
      continue;
    }
    const parent = stack[item.depth - 1];
    if (parent === undefined) continue; // the walk never yields a child before its parent
    if ((parent.pruned !== undefined || parent.shallow === true) && parent.children.length === 0) {
      // The reader walked a subtree it was told to skip: catalogue it normally.
      parent.pruned = undefined;
      parent.shallow = false;
      void previousOf(ctx, parent);
    }
    const meta = metaOf(item);
    ctx.tree.walked += 1;
    countEntry(ctx.counts, meta);
    countEntry(parent.counts, meta);
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
      parent.children.push(itemOf(ctx, parent.path, item.name, item.path, meta));
    }
    if (item.type === 'directory') {
      stack.push(
        openDirectory(ctx, item.path, item.inode, await beforeOf(ctx, parent, item.name, item.inode)),
      );
    }
  }
  while (stack.length > 0) await close();
}

function itemOf(ctx: PartitionContext, dir: string, name: string, path: string, meta: FileMeta): CatalogItem {
  return {
    volumeId: ctx.image.volumeId,
    partition: ctx.partition,
    dir,
    name,
    path,
    version: ctx.version,
    imageId: ctx.image.imageId,
    createdAt: ctx.image.createdAt,
    meta,
  };
}

/**
 * Whether any byte the directory's own listing (names and inode numbers) is read from changed:
 * from the ranges its previous summary recorded (if none of those bytes changed, reading them again
 * names the same ranges), else from its record read again.
 */
async function ownListingChanged(
  ctx: PartitionContext,
  inode: number,
  before: SubtreeSummary | undefined,
): Promise<boolean> {
  try {
    if (before?.own !== undefined) return await ctx.tree.oracle!.changed(before.own);
    return await ctx.tree.oracle!.changed(await ctx.tree.ranges!.directoryRanges(inode));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return true;
  }
}

/**
 * A directory whose own listing did not change, but something below it did: its entries come from
 * its previous pages, and only the entries whose records changed are read again (stat, and the
 * target of a symlink). Subdirectories are carried over, visited the same way, or walked. Anything
 * unexpected (a record that no longer reads, a type that changed to or from directory, a name the
 * reader cannot look up by path) makes it walk the directory instead, before anything is written.
 */
async function shallowVisit(
  ctx: PartitionContext,
  fs: FilesystemReader,
  dir: OpenDirectory,
  parent: OpenDirectory | undefined,
): Promise<void> {
  const oracle = ctx.tree.oracle!;
  const ranges = ctx.tree.ranges!;
  const summary = dir.before!;
  const before = (sub: SubtreeSummary | undefined, sameInode: boolean) => ({
    ...(sub === undefined ? {} : { summary: sub }),
    sameInode,
  });
  const walkInstead = (): Promise<void> =>
    walkFrom(ctx, fs, dir.path, before(dir.before, dir.sameInode), parent, dir.inode);
  // A directory of several pages with a summary per page: only the pages whose entries or
  // subtrees depend on a changed byte are read; the others are carried over as they were.
  const pageSummaries =
    ctx.tree.fromPages && summary.pages?.length === summary.refs.length ? summary.pages : undefined;
  let readPages: Set<number> | undefined;
  if (pageSummaries !== undefined) {
    readPages = new Set();
    for (let page = 0; page < pageSummaries.length; page += 1) {
      const spans = pageSummaries[page]!.spans;
      if (spans === undefined || (await oracle.changed(spans))) readPages.add(page);
    }
  }
  const previous =
    readPages === undefined
      ? await previousOf(ctx, dir)
      : await previousPages(ctx, dir.path, summary, readPages);
  if (
    previous === undefined ||
    previous.some((e) => e.name.includes('\uFFFD') || e.size === undefined || e.nlink === undefined)
  ) {
    return walkInstead();
  }
  // First pass: read what changed, write nothing.
  const now = new Map<string, FileMeta>();
  for (const entry of previous) {
    // Most entries of a visited page did not change: their record is tested without a promise.
    const slot = entry.type === 'symlink' ? undefined : ranges.recordSpanNow?.(entry.inode);
    if (slot !== undefined && oracle.changedNow([slot]) === false) continue;
    try {
      const spans = await ranges.entryRanges(entry.inode, entry.type as FileType, entry.size!);
      if (!(await oracle.changed(spans))) continue;
      const stat = await fs.stat(entry.inode);
      if ((stat.type === 'directory') !== (entry.type === 'directory')) return walkInstead();
      const target = stat.type === 'symlink' ? encodeName(await fs.readLink(entry.inode)) : undefined;
      now.set(entry.name, metaOf({ ...stat, ...(target === undefined ? {} : { symlinkTarget: target }) }));
    } catch (error) {
      if (isRetryable(error)) throw error;
      return walkInstead();
    }
  }
  // Second pass: versions of the changed entries and the subtrees. Its cost follows what changed:
  // an entry whose record did not change and a subdirectory whose summary did not change leave
  // their page as it was (same hash, not written again); only pages holding a change are encoded.
  const refs = summary.refs;
  const dirtyPages = new Set<number>();
  /**
   * Spans the listing now depends on that the previous summary's spans may lack (the re-read
   * entries' ranges, the changed subtrees' spans), by page; undefined: unknown.
   */
  const grown: { readonly page: number; readonly spans: readonly ByteSpan[] | undefined }[] = [];
  for (const entry of previous) {
    const meta = now.get(entry.name);
    const changed = meta !== undefined && metaFingerprint(meta) !== entry.fp;
    if (changed) {
      await ctx.writer.add(itemOf(ctx, dir.path, entry.name, entry.path, meta));
      ctx.changes.changed += 1;
      dirtyPages.add(entry.page!);
    }
    const type = (meta?.type ?? entry.type) as FileType;
    const size = meta?.size ?? entry.size!;
    const nlink = meta?.nlink ?? entry.nlink!;
    countParts(ctx.counts, type, size, nlink);
    countParts(dir.counts, type, size, nlink);
    if (meta !== undefined) {
      grown.push({ page: entry.page!, spans: await entryRangesOrUnknown(ranges, entry.inode, type, size) });
    }
    if (type === 'directory') {
      const child = openDirectory(ctx, entry.path, entry.inode, before(entry.sub, true));
      if (entry.sub?.spans !== undefined && !(await oracle.changed(entry.sub.spans))) {
        child.pruned = entry.sub;
        await closeDirectory(ctx, fs, child, dir);
      } else if (
        entry.sub?.spans !== undefined &&
        entry.sub.truncated !== true &&
        !(await ownListingChanged(ctx, entry.inode, entry.sub))
      ) {
        child.shallow = true;
        await closeDirectory(ctx, fs, child, dir);
      } else {
        // Its name still lists this inode: the parent's listing did not change.
        await walkFrom(ctx, fs, entry.path, before(entry.sub, true), dir, entry.inode);
      }
      const sub = dir.subs.get(entry.name);
      if (sub !== entry.sub && !sameSummary(sub, entry.sub)) {
        dirtyPages.add(entry.page!);
        // No summary (its walk failed): what it depends on is unknown, and so is this directory's.
        grown.push({ page: entry.page!, spans: sub?.spans });
      }
    }
  }
  const newRefs: string[] = [];
  const newPages: PageSummary[] = [];
  let pagewise = true;
  for (let page = 0; page < refs.length; page += 1) {
    if (readPages !== undefined && !readPages.has(page)) {
      // Carried over unread: its entries and their subtrees are what the previous image had.
      const carried = pageSummaries![page]!;
      addCounts(ctx.counts, carried.counts);
      addCounts(dir.counts, carried.counts);
      ctx.problems.carry(carried.errors);
      dir.errors += carried.errors;
      newRefs.push(refs[page]!);
      newPages.push(carried);
      continue;
    }
    const entries: TreeEntry[] = [];
    for (const entry of previous) {
      if (entry.page !== page) continue;
      const meta = now.get(entry.name);
      const sub = dir.subs.get(entry.name);
      entries.push({
        name: entry.name,
        type: (meta?.type ?? entry.type) as FileType,
        inode: entry.inode,
        fp: meta === undefined ? entry.fp : metaFingerprint(meta),
        size: meta?.size ?? entry.size!,
        nlink: meta?.nlink ?? entry.nlink!,
        ...(sub === undefined ? {} : { sub }),
      });
    }
    if (!dirtyPages.has(page)) {
      newRefs.push(refs[page]!);
    } else {
      const pages = treePagesOf(entries, ctx.tree.pageEntries);
      if (pages.length !== 1) pagewise = false;
      ctx.tree.pages.add(pages);
      newRefs.push(...pages.map((p) => p.hash));
    }
    const previousSpans = pageSummaries?.[page]?.spans;
    newPages.push({
      ...(previousSpans === undefined ? {} : grownBy(previousSpans, grown, page, pageSpanCap(refs.length))),
      ...pageCountsOf(entries),
    });
  }
  const spans =
    summary.spans === undefined ? {} : grownBy(summary.spans, grown, undefined, MAX_SUBTREE_SPANS);
  finishSummary(ctx, dir, parent, {
    refs: newRefs,
    ...spans,
    // Its own listing's bytes did not change (that is why it was visited shallow): same ranges.
    ...(spans.spans === undefined || summary.own === undefined ? {} : { own: summary.own }),
    counts: dir.counts,
    errors: dir.errors,
    ...(pageSummaries !== undefined && pagewise && spans.spans !== undefined ? { pages: newPages } : {}),
  });
}

/** An entry's ranges; undefined when they cannot be told (damage: the entry is always read again). */
async function entryRangesOrUnknown(
  ranges: MetadataRangeSource,
  inode: number,
  type: FileType,
  size: number,
): Promise<ByteSpan[] | undefined> {
  try {
    return await ranges.entryRanges(inode, type, size);
  } catch (error) {
    if (isRetryable(error)) throw error;
    return undefined;
  }
}

/** Whether two summaries of a subtree say the same (pages, spans, counts, errors, truncation). */
function sameSummary(a: SubtreeSummary | undefined, b: SubtreeSummary | undefined): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Spans that were known before, grown by what changed since (of one page, or of every page when
 * `page` is undefined): a shallow-visited directory's own listing did not change (the same blocks
 * hold it), and an entry whose bytes did not change maps to the same ranges, so the spans a full
 * recomputation would give are within the result (a superset, still sound). Unknown when any
 * grown part is.
 */
function grownBy(
  before: readonly ByteSpan[],
  grown: readonly { readonly page: number; readonly spans: readonly ByteSpan[] | undefined }[],
  page: number | undefined,
  max: number,
): { spans?: ByteSpan[] } {
  const spans: ByteSpan[] = [...before];
  for (const part of grown) {
    if (page !== undefined && part.page !== page) continue;
    if (part.spans === undefined) return {};
    spans.push(...part.spans);
  }
  return { spans: capSpans(normalizeSpans(spans), max) };
}

/** What one page's entries count (themselves and their subtrees) and the errors below them. */
function pageCountsOf(entries: readonly TreeEntry[]): { counts: CatalogCounts; errors: number } {
  const counts = emptyCounts();
  let errors = 0;
  for (const entry of entries) {
    countParts(counts, entry.type, entry.size, entry.nlink);
    if (entry.sub !== undefined) {
      addCounts(counts, entry.sub.counts);
      errors += entry.sub.errors;
    }
  }
  return { counts, errors };
}

/**
 * The summary of each page of a directory just catalogued in full (`ends` from treePageSplit):
 * spans of its entries' ranges and its subdirectories' subtrees (unknown where any is), counts,
 * errors.
 */
function pageSummariesOf(
  entries: readonly TreeEntry[],
  ends: readonly number[],
  byName: ReadonlyMap<string, readonly ByteSpan[]>,
): PageSummary[] {
  const out: PageSummary[] = [];
  let from = 0;
  for (const end of ends) {
    const page = entries.slice(from, end);
    const spans: ByteSpan[] = [];
    let known = true;
    for (const entry of page) {
      const own = byName.get(entry.name);
      if (own === undefined) known = false;
      else spans.push(...own);
      if (entry.sub?.spans !== undefined) spans.push(...entry.sub.spans);
      else if (entry.type === 'directory') known = false;
    }
    out.push({
      ...(known ? { spans: capSpans(spans, pageSpanCap(ends.length)) } : {}),
      ...pageCountsOf(page),
    });
    from = end;
  }
  return out;
}

/** Whether an application's path is in the filesystem (a damaged path counts as there: the walk reports it). */
async function pathExists(fs: FilesystemReader, path: string): Promise<boolean> {
  try {
    await fs.lookup(path);
    return true;
  } catch (error) {
    if (isRetryable(error)) throw error;
    return !(error instanceof FileNotFoundInImageError);
  }
}

async function readApplications(
  fs: FilesystemReader,
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
    for (const app of parsed.metadata.applications) {
      for (const path of applicationPaths(app)) {
        if (!(await pathExists(fs, path))) {
          problems.warning({
            partition,
            path,
            message: `application "${app.name}" lists ${path}, which does not exist in the image`,
          });
        }
      }
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

/** Whether the disk chunks under partition bytes [start, end) are among the changed ones. */
function chunksMayDiffer(changed: ReadonlySet<number>, partitionStart: number) {
  return (start: number, end: number): boolean => {
    const last = Math.floor((partitionStart + end - 1) / CHUNK_SIZE_BYTES);
    for (let chunk = Math.floor((partitionStart + start) / CHUNK_SIZE_BYTES); chunk <= last; chunk += 1) {
      if (changed.has(chunk)) return true;
    }
    return false;
  };
}

/**
 * How this partition's previous state is read and whether unchanged subtrees may be skipped: tree
 * pages when the latest earlier catalog finished and wrote them for the same partition; skipping
 * when, in addition, the caller gave that image and both layouts are equal (docs/catalog.md).
 */
async function treeContextOf(
  store: CatalogStore,
  request: BuildCatalogRequest,
  previousRecord: ImageCatalogRecord | undefined,
  partition: Partition,
  fs: FilesystemReader,
): Promise<TreeContext> {
  const finished = previousRecord?.status === 'complete' || previousRecord?.status === 'partial';
  const before = finished
    ? previousRecord.partitions.find((p) => p.index === partition.index)?.tree
    : undefined;
  const samePlace =
    before !== undefined &&
    before.startByte === partition.startByte &&
    before.sizeBytes === partition.sizeBytes;
  const ranges = metadataRangesOf(fs);
  let layout: string | undefined;
  try {
    layout = await ranges?.layoutKey();
  } catch (error) {
    if (isRetryable(error)) throw error;
    layout = undefined; // damaged descriptors: walk everything, track nothing
  }
  const tracked = layout === undefined ? undefined : ranges;
  let oracle: ChangedBytes | undefined;
  const prior = request.previous;
  if (
    samePlace &&
    tracked !== undefined &&
    prior !== undefined &&
    prior.image.imageId === previousRecord?.imageId &&
    before.layout === layout
  ) {
    try {
      const previousVolume = await openVolume(prior.disk, {
        ...(request.ext4 === undefined ? {} : { ext4: request.ext4 }),
        only: partition.index,
      });
      const previous = previousVolume.filesystems.find((f) => f.index === partition.index);
      const previousRanges = previous?.status === 'readable' ? metadataRangesOf(previous.fs) : undefined;
      if (previousRanges !== undefined) {
        oracle = changeOracle({
          previous: previousRanges,
          current: tracked,
          ...(prior.changedChunks === undefined
            ? {}
            : { diskMayDiffer: chunksMayDiffer(prior.changedChunks, partition.startByte) }),
        });
      }
    } catch (error) {
      if (isRetryable(error)) throw error;
      oracle = undefined; // the previous image does not open: compare everything
    }
  }
  return {
    fromPages: samePlace,
    root: samePlace ? before.root : undefined,
    ranges: tracked,
    oracle,
    pages: new PageWriter(store, request.image.volumeId),
    pageEntries: request.treePageEntries ?? MAX_TREE_PAGE_ENTRIES,
    layout,
    pruned: 0,
    walked: 0,
  };
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
  const previousRecord = await store.latestImageCatalogBefore(image.volumeId, version);
  const hasPrevious = previousRecord !== undefined;

  let volume: VolumeContents;
  let scheme: string;
  try {
    volume = await openVolume(request.disk, request.ext4 === undefined ? {} : { ext4: request.ext4 });
    scheme = volume.table.scheme;
    for (const warning of volume.table.warnings) problems.warning({ message: `partition table: ${warning}` });
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
  for (const found of volume.filesystems) {
    // A logical volume is catalogued under its own number, with its PV partition's place on the disk.
    const partition: Partition = { ...found.partition, index: found.index, fsType: found.fsType };
    const lv = found.logicalVolume === undefined ? {} : { logicalVolume: found.logicalVolume };
    if (found.status === 'unsupported') {
      results.push({
        index: found.index,
        fsType: found.fsType,
        ...lv,
        status: 'unsupported',
        reason: found.reason,
        counts: emptyCounts(),
        changes: emptyChanges(),
        errorCount: 0,
      });
      continue;
    }
    const partCounts = emptyCounts();
    const partChanges = emptyChanges();
    const errorsBefore = problems.errorCount;
    if (found.status === 'error') {
      problems.error({
        partition: found.index,
        message: `filesystem unreadable: ${problemMessage(found.error)}`,
      });
      results.push({
        index: found.index,
        fsType: found.fsType,
        ...lv,
        status: 'failed',
        counts: partCounts,
        changes: partChanges,
        errorCount: 1,
      });
      continue;
    }
    const fs = found.fs;
    for (const warning of fs.warnings) problems.warning({ partition: partition.index, message: warning });
    const writtenBefore = writer.written;
    const tree = await treeContextOf(store, request, previousRecord, partition, fs);
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
      tree,
    };
    await catalogFilesystem(ctx, fs);
    await writer.finish();
    await tree.pages.finish();
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
      ...lv,
      status: errorCount === 0 ? 'complete' : 'partial',
      ...(fs.label === '' ? {} : { label: fs.label }),
      uuid: fs.uuid,
      ...(tree.oracle === undefined
        ? {}
        : {
            skipped: {
              subtrees: tree.pruned,
              regionsCompared: tree.oracle.regionsCompared,
              entriesWalked: tree.walked,
            },
          }),
      ...(tree.rootSummary === undefined
        ? {}
        : {
            tree: {
              root: tree.rootSummary,
              ...(tree.layout === undefined ? {} : { layout: tree.layout }),
              startByte: partition.startByte,
              sizeBytes: partition.sizeBytes,
            },
          }),
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
