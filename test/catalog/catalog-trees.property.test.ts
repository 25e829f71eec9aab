/**
 * Span bookkeeping of the catalog's tree summaries (catalog-trees.ts): capping keeps a superset of
 * every range (what makes skipping sound), and the per-page cap keeps a wide directory's page
 * summaries within a bounded size in its parent's page.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  capSpans,
  MAX_DIRECTORY_PAGE_SPANS,
  MAX_PAGE_SPANS,
  MAX_TREE_PAGE_ENTRIES,
  MIN_PAGE_SPANS,
  pageSpanCap,
} from '../../lambdas/core/catalog/catalog-trees.ts';
import { MAX_DIRECTORY_CHILDREN } from '../../lambdas/core/catalog/build-catalog.ts';
import type { ByteSpan } from '../../lambdas/core/fs/metadata-ranges.ts';

describe('capSpans', () => {
  it('covers every input range with at most `max` sorted, disjoint spans', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.nat(1_000_000), fc.nat(5_000)).map(([s, n]): ByteSpan => [s, s + n]),
          { maxLength: 80 },
        ),
        fc.integer({ min: 1, max: 40 }),
        (spans, max) => {
          const capped = capSpans(spans, max);
          expect(capped.length).toBeLessThanOrEqual(max);
          for (let i = 1; i < capped.length; i += 1) expect(capped[i]![0]).toBeGreaterThan(capped[i - 1]![1]);
          for (const [start, end] of spans) {
            if (end <= start) continue;
            expect(capped.some(([s, e]) => s <= start && end <= e)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('pageSpanCap', () => {
  it('keeps MAX_PAGE_SPANS per page while the directory stays within MAX_DIRECTORY_PAGE_SPANS, never fewer than MIN_PAGE_SPANS', () => {
    expect(pageSpanCap(1)).toBe(MAX_PAGE_SPANS);
    expect(pageSpanCap(64)).toBe(32);
    expect(pageSpanCap(65)).toBe(31);
    expect(pageSpanCap(256)).toBe(MIN_PAGE_SPANS);
    const widest = Math.ceil(MAX_DIRECTORY_CHILDREN / MAX_TREE_PAGE_ENTRIES);
    expect(pageSpanCap(widest)).toBe(MIN_PAGE_SPANS);
    for (let pages = 1; pages <= widest; pages += 1) {
      const cap = pageSpanCap(pages);
      expect(pages * cap).toBeLessThanOrEqual(Math.max(MAX_DIRECTORY_PAGE_SPANS, pages * MIN_PAGE_SPANS));
    }
  });
});
