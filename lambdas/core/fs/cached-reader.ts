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
  return {
    size,
    offsetInDisk: baseOffset + start,
    read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(offset, length, size);
      return base.read(start + offset, length);
    },
  };
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

export interface PageCacheOptions {
  readonly pageBytes?: number;
  readonly maxPages?: number;
}

export class PageCachedReader implements ByteRangeReader {
  readonly size: number;
  private readonly pageBytes: number;
  private readonly maxPages: number;
  /** Disk offset of byte 0 of this reader modulo the page size, so pages align on the disk grid. */
  private readonly shift: number;
  private readonly pages = new Map<number, Promise<Uint8Array>>();
  /** The pages of `pages` that have arrived, for synchronous reads (peek). */
  private readonly loaded = new Map<number, Uint8Array>();
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
      const page = await this.page(first);
      const at = offset - this.pageStart(first);
      return page.subarray(at, at + length);
    }
    const out = new Uint8Array(length);
    const pages = [];
    for (let p = first; p <= last; p += 1) pages.push(this.page(p));
    const loaded = await Promise.all(pages);
    for (let i = 0; i < loaded.length; i += 1) {
      const page = loaded[i]!;
      const pageStart = this.pageStart(first + i);
      const from = Math.max(offset, pageStart);
      const to = Math.min(offset + length, pageStart + page.length);
      out.set(page.subarray(from - pageStart, to - pageStart), from - offset);
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
    const page = this.loaded.get(index);
    if (page === undefined) return undefined;
    // Mark as most recently used, as read() does.
    const pending = this.pages.get(index)!;
    this.pages.delete(index);
    this.pages.set(index, pending);
    const at = offset - this.pageStart(index);
    return page.subarray(at, at + length);
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
      if (!this.pages.has(p)) this.page(p).catch(() => undefined);
    }
  }

  /** Reads that bypass the cache (file contents: read once, would only evict metadata). */
  readUncached(offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    this.bytesFetched += length;
    return this.base.read(offset, length);
  }

  private pageIndex(offset: number): number {
    return Math.floor((offset + this.shift) / this.pageBytes);
  }

  private pageStart(index: number): number {
    return Math.max(0, index * this.pageBytes - this.shift);
  }

  private page(index: number): Promise<Uint8Array> {
    const hit = this.pages.get(index);
    if (hit !== undefined) {
      // Map keeps insertion order: re-insert to mark as most recently used.
      this.pages.delete(index);
      this.pages.set(index, hit);
      return hit;
    }
    const start = this.pageStart(index);
    const end = Math.min(this.size, (index + 1) * this.pageBytes - this.shift);
    this.pageMisses += 1;
    this.bytesFetched += end - start;
    const loading = this.base.read(start, end - start);
    this.pages.set(index, loading);
    loading.then(
      (bytes) => {
        if (this.pages.get(index) === loading) this.loaded.set(index, bytes);
      },
      // A failed read must not stay cached: the next attempt may succeed (throttling, 5xx).
      () => {
        if (this.pages.get(index) === loading) this.pages.delete(index);
      },
    );
    while (this.pages.size > this.maxPages) {
      const oldest = this.pages.keys().next().value!;
      this.pages.delete(oldest);
      this.loaded.delete(oldest);
    }
    return loading;
  }
}
