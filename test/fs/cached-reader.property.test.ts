/**
 * The page cache (lambdas/core/fs/cached-reader.ts) reuses the buffer of an evicted page for the
 * next miss. These properties check that no read ever sees another page's bytes: many reads,
 * readWiths, peeks and prefetches at once over a tiny cache (constant eviction), against a base
 * reader whose fills land in two halves, the first at once and the rest late, as a thread pool's
 * may. Every result must equal the image's bytes when it is returned and still at the end
 * (callers own what they get).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageCachedReader, sliceReader } from '../../lambdas/core/fs/cached-reader.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';

const IMAGE_BYTES = 64 * 1024;

/** Resolves after `ticks` turns of the event loop (0: a microtask). */
function later(ticks: number): Promise<void> {
  if (ticks === 0) return Promise.resolve();
  return new Promise((resolve) => setImmediate(() => resolve(later(ticks - 1))));
}

/** A reader over `bytes` whose reads are late by a scheduled number of turns; readInto fills half at once. */
function slowReader(
  bytes: Uint8Array,
  delays: readonly number[],
  filling: boolean,
): ByteRangeReader & { readonly counter: { reads: number } } {
  let next = 0;
  const delay = (): number => delays[next++ % delays.length]!;
  const counter = { reads: 0 };
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    counter.reads += 1;
    await later(delay());
    return bytes.slice(offset, offset + length);
  };
  const readInto = async (offset: number, target: Uint8Array): Promise<void> => {
    counter.reads += 1;
    // A thread pool may write at once, before the caller's next line runs; or much later.
    const half = Math.floor(target.length / 2);
    target.set(bytes.subarray(offset, offset + half));
    await later(delay());
    target.set(bytes.subarray(offset + half, offset + target.length), half);
  };
  const plain = { size: bytes.length, counter, read };
  return filling ? Object.assign(plain, { readInto }) : plain;
}

function imageBytes(seed: number): Uint8Array {
  const out = new Uint8Array(IMAGE_BYTES);
  let x = seed | 1;
  for (let i = 0; i < out.length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const operation = fc.record({
  kind: fc.constantFrom('read', 'read', 'read', 'with', 'peek', 'prefetch'),
  offset: fc.nat(IMAGE_BYTES - 1),
  length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 4096 })),
  wait: fc.integer({ min: 0, max: 3 }),
});

describe('PageCachedReader', () => {
  it('returns the image bytes for every read, peek and concurrent read, whatever is evicted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer(),
          pageBytes: fc.constantFrom(64, 256, 1000, 4096),
          maxPages: fc.integer({ min: 1, max: 6 }),
          sliceStart: fc.nat(4096),
          filling: fc.boolean(),
          delays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
          batches: fc.array(fc.array(operation, { minLength: 1, maxLength: 12 }), {
            minLength: 1,
            maxLength: 6,
          }),
        }),
        async ({ seed, pageBytes, maxPages, sliceStart, filling, delays, batches }) => {
          const disk = imageBytes(seed);
          const size = IMAGE_BYTES - sliceStart;
          const image = disk.subarray(sliceStart);
          const base = sliceReader(slowReader(disk, delays, filling), sliceStart, size);
          const cache = new PageCachedReader(base, { pageBytes, maxPages });
          const kept: { offset: number; bytes: Uint8Array }[] = [];
          for (const batch of batches) {
            await Promise.all(
              batch.map(async ({ kind, offset: at, length: wanted, wait }) => {
                const offset = at % size;
                const length = Math.min(wanted, size - offset);
                await later(wait);
                if (kind === 'prefetch') {
                  cache.prefetch(offset, length);
                  return;
                }
                const bytes =
                  kind === 'peek'
                    ? cache.peek(offset, length)
                    : kind === 'with'
                      ? await cache.readWith(offset, length, (view) => view.slice())
                      : await cache.read(offset, length);
                if (bytes === undefined) return;
                expect(bytes).toEqual(image.slice(offset, offset + length));
                kept.push({ offset, bytes });
              }),
            );
          }
          for (const { offset, bytes } of kept)
            expect(bytes).toEqual(image.slice(offset, offset + bytes.length));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads each page once while it stays cached, and a peek needs no read', async () => {
    const disk = imageBytes(7);
    const base = slowReader(disk, [1], true);
    const cache = new PageCachedReader(base, { pageBytes: 4096, maxPages: 4 });
    expect(cache.peek(100, 10)).toBeUndefined();
    expect(await cache.read(100, 10)).toEqual(disk.slice(100, 110));
    expect(await cache.read(4000, 200)).toEqual(disk.slice(4000, 4200));
    expect(cache.peek(5000, 300)).toEqual(disk.slice(5000, 5300));
    expect(base.counter.reads).toBe(2);
    expect(cache.pageMisses).toBe(2);
  });
});
