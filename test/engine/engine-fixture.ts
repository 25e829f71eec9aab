/** Shared helpers for the engine tests: fast retries, sparse sinks, and an independent oracle. */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { chunkNameFromDigests, sha256 } from '../../lambdas/core/image/hashing.ts';
import type { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { realSleep, type RetryPolicy } from '../../lambdas/core/util/retry.ts';
import { restoreImageToSink, type RandomAccessSink } from '../../lambdas/core/restore/volume-restore.ts';
import { seededRandom } from '../../local/seeded-random.ts';

/** Retries without sleeping, so fault tests run in milliseconds. */
export function fastRetry(seed = 3, maxAttempts = 12): RetryPolicy {
  return {
    maxAttempts,
    baseDelayMs: 1,
    maxDelayMs: 2,
    sleep: () => Promise.resolve(),
    random: seededRandom(seed),
  };
}

/** Real but short sleeps, for runs through the local stack: the gateway's faults clear on the next attempt. */
export function shortRealRetry(seed: number, maxAttempts: number): RetryPolicy {
  return { maxAttempts, baseDelayMs: 2, maxDelayMs: 20, sleep: realSleep, random: seededRandom(seed) };
}

/** How a test through the local stack waits for a restored snapshot: real time, 50 ms polls, 20 s at most. */
export const realSnapshotWait = {
  intervalMs: 50,
  timeoutMs: 20_000,
  nowMs: (): number => performance.now(),
  sleep: realSleep,
};

/** A chunk of `data` under its content-derived name (the digests of its two EBS-block halves). */
export function chunkOf(data: Buffer): { name: string; data: Buffer } {
  return {
    name: chunkNameFromDigests(
      sha256(data.subarray(0, EBS_BLOCK_SIZE_BYTES)),
      sha256(data.subarray(EBS_BLOCK_SIZE_BYTES)),
    ),
    data,
  };
}

export const noPacing = { acquire: (): Promise<void> => Promise.resolve() };

/** Records what a raw restore wrote, without allocating the whole volume. */
export class SparseSink implements RandomAccessSink {
  size = -1;
  readonly writes = new Map<number, Buffer>();

  setSize(bytes: number): Promise<void> {
    this.size = bytes;
    return Promise.resolve();
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (offset % CHUNK_SIZE_BYTES !== 0) throw new Error(`unaligned write at ${offset}`);
    if (this.writes.has(offset)) throw new Error(`offset ${offset} written twice`);
    this.writes.set(offset, Buffer.from(data));
    return Promise.resolve();
  }

  /** The bytes of chunk `index` as restored (zeros where nothing was written). */
  chunk(index: number): Buffer {
    return this.writes.get(index * CHUNK_SIZE_BYTES) ?? Buffer.alloc(CHUNK_SIZE_BYTES);
  }
}

/** A sparse volume image: block index → 512 KiB. */
export type SparseBlocks = ReadonlyMap<number, Buffer>;

export function chunkBytes(blocks: SparseBlocks, chunkIndex: number): Buffer {
  const out = Buffer.alloc(CHUNK_SIZE_BYTES);
  blocks.get(chunkIndex * 2)?.copy(out, 0);
  blocks.get(chunkIndex * 2 + 1)?.copy(out, EBS_BLOCK_SIZE_BYTES);
  return out;
}

/** Chunk indexes that hold any non-zero byte. */
export function nonZeroChunks(blocks: SparseBlocks): number[] {
  const chunks = new Set<number>();
  for (const [index, data] of blocks) if (data.some((b) => b !== 0)) chunks.add(Math.floor(index / 2));
  return [...chunks].sort((a, b) => a - b);
}

/** The chunk name from the spec (docs/image-format.md), computed independently of the engine. */
export function specChunkName(data: Buffer): string {
  const h1 = createHash('sha256').update(data.subarray(0, EBS_BLOCK_SIZE_BYTES)).digest();
  const h2 = createHash('sha256').update(data.subarray(EBS_BLOCK_SIZE_BYTES)).digest();
  return createHash('sha256').update(h1).update(h2).digest('hex');
}

/** Chunk names of every non-zero chunk of a sparse image. */
export function specChunkNames(blocks: SparseBlocks): Set<string> {
  return new Set(nonZeroChunks(blocks).map((c) => specChunkName(chunkBytes(blocks, c))));
}

/** Segment hashes of a sparse image per the spec (zero sentinel for all-zero segments). */
export function specSegmentHashes(blocks: SparseBlocks, volumeSizeBytes: number): string[] {
  const chunks = Math.ceil(volumeSizeBytes / CHUNK_SIZE_BYTES);
  const segments = Math.ceil(chunks / 1024);
  const nonZero = new Set(nonZeroChunks(blocks));
  const hashes: string[] = [];
  for (let s = 0; s < segments; s += 1) {
    const count = Math.min(1024, chunks - s * 1024);
    const table = Buffer.alloc(count * 32);
    let any = false;
    for (let i = 0; i < count; i += 1) {
      const c = s * 1024 + i;
      if (!nonZero.has(c)) continue;
      table.write(specChunkName(chunkBytes(blocks, c)), i * 32, 'hex');
      any = true;
    }
    hashes.push(any ? createHash('sha256').update(table).digest('hex') : '0'.repeat(64));
  }
  return hashes;
}

/**
 * Restores the image to raw bytes and checks them against `blocks` (the volume as backed up):
 * the sink is the volume's size (unless `checkSize` is false) and holds exactly its non-zero
 * chunks, byte for byte.
 */
export async function expectRawRestore(
  images: ImageStore,
  manifest: ImageManifest,
  blocks: SparseBlocks,
  { chunksInFlight, checkSize = true }: { chunksInFlight?: number; checkSize?: boolean } = {},
): Promise<void> {
  const sink = new SparseSink();
  await restoreImageToSink(images, manifest, sink, chunksInFlight === undefined ? {} : { chunksInFlight });
  if (checkSize) expect(sink.size).toBe(manifest.volumeSizeBytes);
  const expected = nonZeroChunks(blocks);
  expect([...sink.writes.keys()].map((o) => o / CHUNK_SIZE_BYTES).sort((a, b) => a - b)).toEqual(expected);
  for (const chunk of expected) expect(sink.chunk(chunk).equals(chunkBytes(blocks, chunk))).toBe(true);
}

/** The non-zero blocks of `blocks`, in block order: what a snapshot restored from them lists. */
export function nonZeroBlocks(blocks: SparseBlocks): [number, Buffer][] {
  return [...blocks].filter(([, data]) => data.some((b) => b !== 0)).sort(([a], [b]) => a - b);
}
