import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CatalogVersionItem } from '../../lambdas/core/lifecycle/catalog-pruning.ts';
import { entryAsOf, prunableVersions } from '../../lambdas/core/lifecycle/catalog-pruning.ts';

const v = (n: number): string => `2026-11-${String(n).padStart(2, '0')}T00:00:00.000Z#img-${n}`;
const item = (n: number, removed = false): CatalogVersionItem => ({ versionKey: v(n), removed });

describe('catalog pruning', () => {
  it('keeps the items live images see, narrows the rest away, drops markers with nothing before them', () => {
    // Images 1..6 wrote: 1 created, 3 changed, 4 removed, 5 re-created; live images: 2, 4, 6.
    const versions = [item(1), item(3), item(4, true), item(5)];
    expect(prunableVersions(versions, [v(2), v(4), v(6)])).toEqual([v(3)]);
    // Live 2 and 6 only: the marker guards nothing (item 3 is gone and 6 sees item 5).
    expect(prunableVersions(versions, [v(2), v(6)])).toEqual([v(3), v(4)]);
    // Live 4 and 6: item 1 and 3 cover no live image; the marker then has no present item before it.
    expect(prunableVersions(versions, [v(4), v(6)])).toEqual([v(1), v(3), v(4)]);
    // No live image at all: everything goes.
    expect(prunableVersions(versions, [])).toEqual([v(1), v(3), v(4), v(5)]);
  });
});

describe('catalog pruning (property)', () => {
  it('every live image sees the same entry before and after; every kept item is seen by one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 30 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 31 }), { maxLength: 31 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 31 }), { maxLength: 31 }),
        (removedFlags, written, liveNumbers) => {
          const versions = [...written]
            .sort((a, b) => a - b)
            .map((n, i) => item(n, removedFlags[i] ?? false));
          const live = [...liveNumbers].sort((a, b) => a - b).map(v);
          const pruned = new Set(prunableVersions(versions, live));
          const kept = versions.filter((x) => !pruned.has(x.versionKey));
          for (const key of live) expect(entryAsOf(kept, key)).toEqual(entryAsOf(versions, key));
          for (const [i, x] of kept.entries()) {
            const next = kept[i + 1]?.versionKey;
            const seen = live.some((key) => key >= x.versionKey && (next === undefined || key < next));
            expect(seen).toBe(true);
          }
          // Idempotent: pruning the result again removes nothing.
          expect(prunableVersions(kept, live)).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
