/**
 * The contract of the ScrubCursorStore port (lambdas/core/lifecycle/scrub.ts): where the rolling
 * scrub stands. No cursor before the first completed run; `advance` moves it only from the cursor
 * it holds (run number and cycle length; undefined: from no cursor), so of two runs that checked
 * the same share only one moves it on. Run against MemoryScrubCursor (test/fakes) and
 * DynamoDbScrubCursor on moto (test/lifecycle/lifecycle-ports.contract.test.ts); each `make` gives
 * a store never used before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ScrubCursor, ScrubCursorStore } from '../../lambdas/core/lifecycle/scrub.ts';

const FIRST: ScrubCursor = { runNumber: 1, coverRuns: 30 };
const SECOND: ScrubCursor = { runNumber: 2, coverRuns: 30 };

export function scrubCursorStoreContract(
  name: string,
  make: () => Promise<ScrubCursorStore>,
  propertyRuns: number,
): void {
  describe(`scrub cursor store contract: ${name}`, () => {
    it('has no cursor before the first advance; the first advance is from no cursor', async () => {
      const store = await make();
      expect(await store.get()).toBeUndefined();
      expect(await store.advance(SECOND, FIRST)).toBe(false);
      expect(await store.get()).toBeUndefined();
      expect(await store.advance(undefined, FIRST)).toBe(true);
      expect(await store.get()).toEqual(FIRST);
    });

    it('moves only from the cursor it holds: run number and cycle length both compared', async () => {
      const store = await make();
      await store.advance(undefined, FIRST);
      expect(await store.advance(undefined, SECOND)).toBe(false);
      expect(await store.advance({ runNumber: 1, coverRuns: 7 }, SECOND)).toBe(false);
      expect(await store.advance({ runNumber: 0, coverRuns: 30 }, SECOND)).toBe(false);
      expect(await store.get()).toEqual(FIRST);
      expect(await store.advance(FIRST, SECOND)).toBe(true);
      expect(await store.get()).toEqual(SECOND);
      // A new cycle length starts again at 0: a move like any other.
      expect(await store.advance(SECOND, { runNumber: 0, coverRuns: 7 })).toBe(true);
      expect(await store.get()).toEqual({ runNumber: 0, coverRuns: 7 });
    });

    it('of two runs moving on from the same cursor at once, exactly one does', async () => {
      const store = await make();
      await store.advance(undefined, FIRST);
      const moved = await Promise.all([
        store.advance(FIRST, SECOND),
        store.advance(FIRST, { runNumber: 2, coverRuns: 7 }),
      ]);
      expect(moved.filter(Boolean)).toHaveLength(1);
      expect(await store.get()).toEqual(moved[0] ? SECOND : { runNumber: 2, coverRuns: 7 });
    });

    it('any sequence of advances behaves as one compare-and-set register (property)', async () => {
      const cursor = fc.record({ runNumber: fc.nat(3), coverRuns: fc.integer({ min: 1, max: 2 }) });
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ from: fc.option(cursor, { nil: undefined }), to: cursor }), {
            minLength: 1,
            maxLength: 8,
          }),
          async (moves) => {
            const store = await make();
            let held: ScrubCursor | undefined;
            for (const { from, to } of moves) {
              const expected =
                from === undefined
                  ? held === undefined
                  : held?.runNumber === from.runNumber && held.coverRuns === from.coverRuns;
              expect(await store.advance(from, to)).toBe(expected);
              if (expected) held = to;
              expect(await store.get()).toEqual(held);
            }
          },
        ),
        { numRuns: propertyRuns },
      );
    });
  });
}
