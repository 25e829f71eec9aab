/**
 * Random access to the bytes of a committed image: a ByteRangeReader for the filesystem readers
 * and the file restores. A read maps its byte range to chunks, fetches the non-zero ones in
 * parallel (bounded) through a small LRU cache with in-flight de-duplication, and copies the
 * slices. Zero chunks cost nothing: their entries are zero in the segment table.
 */
import { ValidationError } from '../errors.ts';
import { CHUNK_SIZE_BYTES } from '../geometry.ts';
import { DIGEST_BYTES } from './hashing.ts';
import type { ImageStore } from './image-store.ts';
import type { ImageManifest } from './image-types.ts';
import { SEGMENT_CHUNKS, chunkCount, segmentEntryCount } from './image-types.ts';
import type { ByteRangeReader } from '../ports.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';

/** Chunks kept decompressed: 16 MiB, enough for a filesystem's metadata working set. */
export const READER_CACHE_CHUNKS = 16;
/** Segment tables kept (32 KiB each). */
export const READER_CACHE_SEGMENTS = 16;
/** Chunk fetches in flight per read: 8 parallel GETs keep one 1 MiB GET's latency off the critical path. */
export const READER_FETCH_CONCURRENCY = 8;

/** A small LRU map with in-flight de-duplication of loads. */
class LruLoader<V> {
  private readonly entries = new Map<string, Promise<V>>();

  constructor(
    private readonly capacity: number,
    private readonly load: (key: string) => Promise<V>,
  ) {}

  get(key: string): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const loading = this.load(key);
    this.entries.set(key, loading);
    loading.catch(() => this.entries.delete(key));
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value!;
      this.entries.delete(oldest);
    }
    return loading;
  }
}

export interface ImageReaderOptions {
  readonly cacheChunks?: number;
  readonly cacheSegments?: number;
  readonly fetchConcurrency?: number;
}

export interface ImageReaderStats {
  chunkFetches: number;
  segmentFetches: number;
}

export class ImageReader implements ByteRangeReader {
  readonly size: number;
  readonly stats: ImageReaderStats = { chunkFetches: 0, segmentFetches: 0 };
  private readonly chunks: LruLoader<Buffer>;
  private readonly segments: LruLoader<Buffer>;
  private readonly fetchConcurrency: number;

  constructor(
    private readonly images: ImageStore,
    readonly manifest: ImageManifest,
    options: ImageReaderOptions = {},
  ) {
    this.size = manifest.volumeSizeBytes;
    this.fetchConcurrency = options.fetchConcurrency ?? READER_FETCH_CONCURRENCY;
    this.chunks = new LruLoader(Math.max(1, options.cacheChunks ?? READER_CACHE_CHUNKS), async (name) => {
      this.stats.chunkFetches += 1;
      return (await this.images.getChunk(name)).data;
    });
    this.segments = new LruLoader(
      Math.max(1, options.cacheSegments ?? READER_CACHE_SEGMENTS),
      async (key) => {
        const segment = Number(key);
        const hash = this.manifest.segments[segment]!;
        this.stats.segmentFetches += 1;
        return this.images.getSegment(hash, segmentEntryCount(this.manifest.volumeSizeBytes, segment));
      },
    );
  }

  /** Hex name of chunk `chunkIndex`, or undefined for an all-zero chunk. */
  async chunkName(chunkIndex: number): Promise<string | undefined> {
    const segment = Math.floor(chunkIndex / SEGMENT_CHUNKS);
    const table = await this.segments.get(String(segment));
    const offset = (chunkIndex % SEGMENT_CHUNKS) * DIGEST_BYTES;
    const entry = table.subarray(offset, offset + DIGEST_BYTES);
    return entry.every((b) => b === 0) ? undefined : entry.toString('hex');
  }

  /** The 1 MiB of chunk `chunkIndex` (zeros for a zero chunk). */
  async chunk(chunkIndex: number): Promise<Buffer> {
    const name = await this.chunkName(chunkIndex);
    return name === undefined ? Buffer.alloc(CHUNK_SIZE_BYTES) : this.chunks.get(name);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new ValidationError(
        `read of ${length} bytes at ${offset} is outside the image (${this.size} bytes)`,
        {
          context: { offset, length, size: this.size, imageId: this.manifest.imageId },
        },
      );
    }
    const out = Buffer.alloc(length);
    if (length === 0) return out;
    const first = Math.floor(offset / CHUNK_SIZE_BYTES);
    const last = Math.min(chunkCount(this.size) - 1, Math.floor((offset + length - 1) / CHUNK_SIZE_BYTES));
    const indexes = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    await mapWithConcurrency(indexes, this.fetchConcurrency, async (chunkIndex) => {
      const name = await this.chunkName(chunkIndex);
      if (name === undefined) return;
      const data = await this.chunks.get(name);
      const chunkStart = chunkIndex * CHUNK_SIZE_BYTES;
      const from = Math.max(offset, chunkStart);
      const to = Math.min(offset + length, chunkStart + CHUNK_SIZE_BYTES);
      data.copy(out, from - offset, from - chunkStart, to - chunkStart);
    });
    return out;
  }
}
