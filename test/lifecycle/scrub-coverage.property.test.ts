/**
 * Rolling scrub coverage across invocations (lifecycle-jobs.ts runScrubJob with a stored cursor):
 * for random chunk sets, cycle lengths N and runs that fail part-way (a retryable read error: the
 * job is retried later and the cursor stays), N completed scheduled runs check every referenced
 * chunk exactly once, whatever the clock did between them (two runs on one day, days skipped).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../lambdas/core/errors.ts';
import { SEGMENT_CHUNKS, chunkKey } from '../../lambdas/core/image/image-types.ts';
import { runLifecycleJob, type LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryScrubCursor } from '../fakes/memory-scrub-cursor.ts';
import { newWorld, poolChunk, writeImage } from './lifecycle-fixture.ts';

const DAY_MS = 86_400_000;

/** The bucket, recording the chunk keys read and failing the `failAt`-th chunk read when set. */
function watched(
  objects: LifecycleObjectStore,
  reads: string[],
  fail: { at?: number },
): LifecycleObjectStore {
  return {
    listPage: (...args) => objects.listPage(...args),
    getRange: (...args) => objects.getRange(...args),
    putIfAbsent: (request) => objects.putIfAbsent(request),
    deleteObjects: (keys) => objects.deleteObjects(keys),
    extendRetention: (keys, until) => objects.extendRetention(keys, until),
    get: async (key) => {
      if (key.startsWith('chunks/')) {
        if (fail.at !== undefined && reads.length === fail.at) {
          throw new RetryableError(`read of ${key} timed out`, { context: { key } });
        }
        reads.push(key);
      }
      return objects.get(key);
    },
  };
}

describe('rolling scrub coverage (property)', () => {
  it('N completed runs check every chunk exactly once; failed runs leave the cursor', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.record({ fail: fc.option(fc.nat(6), { nil: undefined }), days: fc.nat(3) }), {
          minLength: 1,
          maxLength: 16,
        }),
        async (chunks, coverRuns, runs) => {
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
                objects: watched(world.bucket, reads, {
                  ...(run.fail === undefined ? {} : { at: run.fail }),
                }),
                records: world.records,
              },
              scrubCursor: cursor,
              scrubCoverRuns: coverRuns,
              events: { publish: () => Promise.resolve() },
              recordFindings: () => undefined,
            };
            const outcome = await runLifecycleJob(deps, { kind: 'scrub' }, Number.MAX_SAFE_INTEGER).catch(
              (error: unknown) => {
                expect(error).toBeInstanceOf(RetryableError);
                return undefined;
              },
            );
            if (outcome === undefined) continue; // failed part-way: the cursor did not move
            expect(outcome.run.status).toBe('ok');
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
