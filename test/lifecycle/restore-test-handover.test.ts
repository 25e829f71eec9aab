/**
 * A restore test with `wholeVolume` runs in steps across invocations of the lifecycle job (a
 * server's sample, then one segment of one image per step here): forced to hand over every step
 * or two, and crashed in the middle of a segment by a throttled chunk read, it ends with exactly
 * the result of one uninterrupted run (runRestoreTest): the same servers, failures and counted
 * chunks and bytes, none counted twice.
 */
import '../support/quiet-powertools.ts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { RetryableError } from '../../lambdas/core/errors.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { DecodedChunk } from '../../lambdas/core/image/format-v1.ts';
import { chunkKey, manifestKey } from '../../lambdas/core/image/image-types.ts';
import {
  failDeadLifecycleJob,
  RESTORE_TEST_HANDOVER_MARGIN_MS,
  RESTORE_TEST_JOB_KIND,
  runLifecycleJob,
  startRestoreTestRun,
  type LifecycleJobEvent,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import {
  pointsOnce,
  RESTORE_TEST_CATALOG_LOOKBACK,
  restoreTestDone,
  restoreTestStep,
  runRestoreTest,
  startRestoreTestProgress,
  type RestoreTestDeps,
} from '../../lambdas/core/lifecycle/restore-test.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { specChunkName, fastRetry } from '../engine/engine-fixture.ts';
import { ManualClock } from '../fakes/memory-lifecycle.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { DATA_POSITIONS, newWorld, poolChunk, T0, writeImage, type World } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

/** Test time one chunk read takes (the restore test's clock moves by it at every read that is not throttled). */
const CHUNK_READ_MS = 7;

/**
 * Chunk reads that fail (throttled) at the given call numbers, counting every call; every other
 * read moves `clock` by CHUNK_READ_MS, so durations are exact and a step's time counted twice shows.
 */
class FlakyImages extends ImageStore {
  calls = 0;
  failAt = new Set<number>();
  readonly clock = new ManualClock(T0);
  override getChunk(name: string): Promise<DecodedChunk> {
    this.calls += 1;
    if (this.failAt.has(this.calls))
      return Promise.reject(new RetryableError('SlowDown: reduce your request rate'));
    this.clock.advance(CHUNK_READ_MS);
    return super.getChunk(name);
  }
}

/** Each image's own chunks: pool numbers base … base + 5 at the fixture's data positions. */
function contentOf(base: number): Map<number, number> {
  return new Map(DATA_POSITIONS.map((position, n) => [position, base + n]));
}

/** web-01 (two volumes, one recovery point), db-01 (one), vol-0d (untagged; a chunk of its second segment is garbage). */
async function fleet(): Promise<World> {
  const world = newWorld();
  const point = { serverId: 'web-01', recoveryPointId: 'rp-bk-1' };
  await writeImage(world, 'vol-0a', 'img-bk-1-vol-0a', contentOf(100), point);
  await writeImage(world, 'vol-0b', 'img-bk-1-vol-0b', contentOf(200), point);
  await writeImage(world, 'vol-0c', 'img-bk-2', contentOf(300), { serverId: 'db-01' });
  await writeImage(world, 'vol-0d', 'img-bk-3', contentOf(400));
  const key = chunkKey(specChunkName(poolChunk(404)));
  const stored = world.bucket.objects.get(key)!;
  world.bucket.objects.set(key, { ...stored, body: Buffer.alloc(stored.body.length, 0x42) });
  return world;
}

/** A clock that moves one second at every look: the job's deadline checks see time pass. */
class TickingClock extends ManualClock {
  override now(): Date {
    this.advance(1000);
    return super.now();
  }
}

/** The test's deps over the fleet: the images' read clock and one segment per whole-volume step. */
function testsOf(world: World, images: FlakyImages): RestoreTestDeps {
  return {
    records: world.records,
    catalog: new MemoryCatalogStore(),
    images,
    clock: images.clock,
    segmentsPerStep: 1,
  };
}

/**
 * Runs a restore test as the lifecycle job does, invocation after invocation: each gets
 * `budget(n)` seconds before the hand-over margin (the clock ticks a second per look), a thrown
 * retryable error is Lambda's retry of the same event, a hand-over the next invocation's event.
 */
async function acrossInvocations(
  world: World,
  tests: RestoreTestDeps,
  budget: (invocation: number) => number,
  stopAtHandover = Number.POSITIVE_INFINITY,
) {
  const clock = new TickingClock(world.clock.time);
  const jobs = new MemoryJobStore('run');
  const launched: LifecycleJobEvent[] = [];
  const published: unknown[] = [];
  const run = lifecycleRunDeps(world, jobs, {
    clock,
    newRunId: (kind) => `${kind}-1`,
    events: { publish: (_type, detail) => Promise.resolve(void published.push(detail)) },
    restoreTest: tests,
  });
  await startRestoreTestRun(
    {
      jobs,
      clock,
      newRunId: run.newRunId,
      coordination: world.coordination,
      launcher: { launch: (event) => Promise.resolve(void launched.push(event)) },
    },
    { files: 4, wholeVolume: true },
  );
  let event = launched[0]!;
  let crashes = 0;
  let handovers = 0;
  for (let invocation = 1; ; invocation += 1) {
    if (invocation > MAX_INVOCATIONS) throw new Error(`no end after ${MAX_INVOCATIONS} invocations`);
    const deadline = clock.time + RESTORE_TEST_HANDOVER_MARGIN_MS + budget(invocation) * 1000;
    const outcome = await runLifecycleJob(run, event, deadline).catch((error: unknown) => {
      if (!(error instanceof RetryableError)) throw error;
      crashes += 1;
      return undefined; // Lambda's retry runs the same event again
    });
    if (outcome === undefined) continue;
    if (!outcome.continue) return { run, outcome, jobs, published, crashes, handovers };
    handovers += 1;
    expect(outcome).toMatchObject({ kind: RESTORE_TEST_JOB_KIND, handover: handovers });
    if (handovers >= stopAtHandover) return { run, outcome, jobs, published, crashes, handovers };
    event = { kind: RESTORE_TEST_JOB_KIND, runId: outcome.run.runId, handover: handovers };
  }
}

/** Invocations one test may take at most (3 samples and 8 segments, a step at least per invocation). */
const MAX_INVOCATIONS = 60;

describe('a whole-volume restore test across invocations', () => {
  it('hands over between steps, resumes after a crash mid-segment, and ends as one run does', async () => {
    const world = await fleet();
    const images = new FlakyImages(world.bucket, { retry: fastRetry() });
    const tests = testsOf(world, images);
    const single = await runRestoreTest(tests, { runId: 'restore-test-1', files: 4, wholeVolume: true });
    // The fixture's check of the single run: every chunk of three images, the first segment's 4 of the fourth's 6.
    expect(single.servers.map((s) => [s.server, s.result, s.wholeVolume, s.failures.length])).toEqual([
      ['db-01', 'Passed', { chunksVerified: 6, bytes: 6 * CHUNK_SIZE_BYTES }, 0],
      ['vol-0d', 'Failed', { chunksVerified: 4, bytes: 4 * CHUNK_SIZE_BYTES }, 1],
      ['web-01', 'Passed', { chunksVerified: 12, bytes: 12 * CHUNK_SIZE_BYTES }, 0],
    ]);
    expect(single.servers[1]!.failures[0]).toMatch(/^whole volume vol-0d\/img-bk-3: /);
    // No catalogue, no sample: the time of the whole-volume reads, a read's time per chunk.
    expect([single.servers[0]!.durationMs, single.servers[2]!.durationMs]).toEqual([
      6 * CHUNK_READ_MS,
      12 * CHUNK_READ_MS,
    ]);

    // Chunk reads: db-01's 6, vol-0d's 4 + 2 (the garbage one fails its second segment), web-01's
    // first image's 6, then the second read of the second image's first segment is throttled.
    images.calls = 0;
    images.failAt = new Set([6 + 6 + 6 + 2]);
    // Time for about one step before the margin is reached.
    const { outcome, jobs, published, crashes, handovers } = await acrossInvocations(world, tests, () => 3);
    expect(outcome.run).toEqual(expect.objectContaining({ status: 'failed', servers: single.servers }));
    expect(crashes).toBe(1);
    // Three samples and eight segments over many invocations.
    expect(handovers).toBeGreaterThanOrEqual(5);
    const record = await jobs.get('restore-test-1');
    expect(record).toMatchObject({ status: 'SUCCEEDED', params: { handovers } });
    expect(record.result).toEqual({ status: 'failed', servers: single.servers });
    expect(published).toHaveLength(1);
  });

  it('while it runs, a dead record older than the last hand-over is stale; one of the current hand-over fails it', async () => {
    const world = await fleet();
    const tests = testsOf(world, new FlakyImages(world.bucket, { retry: fastRetry() }));
    // Stopped after its third hand-over: the job is RUNNING, the invocation of hand-over 2 has
    // started, the next one not yet.
    const { run, jobs } = await acrossInvocations(world, tests, () => 3, 3);
    expect(await jobs.get('restore-test-1')).toMatchObject({
      status: 'RUNNING',
      params: { handovers: 3, startedHandover: 2 },
    });
    const died = (handover: number) =>
      failDeadLifecycleJob(run, {
        requestContext: { requestId: 'r-1', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
        requestPayload: { kind: RESTORE_TEST_JOB_KIND, runId: 'restore-test-1', handover },
        responsePayload: { errorType: 'Runtime.ExitError', errorMessage: 'timed out' },
      });
    expect(await died(1)).toEqual({ runId: 'restore-test-1', status: 'RUNNING', failed: false });
    expect((await jobs.get('restore-test-1')).status).toBe('RUNNING');
    expect(await died(3)).toEqual({ runId: 'restore-test-1', status: 'FAILED', failed: true });
    expect((await jobs.get('restore-test-1')).status).toBe('FAILED');
  });

  it('fails on the dead record of the invocation whose every relaunch was refused (not stuck RUNNING)', async () => {
    const world = await fleet();
    const tests = testsOf(world, new FlakyImages(world.bucket, { retry: fastRetry() }));
    const { run, jobs } = await acrossInvocations(world, tests, () => 3, 1);
    const refused = new RetryableError('TooManyRequestsException: Rate exceeded');
    const handler = createLifecycleJobHandler({
      run,
      relaunch: () => ({ launch: () => Promise.reject(refused) }),
    });
    const context = {
      functionName: 'rbp-LifecycleJob',
      getRemainingTimeInMillis: () => RESTORE_TEST_HANDOVER_MARGIN_MS + 3000,
    } as never;
    const event = { kind: RESTORE_TEST_JOB_KIND, runId: 'restore-test-1', handover: 1 };
    // The first attempt and Lambda's two retries each make a step, hand over, and fail to relaunch.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await expect(handler(event, context)).rejects.toThrow('TooManyRequestsException');
    }
    expect(await jobs.get('restore-test-1')).toMatchObject({
      status: 'RUNNING',
      params: { handovers: 4, startedHandover: 1 },
    });
    const dead = await failDeadLifecycleJob(run, {
      requestContext: { requestId: 'r-1', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: event,
      responsePayload: { errorType: 'RetryableError', errorMessage: refused.message },
    });
    expect(dead).toEqual({ runId: 'restore-test-1', status: 'FAILED', failed: true });
  });

  it('notes an image or a server deleted while the test ran (retention), not a failure', async () => {
    const world = await fleet();
    const tests = testsOf(world, new FlakyImages(world.bucket, { retry: fastRetry() }));
    const options = { runId: 'restore-test-1', files: 4, wholeVolume: true };
    let progress = await startRestoreTestProgress(tests, {});
    const steps = async (n: number) => {
      const points = pointsOnce(tests); // a new invocation's listing
      for (let step = 0; step < n && !restoreTestDone(progress); step += 1) {
        progress = await restoreTestStep(tests, options, progress, points);
      }
    };
    // Expired before its turn: db-01's only image.
    const expire = async (volumeId: string, imageId: string) => {
      await world.records.deleteImage(volumeId, imageId);
      world.bucket.objects.delete(manifestKey(volumeId, imageId));
    };
    await expire('vol-0c', 'img-bk-2');
    await steps(3); // the three samples
    // Expired between two segments of its whole-volume read: web-01's second image.
    await steps(2); // vol-0d's first segment, then its second (the garbage chunk)
    await steps(2); // web-01's first image, both segments
    await steps(1); // web-01's second image, first segment
    await expire('vol-0b', 'img-bk-1-vol-0b');
    await steps(Number.POSITIVE_INFINITY);
    expect(
      progress.results.map((s) => [s.server, s.result, s.wholeVolume, s.failures.length, s.notes]),
    ).toEqual([
      [
        'db-01',
        'Passed',
        undefined,
        0,
        ['server db-01 has no live image any more: its images were deleted during the test; not read'],
      ],
      ['vol-0d', 'Failed', { chunksVerified: 4, bytes: 4 * CHUNK_SIZE_BYTES }, 1, expect.any(Array)],
      [
        'web-01',
        'Passed',
        { chunksVerified: 10, bytes: 10 * CHUNK_SIZE_BYTES },
        0,
        [
          `no catalogued image among the newest ${RESTORE_TEST_CATALOG_LOOKBACK} recovery points: no files sampled`,
          'whole volume vol-0b/img-bk-1-vol-0b: image deleted during the test; not read further',
        ],
      ],
    ]);
  });

  it('ends as one run does for any time budgets and throttled reads (property)', async () => {
    const world = await fleet();
    const images = new FlakyImages(world.bucket, { retry: fastRetry() });
    const tests = testsOf(world, images);
    const single = await runRestoreTest(tests, { runId: 'restore-test-1', files: 4, wholeVolume: true });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 3 }),
        async (budgets, failAt) => {
          images.calls = 0;
          images.failAt = new Set(failAt);
          const { outcome, crashes } = await acrossInvocations(
            world,
            tests,
            (n) => budgets[(n - 1) % budgets.length]!,
          );
          expect(outcome.run).toEqual(expect.objectContaining({ status: 'failed', servers: single.servers }));
          // A throttled read crashed the invocation it fell in (two in one step crash it once).
          const hit = failAt.filter((call) => call <= images.calls).length;
          expect(crashes).toBeLessThanOrEqual(hit);
          expect(crashes > 0).toBe(hit > 0);
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);
});
