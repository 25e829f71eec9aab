/**
 * The incremental catalog's change oracle (catalog-trees.ts changeOracle) against a plain model:
 * a range "changed" exactly when a byte differs in a 64-byte granule it touches (or it runs past
 * either image's end), whatever the manifests' changed chunks and the journal's replayed blocks
 * say beyond the truth, and whichever order the questions come in. changedNow answers the same as
 * changed, or undefined while a block it needs has not been compared. The same whether the
 * filesystem view hands out copies or lends views of its cached pages (a region of one page or of
 * several, with a cache small enough to evict while regions are compared), for short spans and
 * long ones over many blocks and regions, and runs of changed bytes across granules and blocks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changeOracle,
  DIFF_BLOCK_BYTES,
  DIFF_GRANULE_BYTES,
  DIFF_REGION_BYTES,
} from '../../lambdas/core/catalog/catalog-trees.ts';
import { PageCachedReader } from '../../lambdas/core/fs/cached-reader.ts';
import type { ByteSpan, MetadataRangeSource } from '../../lambdas/core/fs/metadata-ranges.ts';

/** Images of two regions and a half: spans cross region and block boundaries. */
const SIZE = 2 * DIFF_REGION_BYTES + DIFF_REGION_BYTES / 2;

/**
 * How the filesystem view hands out its bytes: copies (a plain reader), or views of a page cache
 * whose pages are regions (the readers' default) or smaller (a region spans several pages).
 */
type View = 'copies' | 'region pages' | 'small pages';

function source(
  bytes: Uint8Array,
  replayed: readonly ByteSpan[],
  view: View = 'copies',
): MetadataRangeSource {
  const plain = {
    size: bytes.length,
    read: (offset: number, length: number) => Promise.resolve(bytes.slice(offset, offset + length)),
  };
  return {
    layoutKey: () => Promise.resolve(''),
    directoryRanges: () => Promise.resolve([]),
    entryRanges: () => Promise.resolve([]),
    effective:
      view === 'copies'
        ? plain
        : new PageCachedReader(plain, {
            pageBytes: view === 'region pages' ? DIFF_REGION_BYTES : DIFF_REGION_BYTES / 16,
            maxPages: 4,
          }),
    replayed,
  };
}

/** The previous image's bytes: a pattern that differs from block to block and from region to region. */
const PATTERN = Uint8Array.from({ length: SIZE }, (_, i) => (i * 31 + (i >> 12) * 7 + (i >> 20)) & 0xff);

/** The model: any differing byte in a granule the span touches, or bytes past the end. */
function modelChanged(a: Uint8Array, b: Uint8Array, spans: readonly ByteSpan[]): boolean {
  return spans.some(([start, end]) => {
    if (end > a.length) return true;
    if (end <= start) return false;
    const from = Math.floor(start / DIFF_GRANULE_BYTES) * DIFF_GRANULE_BYTES;
    const to = Math.min(a.length, Math.ceil(end / DIFF_GRANULE_BYTES) * DIFF_GRANULE_BYTES);
    for (let i = from; i < to; i += 1) if (a[i] !== b[i]) return true;
    return false;
  });
}

const span: fc.Arbitrary<ByteSpan> = fc.oneof(
  fc
    .tuple(fc.nat(SIZE + 100), fc.nat(3 * DIFF_BLOCK_BYTES))
    .map(([start, length]): ByteSpan => [start, start + length]),
  // Long spans over many blocks and regions, as a subtree's merged spans are.
  fc.tuple(fc.nat(SIZE), fc.nat(SIZE)).map(([a, b]): ByteSpan => [Math.min(a, b), Math.max(a, b)]),
);

/**
 * A span placed at the edge of the `diff`-th run of changed bytes (modulo their count): starting a
 * few granules before or after the first or last changed granule's boundary, give or take a byte.
 */
interface NearSpan {
  readonly diff: number;
  readonly edge: 'start' | 'end';
  readonly granules: number;
  readonly delta: number;
  readonly length: number;
}

const nearSpan: fc.Arbitrary<NearSpan> = fc.record({
  diff: fc.nat(11),
  edge: fc.constantFrom<'start' | 'end'>('start', 'end'),
  granules: fc.integer({ min: -2, max: 2 }),
  delta: fc.integer({ min: -1, max: 1 }),
  length: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.nat(3 * DIFF_GRANULE_BYTES)),
});

describe('changeOracle', () => {
  it('answers like the byte model, with changedNow agreeing once blocks are known', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Runs of changed bytes: one byte, or several granules, across block and region boundaries.
        fc.array(
          fc.record({
            at: fc.nat(SIZE - 1),
            length: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 3 * DIFF_GRANULE_BYTES })),
            journal: fc.boolean(),
          }),
          { maxLength: 12 },
        ),
        fc.array(fc.nat(2), { maxLength: 2 }),
        fc.array(fc.array(fc.oneof(span, nearSpan), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.constantFrom<View>('copies', 'region pages', 'small pages'),
        async (diffs, extraChunks, questions, view) => {
          // Not zeros: a comparison against stale or unfilled memory must not pass by accident.
          const before = PATTERN;
          const after = PATTERN.slice();
          const chunks = new Set(extraChunks);
          const replayed: ByteSpan[] = [];
          for (const { at: first, length, journal } of diffs) {
            for (let at = first; at < Math.min(SIZE, first + length); at += 1) {
              after[at] = before[at]! ^ 1;
              // Every difference is known to the oracle: its chunk is in the changed set, or its
              // block was replayed from the journal (then its chunk need not be).
              if (journal) {
                const block = Math.floor(at / DIFF_BLOCK_BYTES) * DIFF_BLOCK_BYTES;
                replayed.push([block, block + DIFF_BLOCK_BYTES]);
              } else {
                chunks.add(Math.floor(at / DIFF_REGION_BYTES));
              }
            }
          }
          const oracle = changeOracle({
            previous: source(before, replayed, view),
            current: source(after, [], view),
            diskMayDiffer: (start, end) => {
              for (let c = Math.floor(start / DIFF_REGION_BYTES); c * DIFF_REGION_BYTES < end; c += 1) {
                if (chunks.has(c)) return true;
              }
              return false;
            },
          });
          const placed = (q: ByteSpan | NearSpan): ByteSpan => {
            if (!('diff' in q)) return q;
            const run = diffs[q.diff % Math.max(1, diffs.length)] ?? { at: 0, length: 1 };
            const edge =
              q.edge === 'start'
                ? Math.floor(run.at / DIFF_GRANULE_BYTES) * DIFF_GRANULE_BYTES
                : Math.ceil((run.at + run.length) / DIFF_GRANULE_BYTES) * DIFF_GRANULE_BYTES;
            const start = Math.max(0, edge + q.granules * DIFF_GRANULE_BYTES + q.delta);
            return [start, start + q.length];
          };
          for (const asked of questions) {
            const spans = asked.map(placed);
            const expected = modelChanged(before, after, spans);
            const now = oracle.changedNow(spans);
            if (now !== undefined) expect(now).toBe(expected);
            expect(await oracle.changed(spans)).toBe(expected);
            expect(oracle.changedNow(spans)).toBe(expected);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
