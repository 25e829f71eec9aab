/**
 * Readers layered over the ByteRangeReader port:
 * - `sliceReader`: one partition of a disk as its own reader (offsets relative to the partition).
 * - `PageCachedReader`: metadata reads grouped into large aligned pages with a bounded LRU, so that
 *   parsing a filesystem (superblock, descriptors, inode tables, directory blocks) costs a handful
 *   of large reads rather than thousands of 256-byte ones. In production every read may be an S3
 *   GET of a 1 MiB chunk, so pages default to that size and are aligned on the DISK's 1 MiB grid
 *   even when the filesystem starts at an odd partition offset.
 */
import { CHUNK_SIZE_BYTES } from '../geometry.ts';
import type { ByteRangeReader } from '../ports.ts';
import { FilesystemCorruptError } from './errors.ts';

/** A reader for a byte range of another reader; `offsetInDisk` lets caches align on the disk grid. */
export interface SlicedReader extends ByteRangeReader {
  readonly offsetInDisk: number;
}

export function sliceReader(base: ByteRangeReader, start: number, size: number): SlicedReader {
  if (start < 0 || size < 0 || start + size > base.size) {
    throw new FilesystemCorruptError(`slice ${start}+${size} lies outside the ${base.size}-byte reader`, {
      start,
      size,
    });
  }
  const baseOffset = 'offsetInDisk' in base ? (base as SlicedReader).offsetInDisk : 0;
  const slice: SlicedReader = {
    size,
    offsetInDisk: baseOffset + start,
    read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(offset, length, size);
      return base.read(start + offset, length);
    },
  };
  if (!canFill(base)) return slice;
  const filling: SlicedReader & FillingByteRangeReader = {
    ...slice,
    readInto(offset: number, target: Uint8Array): Promise<void> {
      checkRange(offset, target.length, size);
      return base.readInto(start + offset, target);
    },
  };
  return filling;
}

function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FilesystemCorruptError(`invalid read of ${length} bytes at ${offset}`, { offset, length });
  }
  if (offset + length > size) {
    throw new FilesystemCorruptError(
      `read of ${length} bytes at ${offset} runs past the end (${size} bytes)`,
      {
        offset,
        length,
        size,
      },
    );
  }
}

/** One cache page: the size of an image chunk, so one page miss is at most one chunk GET. */
export const DEFAULT_PAGE_BYTES = CHUNK_SIZE_BYTES;
/** 64 pages = 64 MiB: inode tables and directory blocks of the walk plus its read-ahead (32 pages thrashed: +50% fetches). */
export const DEFAULT_MAX_PAGES = 64;
/**
 * Small records copied out of the pages (inodes, directory and extent blocks) are carved from
 * shared slabs of this size: one ArrayBuffer per few hundred records rather than one each.
 */
export const COPY_SLAB_BYTES = 256 * 1024;
/** Reads above this size get a buffer of their own (a slab holds at least 16 of the largest). */
export const MAX_SLAB_RECORD_BYTES = COPY_SLAB_BYTES / 16;
/**
 * A read whose page is evicted (its buffer reused) between arriving and being copied is tried this
 * many times before reading the range directly; only a cache far too small for the concurrent
 * read-ahead gets there.
 */
export const MAX_PAGE_ATTEMPTS = 3;

export interface PageCacheOptions {
  readonly pageBytes?: number;
  readonly maxPages?: number;
}

/**
 * A reader that can also fill a buffer it is given. The page cache then reads every page into a
 * buffer it reuses: no 1 MiB allocation (zero-filled, then garbage) per page miss.
 */
export interface FillingByteRangeReader extends ByteRangeReader {
  /** Exactly `target.length` bytes starting at `offset`, written into `target`. */
  readInto(offset: number, target: Uint8Array): Promise<void>;
}

export function canFill(reader: ByteRangeReader): reader is FillingByteRangeReader {
  return typeof (reader as Partial<FillingByteRangeReader>).readInto === 'function';
}

/** `target.length` bytes at `offset` into `target`: readInto when the reader has it, else a copy. */
export async function fillFrom(reader: ByteRangeReader, offset: number, target: Uint8Array): Promise<void> {
  if (canFill(reader)) return reader.readInto(offset, target);
  target.set(await reader.read(offset, target.length));
}

/** One cached page. Its bytes never leave the cache: reads get copies, so the buffer can be reused. */
interface Page {
  readonly loading: Promise<Uint8Array>;
  /** Set when the page has arrived (for synchronous peeks). */
  bytes: Uint8Array | undefined;
  /** Evicted: nobody may read its bytes any more; its buffer is reused once its load has settled. */
  evicted: boolean;
  settled: boolean;
  /** The whole pooled buffer behind `bytes` (a last page is shorter), when the base reader fills. */
  readonly buffer: Uint8Array | undefined;
}

/**
 * Every read returns bytes the caller owns (a copy): pages are reused as soon as they are evicted,
 * so no view of one may outlive the synchronous copy out of it.
 */
export class PageCachedReader implements ByteRangeReader {
  readonly size: number;
  private readonly pageBytes: number;
  private readonly maxPages: number;
  /** Disk offset of byte 0 of this reader modulo the page size, so pages align on the disk grid. */
  private readonly shift: number;
  /** Resident pages, least recently used first (Map keeps insertion order). */
  private readonly pages = new Map<number, Page>();
  /** The page last marked most recently used (-1: none), so that runs of reads in one page skip the re-insert. */
  private mostRecent = -1;
  /** Buffers of evicted pages, ready for the next miss (never more than maxPages). */
  private readonly free: Uint8Array[] = [];
  private slab = new Uint8Array(0);
  private slabUsed = 0;
  /** Statistics for benchmarks and tests. */
  pageMisses = 0;
  bytesFetched = 0;

  constructor(
    private readonly base: ByteRangeReader,
    options: PageCacheOptions = {},
  ) {
    this.size = base.size;
    this.pageBytes = options.pageBytes ?? DEFAULT_PAGE_BYTES;
    this.maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    const diskOffset = 'offsetInDisk' in base ? (base as SlicedReader).offsetInDisk : 0;
    this.shift = diskOffset % this.pageBytes;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    if (length === 0) return new Uint8Array(0);
    const first = this.pageIndex(offset);
    const last = this.pageIndex(offset + length - 1);
    if (first === last) {
      const out = this.allocate(length);
      await this.copyFromPage(first, offset, out);
      return out;
    }
    for (let p = first; p <= last; p += 1) this.page(p); // all in flight at once
    const out = new Uint8Array(length);
    for (let p = first; p <= last; p += 1) {
      const from = Math.max(offset, this.pageStart(p));
      const to = Math.min(offset + length, this.pageEnd(p));
      await this.copyFromPage(p, from, out.subarray(from - offset, to - offset));
    }
    return out;
  }

  /**
   * The bytes of a range that lies in one page that has already arrived, without waiting; otherwise
   * undefined (then read() it). Lets a walk parse cached metadata without a promise per record.
   */
  peek(offset: number, length: number): Uint8Array | undefined {
    checkRange(offset, length, this.size);
    const index = this.pageIndex(offset);
    if (length === 0 || index !== this.pageIndex(offset + length - 1)) return undefined;
    const page = this.pages.get(index);
    if (page?.bytes === undefined) return undefined;
    this.touch(index, page);
    const out = this.allocate(length);
    const at = offset - this.pageStart(index);
    out.set(page.bytes.subarray(at, at + length));
    return out;
  }

  /**
   * Starts loading the pages of a range without waiting (read-ahead), so that the reads that follow
   * run in parallel instead of one request at a time. Never more than half the cache per call, so
   * read-ahead cannot evict what is being used. Failures are left for the real read to report.
   */
  prefetch(offset: number, length: number): void {
    if (length <= 0 || offset < 0 || offset + length > this.size) return;
    const first = this.pageIndex(offset);
    const last = Math.min(this.pageIndex(offset + length - 1), first + Math.floor(this.maxPages / 2) - 1);
    for (let p = first; p <= last; p += 1) {
      if (!this.pages.has(p)) this.page(p).loading.catch(() => undefined);
    }
  }

  /** Reads that bypass the cache (file contents: read once, would only evict metadata). */
  readUncached(offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    this.bytesFetched += length;
    return this.base.read(offset, length);
  }

  /**
   * `use` applied to the bytes of a range, without copying them out: for records parsed at once and
   * not kept (directory blocks). `use` runs synchronously on a view of the page and must keep
   * nothing that views `bytes`: the page's buffer is reused once it is evicted.
   */
  async readWith<T>(offset: number, length: number, use: (bytes: Uint8Array) => T): Promise<T> {
    checkRange(offset, length, this.size);
    const index = this.pageIndex(offset);
    if (length === 0 || index !== this.pageIndex(offset + length - 1))
      return use(await this.read(offset, length));
    return this.withPage(index, offset, length, use);
  }

  /** Copies `target.length` bytes at `offset` (all in page `index`) into `target`. */
  private async copyFromPage(index: number, offset: number, target: Uint8Array): Promise<void> {
    return this.withPage(index, offset, target.length, (bytes) => target.set(bytes));
  }

  /**
   * `use` on a view of `length` bytes at `offset` in page `index`, called in the same synchronous
   * step that checks the page is still resident: an evicted page's buffer may already be filling
   * with another page.
   */
  private async withPage<T>(
    index: number,
    offset: number,
    length: number,
    use: (bytes: Uint8Array) => T,
  ): Promise<T> {
    const at = offset - this.pageStart(index);
    for (let attempt = 0; attempt < MAX_PAGE_ATTEMPTS; attempt += 1) {
      const page = this.page(index);
      const bytes = await page.loading;
      if (!page.evicted) return use(bytes.subarray(at, at + length));
    }
    return use(await this.readUncached(offset, length));
  }

  /** A zero-filled buffer of `length` bytes for the caller to keep: a piece of a slab when small. */
  private allocate(length: number): Uint8Array {
    if (length > MAX_SLAB_RECORD_BYTES) return new Uint8Array(length);
    if (this.slabUsed + length > this.slab.length) {
      this.slab = new Uint8Array(COPY_SLAB_BYTES);
      this.slabUsed = 0;
    }
    const out = this.slab.subarray(this.slabUsed, this.slabUsed + length);
    // 8-byte aligned pieces, so word-wise checksums over them take their fast path.
    this.slabUsed += (length + 7) & ~7;
    return out;
  }

  private pageIndex(offset: number): number {
    return Math.floor((offset + this.shift) / this.pageBytes);
  }

  private pageStart(index: number): number {
    return Math.max(0, index * this.pageBytes - this.shift);
  }

  private pageEnd(index: number): number {
    return Math.min(this.size, (index + 1) * this.pageBytes - this.shift);
  }

  /** Map keeps insertion order: re-insert to mark as most recently used. */
  private touch(index: number, page: Page): void {
    if (index === this.mostRecent) return;
    this.pages.delete(index);
    this.pages.set(index, page);
    this.mostRecent = index;
  }

  private page(index: number): Page {
    const hit = this.pages.get(index);
    if (hit !== undefined) {
      this.touch(index, hit);
      return hit;
    }
    const start = this.pageStart(index);
    const length = this.pageEnd(index) - start;
    this.pageMisses += 1;
    this.bytesFetched += length;
    let page: Page;
    if (canFill(this.base)) {
      const buffer = this.free.pop() ?? new Uint8Array(this.pageBytes);
      const bytes = buffer.subarray(0, length);
      page = {
        loading: this.base.readInto(start, bytes).then(() => bytes),
        bytes: undefined,
        evicted: false,
        settled: false,
        buffer,
      };
    } else {
      page = {
        loading: this.base.read(start, length),
        bytes: undefined,
        evicted: false,
        settled: false,
        buffer: undefined,
      };
    }
    this.pages.set(index, page);
    this.mostRecent = index;
    page.loading.then(
      (bytes) => {
        page.settled = true;
        if (page.evicted) this.recycle(page);
        else page.bytes = bytes;
      },
      // A failed read must not stay cached: the next attempt may succeed (throttling, 5xx).
      () => {
        page.settled = true;
        if (this.pages.get(index) === page) {
          this.pages.delete(index);
          if (this.mostRecent === index) this.mostRecent = -1;
        }
        page.evicted = true;
        this.recycle(page);
      },
    );
    while (this.pages.size > this.maxPages) {
      const [oldest, victim] = this.pages.entries().next().value!;
      this.pages.delete(oldest);
      if (this.mostRecent === oldest) this.mostRecent = -1;
      victim.evicted = true;
      victim.bytes = undefined;
      // A page still loading is being written into: its buffer is reused once the load settles.
      if (victim.settled) this.recycle(victim);
    }
    return page;
  }

  private recycle(page: Page): void {
    if (page.buffer !== undefined && this.free.length < this.maxPages) this.free.push(page.buffer);
  }
}
