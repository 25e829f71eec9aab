/**
 * Rolling scrub coverage across invocations (lifecycle-jobs.ts runScrubJob with a stored cursor):
 * for random chunk sets, cycle lengths N, per-invocation budgets (each chunk read takes
 * READ_MS of the invocation's time, so an invocation has time for `budget` reads before its
 * hand-over margin) and runs that fail part-way (a retryable read error: the run is abandoned and
 * the cursor stays), N completed scheduled runs check every referenced chunk exactly once, whatever
 * the clock did between them (two runs on one day, days skipped) and however many invocations a
 * run took. An invocation that hands over has read at least its budget and less than a step more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../lambdas/core/errors.ts';
import { SEGMENT_CHUNKS, chunkKey } from '../../lambdas/core/image/image-types.ts';
import {
  SCRUB_HANDOVER_MARGIN_MS,
  SCRUB_JOB_KIND,
  runLifecycleJob,
  type LifecycleJobEvent,
  type LifecycleJobOutcome,
  type LifecycleRunDeps,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { withGet, type ManualClock } from '../fakes/memory-lifecycle.ts';
import type { LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryScrubCursor } from '../fakes/memory-scrub-cursor.ts';
import { newWorld, poolChunk, writeImage } from './lifecycle-fixture.ts';

const DAY_MS = 86_400_000;
/** Test time one chunk read takes. */
const READ_MS = 1000;

/** The bucket, recording the chunk keys read and failing the `failAt`-th chunk read when set. */
function watched(
  objects: LifecycleObjectStore,
  reads: string[],
  fail: { at?: number },
  clock: ManualClock,
): LifecycleObjectStore {
  return withGet(objects, async (key) => {
    if (key.startsWith('chunks/')) {
      if (fail.at !== undefined && reads.length === fail.at) {
        throw new RetryableError(`read of ${key} timed out`, { context: { key } });
      }
      reads.push(key);
      clock.advance(READ_MS);
    }
    return objects.get(key);
  });
}

describe('rolling scrub coverage (property)', () => {
  it('N completed runs check every chunk exactly once, across invocations of a budget; failed runs leave the cursor', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.record({ fail: fc.option(fc.nat(6), { nil: undefined }), days: fc.nat(3) }), {
          minLength: 1,
          maxLength: 16,
        }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        async (chunks, coverRuns, runs, budget, chunksPerStep) => {
          const world = newWorld();
          // Two volumes sharing some chunks; positions spread over segments.
          const half = Math.ceil(chunks.length / 2);
          await writeImage(
            world,
            'vol-a',
            'a1',
            new Map(chunks.slice(0, half + 1).map((n, i) => [i * 97, n])),
          );
          await writeImage(
            world,
            'vol-b',
            'b1',
            new Map(
              chunks
                .slice(half - 1)
                .map((n, i) => [(i * 149 + SEGMENT_CHUNKS - 1) % (2 * SEGMENT_CHUNKS), n]),
            ),
          );
          const all = new Set(chunks.map((n) => chunkKey(specChunkName(poolChunk(n)))));
          const cursor = new MemoryScrubCursor();
          const jobs = new MemoryJobStore('run');
          let ids = 0;
          const perRun: string[][] = [];
          let completed = 0;
          for (const run of [
            ...runs,
            ...Array.from({ length: coverRuns }, () => ({ fail: undefined, days: 1 })),
          ]) {
            if (completed === coverRuns) break;
            world.clock.time += run.days * DAY_MS; // 0: a second run on the same day
            const reads: string[] = [];
            const cursorBefore = cursor.cursor;
            const deps: LifecycleRunDeps = {
              jobs,
              clock: world.clock,
              newRunId: (kind) => `${kind}-${(ids += 1)}`,
              gc: {
                objects: world.bucket,
                records: world.records,
                coordination: world.coordination,
                clock: world.clock,
              },
              scrub: {
                objects: watched(
                  world.bucket,
                  reads,
                  { ...(run.fail === undefined ? {} : { at: run.fail }) },
                  world.clock,
                ),
                records: world.records,
              },
              scrubCursor: cursor,
              scrubCoverRuns: coverRuns,
              scrubChunksPerStep: chunksPerStep,
              events: { publish: () => Promise.resolve() },
              recordFindings: () => undefined,
            };
            // Invocations of one run: the scheduled one, then one per hand-over.
            let event: LifecycleJobEvent = { kind: SCRUB_JOB_KIND };
            let abandoned = false;
            for (;;) {
              const before = reads.length;
              const deadline = world.clock.now().getTime() + SCRUB_HANDOVER_MARGIN_MS + budget * READ_MS;
              const outcome: LifecycleJobOutcome | undefined = await runLifecycleJob(
                deps,
                event,
                deadline,
              ).catch((error: unknown) => {
                expect(error).toBeInstanceOf(RetryableError);
                return undefined;
              });
              if (outcome === undefined) {
                abandoned = true; // failed part-way: the cursor did not move
                break;
              }
              const read = reads.length - before;
              if (!outcome.continue) {
                expect(outcome.run.status).toBe('ok');
                expect(read).toBeLessThan(budget + chunksPerStep);
                break;
              }
              expect(read).toBeGreaterThanOrEqual(budget);
              expect(read).toBeLessThan(budget + chunksPerStep);
              expect(outcome.run.status).toBe('running');
              expect(cursor.cursor).toEqual(cursorBefore);
              event = { kind: SCRUB_JOB_KIND, runId: outcome.run.runId, handover: outcome.handover! };
            }
            if (abandoned) continue;
            perRun.push(reads);
            completed += 1;
          }
          expect(completed).toBe(coverRuns);
          const checked = perRun.flat();
          expect(new Set(checked)).toEqual(all);
          expect(checked).toHaveLength(all.size); // exactly once
          expect(cursor.cursor).toEqual({ runNumber: 0, coverRuns });
        },
      ),
      { numRuns: 25 },
    );
  }, 240_000);
});
