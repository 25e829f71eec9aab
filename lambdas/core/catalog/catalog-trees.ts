/**
 * Directory trees of the catalog (docs/catalog.md, "Tree pages" and "Catalog cost that follows the
 * change"): restic's tree objects, adapted. Each catalogued directory gets one or more
 * content-addressed pages listing its entries (name, type, inode, a hash of the compared metadata)
 * and, for each subdirectory, a summary of its whole subtree: its own pages, the byte ranges of the
 * filesystem its listing depends on (capped), its counts and its error count. The image's catalog
 * record holds the root's summary per partition.
 *
 * An incremental reads the previous state of a directory from its pages (one BatchGetItem by key,
 * whatever the directory's history), and skips a subdirectory whose ranges hold no changed byte:
 * its subtree is carried over from the previous image without reading the image or the table.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.ts';
import type { FileType } from '../fs/index.ts';
import type { ByteSpan, MetadataRangeSource } from '../fs/metadata-ranges.ts';
import type { ByteRangeReader } from '../ports.ts';
import type { CatalogCounts, FileMeta } from './catalog-types.ts';
import { fingerprintOf } from './catalog-types.ts';

/** Layout version of a tree page's body; readers refuse another. */
export const TREE_FORMAT_VERSION = 1;
/**
 * Ranges kept per subtree summary: nearby ranges are merged beyond it (a superset, so still
 * sound); 32 keeps a summary under ~1 KB while a leaf directory's ranges stay exact.
 */
export const MAX_SUBTREE_SPANS = 32;
/** Bytes of one page's body: below DynamoDB's 400 KB item limit with room for keys and attributes. */
export const MAX_TREE_PAGE_BYTES = 300_000;
/**
 * Entries of one page at most: a change in a large directory re-reads and re-encodes the pages
 * holding it (each with its own summary, PageSummary), not the whole directory.
 */
export const MAX_TREE_PAGE_ENTRIES = 1024;
/**
 * Ranges kept per page summary: nearby ranges are merged beyond it (a superset, so still sound).
 * 32, not fewer: a page of a wide directory often names a few dozen inodes far from the rest (hard
 * links, files created later), and with 8 its merged spans covered most of the inode tables, so a
 * change anywhere flagged most pages (17 of 20 in the 108,000-entry benchmark; 1 of 20 with 32).
 */
export const MAX_PAGE_SPANS = 32;
/** Ranges kept per page summary however many pages a directory has (the cap before MAX_PAGE_SPANS). */
export const MIN_PAGE_SPANS = 8;
/**
 * Ranges kept over all page summaries of one directory while each keeps more than MIN_PAGE_SPANS:
 * the summaries travel in the parent's page, whose item DynamoDB caps at 400 KB. 2,048 spans are
 * ~50 KB (32 per page up to 64 pages, 65,536 entries); a directory of MAX_DIRECTORY_CHILDREN
 * (489 pages) keeps MIN_PAGE_SPANS each, ~94 KB, as before MAX_PAGE_SPANS was raised.
 */
export const MAX_DIRECTORY_PAGE_SPANS = 2048;
/**
 * Ranges kept of a directory's own listing (`own`: record, extent and entry blocks): its entry
 * blocks are few runs, and every directory's summary carries them in its parent's page.
 */
export const MAX_OWN_SPANS = 8;
/** Granularity of the byte comparison between two images (the smallest ext inode is 128 bytes). */
export const DIFF_GRANULE_BYTES = 64;
/** Region the manifests say changed or not: one image chunk, the unit the engine knows. */
export const DIFF_REGION_BYTES = 1_048_576;
/**
 * Bytes compared at once inside a region that may differ: a filesystem block of the usual size, so
 * that a change of a few records costs a few blocks read in each image, not two whole chunks.
 */
export const DIFF_BLOCK_BYTES = 4096;

export interface SubtreeSummary {
  /** Hashes of the directory's pages, in name order. */
  readonly refs: readonly string[];
  /** Bytes its subtree's listings depend on (merged, capped); absent: unknown, always walked. */
  readonly spans?: readonly ByteSpan[];
  /**
   * Bytes its own listing depends on (its record, extent and entry blocks; capped): whether the
   * listing changed is then told without reading the record again. Absent: read it.
   */
  readonly own?: readonly ByteSpan[];
  /** Entries below the directory (not the directory itself). */
  readonly counts: CatalogCounts;
  /** Walk errors recorded below the directory (and for it). */
  readonly errors: number;
  /** The directory had more entries than were catalogued: compare it through its version items. */
  readonly truncated?: true;
  /**
   * Directories of more than one page: one summary per page of `refs`, so that an incremental
   * reads again only the pages whose entries or subtrees changed.
   */
  readonly pages?: readonly PageSummary[];
}

/** What the entries of one page (and the subtrees of its subdirectories) depend on, count and hold. */
export interface PageSummary {
  /** Absent: unknown, the page is always read. */
  readonly spans?: readonly ByteSpan[];
  readonly counts: CatalogCounts;
  readonly errors: number;
}

export interface TreeEntry {
  readonly name: string;
  readonly type: FileType;
  readonly inode: number;
  /** Hash of fingerprintOf(meta): equal exactly when the catalog sees no change. */
  readonly fp: string;
  /** Size and link count: what the counts need when the entry is not read again. */
  readonly size: number;
  readonly nlink: number;
  /** Subdirectories only. */
  readonly sub?: SubtreeSummary;
}

export interface TreePage {
  readonly hash: string;
  readonly body: string;
}

export function metaFingerprint(meta: FileMeta): string {
  return createHash('sha256').update(fingerprintOf(meta)).digest('base64url').slice(0, 22);
}

function pageOf(entries: readonly TreeEntry[]): TreePage {
  const body = JSON.stringify({ v: TREE_FORMAT_VERSION, e: entries });
  return { hash: createHash('sha256').update(body).digest('hex'), body };
}

/**
 * A directory's entries (sorted like the sort keys) as pages of at most MAX_TREE_PAGE_BYTES and
 * MAX_TREE_PAGE_ENTRIES; `ends[k]` is the index after the last entry of page k.
 */
export function treePageSplit(
  entries: readonly TreeEntry[],
  maxEntries = MAX_TREE_PAGE_ENTRIES,
  maxBytes = MAX_TREE_PAGE_BYTES,
): { pages: TreePage[]; ends: number[] } {
  const pages: TreePage[] = [];
  const ends: number[] = [];
  let current: TreeEntry[] = [];
  let bytes = 0;
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i]!;
    const size = JSON.stringify(entry).length + 1;
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxEntries)) {
      pages.push(pageOf(current));
      ends.push(i);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0 || pages.length === 0) {
    pages.push(pageOf(current));
    ends.push(entries.length);
  }
  return { pages, ends };
}

/** treePageSplit's pages. */
export function treePagesOf(
  entries: readonly TreeEntry[],
  maxEntries = MAX_TREE_PAGE_ENTRIES,
  maxBytes = MAX_TREE_PAGE_BYTES,
): TreePage[] {
  return treePageSplit(entries, maxEntries, maxBytes).pages;
}

export function decodeTreePage(hash: string, body: string): TreeEntry[] {
  if (createHash('sha256').update(body).digest('hex') !== hash) {
    throw new IntegrityError(`catalog tree page ${hash} does not match its hash`, { context: { hash } });
  }
  const parsed = JSON.parse(body) as { v?: unknown; e?: unknown };
  if (parsed.v !== TREE_FORMAT_VERSION || !Array.isArray(parsed.e)) {
    throw new IntegrityError(`catalog tree page ${hash} has an unknown layout`, { context: { hash } });
  }
  return parsed.e as TreeEntry[];
}

// ------------------------------------------------------------------------------------ byte spans

/** Ranges kept per page summary of a directory of `pages` pages (MAX_DIRECTORY_PAGE_SPANS). */
export function pageSpanCap(pages: number): number {
  return Math.max(MIN_PAGE_SPANS, Math.min(MAX_PAGE_SPANS, Math.floor(MAX_DIRECTORY_PAGE_SPANS / pages)));
}

/** Sorted, overlapping and touching spans merged. */
export function normalizeSpans(spans: Iterable<ByteSpan>): ByteSpan[] {
  const sorted = [...spans].filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out.at(-1);
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** At most `max` spans covering every input span: the smallest gaps are closed first. */
export function capSpans(spans: readonly ByteSpan[], max = MAX_SUBTREE_SPANS): ByteSpan[] {
  const merged = normalizeSpans(spans);
  if (merged.length <= max) return merged;
  const gaps = merged
    .slice(1)
    .map((span, i) => ({ i, gap: span[0] - merged[i]![1] }))
    .sort((a, b) => a.gap - b.gap || a.i - b.i)
    .slice(0, merged.length - max);
  const close = new Set(gaps.map((g) => g.i));
  const out: [number, number][] = [[merged[0]![0], merged[0]![1]]];
  for (let i = 1; i < merged.length; i += 1) {
    const span = merged[i]!;
    if (close.has(i - 1)) out.at(-1)![1] = span[1];
    else out.push([span[0], span[1]]);
  }
  return out;
}

// --------------------------------------------------------------------------------- change oracle

/** Answers "does any byte in these ranges differ from the previous image?", exactly, at 64-byte granules. */
export interface ChangedBytes {
  changed(spans: readonly ByteSpan[]): Promise<boolean>;
  /**
   * changed() without waiting, when every region the spans touch is already known (compared, or
   * unchanged by the manifests); undefined otherwise (then ask changed()). Lets a visit of a large
   * directory test each entry's record without a promise per entry.
   */
  changedNow(spans: readonly ByteSpan[]): boolean | undefined;
  /** 1 MiB regions in which bytes were compared so far (block by block, in both images). */
  readonly regionsCompared: number;
}

export interface ChangeOracleInput {
  readonly previous: MetadataRangeSource;
  readonly current: MetadataRangeSource;
  /**
   * Whether the disk bytes [start, end) (partition-relative) may differ between the two images: from
   * the image manifests (chunks whose names differ). Absent: every region is compared.
   */
  readonly diskMayDiffer?: (start: number, end: number) => boolean;
}

/** A reader that can lend a view of its bytes for one synchronous step (PageCachedReader.readWith). */
interface LendingReader {
  readWith<T>(offset: number, length: number, use: (bytes: Uint8Array) => T): Promise<T>;
}

function canLend(reader: ByteRangeReader): reader is ByteRangeReader & LendingReader {
  return typeof (reader as Partial<LendingReader>).readWith === 'function';
}

/** `use` on the bytes [offset, offset + length): a view of the reader's page when it lends one, else a copy. */
function withBytes<T>(
  reader: ByteRangeReader,
  offset: number,
  length: number,
  use: (bytes: Uint8Array) => T,
): Promise<T> {
  return canLend(reader) ? reader.readWith(offset, length, use) : reader.read(offset, length).then(use);
}

/**
 * The changed granules of one region: sorted, disjoint byte ranges `[start, end)` as a flat list
 * (start, end, start, end, ...), each run of adjacent changed granules inside one block. A question
 * then costs a binary search per region, not a visit of every block its span covers (a subtree's
 * merged spans cover many blocks, and every subdirectory the walk reaches asks about them).
 */
type RegionRuns = readonly number[];

/**
 * The changed granules of two equally long byte ranges starting at `base`: a native compare per
 * DIFF_BLOCK_BYTES block, and a granule scan only in the blocks that differ.
 */
function changedRunsOf(a: Uint8Array, b: Uint8Array, base: number): number[] {
  const x = Buffer.from(a.buffer, a.byteOffset, a.length);
  const y = Buffer.from(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let from = 0; from < x.length; from += DIFF_BLOCK_BYTES) {
    const to = Math.min(x.length, from + DIFF_BLOCK_BYTES);
    if (x.compare(y, from, to, from, to) === 0) continue;
    for (let g = from; g < to; g += DIFF_GRANULE_BYTES) {
      const end = Math.min(to, g + DIFF_GRANULE_BYTES);
      let differs = false;
      for (let i = g; i < end; i += 1) {
        if (x[i] !== y[i]) {
          differs = true;
          break;
        }
      }
      if (!differs) continue;
      // Runs never cross a block boundary: whether a block may differ is asked per block.
      if (g !== from && out.length > 0 && out[out.length - 1] === base + g) out[out.length - 1] = base + end;
      else out.push(base + g, base + end);
    }
  }
  return out;
}

export function changeOracle(input: ChangeOracleInput): ChangedBytes {
  const { previous, current } = input;
  const replayed = normalizeSpans([...previous.replayed, ...current.replayed]);
  const size = Math.min(previous.effective.size, current.effective.size);
  /** Regions being compared or compared (index: offset / DIFF_REGION_BYTES). */
  const regions = new Map<number, Promise<RegionRuns>>();
  /** Regions whose answer has arrived: their changed granules. */
  const settled = new Map<number, RegionRuns>();
  /** Region-sized buffers for the previous image's bytes, reused (one per comparison in flight). */
  const spare: Uint8Array[] = [];

  /** Whether [start, end) overlaps a replayed span (binary search: the journal may name many). */
  const overlapsReplay = (start: number, end: number): boolean => {
    let lo = 0;
    let hi = replayed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (replayed[mid]![1] <= start) lo = mid + 1;
      else hi = mid;
    }
    return lo < replayed.length && replayed[lo]![0] < end;
  };

  /** Whether bytes [start, end) must be compared (the manifests or the journal say they may differ). */
  const mayDiffer = (start: number, end: number): boolean =>
    (input.diskMayDiffer?.(start, end) ?? true) || overlapsReplay(start, end);

  /**
   * The changed granules of one region. The whole region is compared at once, on views of the
   * readers' cached pages where they lend them: a page is read whole anyway (a 1 MiB chunk), so
   * comparing all its blocks costs one pass over memory, where reading each asked block out of
   * both pages cost two copies and a promise per block.
   */
  function region(index: number): Promise<RegionRuns> {
    let known = regions.get(index);
    if (known === undefined) {
      known = (async () => {
        const start = index * DIFF_REGION_BYTES;
        const length = Math.min(size, start + DIFF_REGION_BYTES) - start;
        const scratch = spare.pop() ?? new Uint8Array(DIFF_REGION_BYTES);
        try {
          const before = scratch.subarray(0, length);
          await Promise.all([
            withBytes(previous.effective, start, length, (a) => before.set(a)),
            withBytes(current.effective, start, length, () => undefined), // loads it meanwhile
          ]);
          return await withBytes(current.effective, start, length, (b) => changedRunsOf(before, b, start));
        } finally {
          spare.push(scratch);
        }
      })();
      known.then(
        (runs) => settled.set(index, runs),
        () => regions.delete(index), // reported to whoever awaits it; asked again, read again
      );
      regions.set(index, known);
    }
    return known;
  }

  /**
   * Whether a changed granule of a region lies under [start, end) (inside that region) in a block
   * that may differ there: only blocks outside the changed chunks and the replayed blocks are taken
   * as equal without looking at their bytes.
   */
  const runsChanged = (runs: RegionRuns, start: number, end: number): boolean => {
    let lo = 0;
    let hi = runs.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[2 * mid + 1]! <= start) lo = mid + 1;
      else hi = mid;
    }
    for (let k = 2 * lo; k < runs.length && runs[k]! < end; k += 2) {
      const block = Math.floor(runs[k]! / DIFF_BLOCK_BYTES) * DIFF_BLOCK_BYTES;
      if (mayDiffer(Math.max(start, block), Math.min(end, block + DIFF_BLOCK_BYTES))) return true;
    }
    return false;
  };

  /**
   * The parts of [start, end) to compare, region by region (`[index, from, to]`): a long span over
   * regions the manifests call unchanged costs one test per region.
   */
  function* regionParts(start: number, end: number): Generator<readonly [number, number, number]> {
    for (let r = Math.floor(start / DIFF_REGION_BYTES); r * DIFF_REGION_BYTES < end; r += 1) {
      const from = Math.max(start, r * DIFF_REGION_BYTES);
      const to = Math.min(end, (r + 1) * DIFF_REGION_BYTES);
      if (mayDiffer(from, to)) yield [r, from, to];
    }
  }

  return {
    get regionsCompared() {
      return regions.size;
    },
    async changed(spans: readonly ByteSpan[]): Promise<boolean> {
      for (const [start, end] of spans) {
        // Bytes beyond either image's end count as changed (the layouts would differ anyway).
        if (end > size) return true;
        if (end <= start) continue; // an empty span covers no byte: nothing of it can have changed
        const parts = [...regionParts(start, end)];
        for (const [r] of parts) if (!settled.has(r)) void region(r); // all in flight at once
        for (const [r, from, to] of parts) {
          if (runsChanged(settled.get(r) ?? (await region(r)), from, to)) return true;
        }
      }
      return false;
    },
    changedNow(spans: readonly ByteSpan[]): boolean | undefined {
      for (const [start, end] of spans) {
        if (end > size) return true;
        if (end <= start) continue;
        for (const [r, from, to] of regionParts(start, end)) {
          const runs = settled.get(r);
          if (runs === undefined) return undefined;
          if (runsChanged(runs, from, to)) return true;
        }
      }
      return false;
    },
  };
}
