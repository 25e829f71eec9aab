/**
 * A scrub that does not fit one invocation (lifecycle-jobs.ts runScrubJob): it saves its progress
 * after every step of scrubChunksPerStep chunks, hands over when the invocation's time is within
 * SCRUB_HANDOVER_MARGIN_MS of its end, and the next invocation (the handler relaunches it with the
 * handover's number) resumes after the last chunk name checked. The rolling cursor moves only when
 * the whole share is checked; a throttled read mid-step loses only that step; a dead record of an
 * invocation older than the one now running is stale.
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../lambdas/core/errors.ts';
import { chunkKey } from '../../lambdas/core/image/image-types.ts';
import {
  SCRUB_HANDOVER_MARGIN_MS,
  SCRUB_JOB_KIND,
  failDeadLifecycleJob,
  runLifecycleJob,
  type LifecycleJobEvent,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { withGet } from '../fakes/memory-lifecycle.ts';
import { MemoryScrubCursor } from '../fakes/memory-scrub-cursor.ts';
import { DATA_POSITIONS, newWorld, poolChunk, writeImage, type World } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

/** Test time one chunk read takes. */
const READ_MS = 1000;

/** The bucket, recording chunk reads (each moving the clock READ_MS) and throttling those in `failAt`. */
function timed(world: World, reads: string[], failAt: Set<number>): LifecycleObjectStore {
  const objects = world.bucket;
  let calls = 0;
  return withGet(objects, async (key) => {
    if (key.startsWith('chunks/')) {
      calls += 1;
      if (failAt.has(calls)) throw new RetryableError('SlowDown: reduce your request rate');
      reads.push(key);
      world.clock.advance(READ_MS);
    }
    return objects.get(key);
  });
}

describe('a scrub across invocations', () => {
  it('hands over after the step that reaches the margin, resumes after the last name checked, moves the cursor once', async () => {
    const world = newWorld();
    await writeImage(world, 'vol-a', 'a1', new Map(DATA_POSITIONS.map((position, n) => [position, n + 1])));
    const names = DATA_POSITIONS.map((_, n) => specChunkName(poolChunk(n + 1))).sort();
    const reads: string[] = [];
    const failAt = new Set<number>();
    const jobs = new MemoryJobStore('run');
    const cursor = new MemoryScrubCursor();
    const published: unknown[] = [];
    const run = lifecycleRunDeps(world, jobs, {
      scrub: { objects: timed(world, reads, failAt), records: world.records },
      scrubCursor: cursor,
      scrubCoverRuns: 1,
      scrubChunksPerStep: 2,
      events: { publish: (_type, detail) => Promise.resolve(void published.push(detail)) },
    });
    const launched: LifecycleJobEvent[] = [];
    const handler = createLifecycleJobHandler({
      run,
      relaunch: () => ({ launch: (event) => Promise.resolve(void launched.push(event)) }),
    });
    // Time for three reads before the margin: the second step (reads 3 and 4) reaches it.
    const context = (requestId: string) =>
      ({
        functionName: 'rbp-LifecycleJob',
        awsRequestId: requestId,
        getRemainingTimeInMillis: () => SCRUB_HANDOVER_MARGIN_MS + 3 * READ_MS,
      }) as never;

    const first = await handler({ kind: SCRUB_JOB_KIND }, context('inv-1'));
    expect(first).toEqual({ kind: SCRUB_JOB_KIND, runId: 'scrub-inv-1', status: 'running', continue: true });
    expect(reads).toEqual(names.slice(0, 4).map(chunkKey));
    expect(launched).toEqual([{ kind: SCRUB_JOB_KIND, runId: 'scrub-inv-1', handover: 1 }]);
    const handed = await jobs.get('scrub-inv-1');
    expect(handed.status).toBe('RUNNING');
    expect(handed.params).toMatchObject({ handovers: 1 });
    expect(handed.progress).toMatchObject({
      after: names[3],
      done: false,
      slices: 1,
      chunksVerified: 4,
      structureChecked: true,
      cursorFrom: null,
    });
    expect(cursor.cursor).toBeUndefined();

    // The relaunched invocation is throttled at its first chunk read: Lambda retries it.
    failAt.add(5);
    await expect(handler(launched[0], context('inv-2'))).rejects.toThrow('SlowDown');
    expect(await jobs.get('scrub-inv-1')).toMatchObject({
      status: 'RUNNING',
      params: { handovers: 1, startedHandover: 1 },
      progress: { after: names[3], chunksVerified: 4 },
    });
    // A dead record of the first invocation now is stale: the run goes on.
    const dead = await failDeadLifecycleJob(run, {
      requestContext: { requestId: 'inv-1', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: { kind: SCRUB_JOB_KIND },
      responsePayload: { errorType: 'Runtime.ExitError', errorMessage: 'timed out' },
    });
    expect(dead).toEqual({ runId: 'scrub-inv-1', status: 'RUNNING', failed: false });

    const last = await handler(launched[0], context('inv-2'));
    expect(last).toEqual({ kind: SCRUB_JOB_KIND, runId: 'scrub-inv-1', status: 'ok', continue: false });
    expect(launched).toHaveLength(1);
    // Each chunk once, but for the step the throttled read broke: its other chunk (read alongside)
    // is read again with it.
    expect(reads).toEqual([...names.slice(0, 4), names[5]!, names[4]!, names[5]!].map(chunkKey));
    const done = await jobs.get('scrub-inv-1');
    expect(done.status).toBe('SUCCEEDED');
    expect(done.progress).toBeUndefined();
    expect(done.result).toMatchObject({
      status: 'ok',
      runNumber: 0,
      coverRuns: 1,
      chunksVerified: 6,
      manifestsChecked: 1,
      slices: 2,
      corrupt: [],
      missing: [],
    });
    expect(cursor.cursor).toEqual({ runNumber: 0, coverRuns: 1 });
    expect(published).toEqual([]);
  });

  it('a run that fits its invocation does not hand over', async () => {
    const world = newWorld();
    await writeImage(world, 'vol-a', 'a1', new Map(DATA_POSITIONS.map((position, n) => [position, n + 1])));
    const reads: string[] = [];
    const jobs = new MemoryJobStore('run');
    const run = lifecycleRunDeps(world, jobs, {
      scrub: { objects: timed(world, reads, new Set()), records: world.records },
      scrubChunksPerStep: 2,
    });
    const deadline = world.clock.now().getTime() + SCRUB_HANDOVER_MARGIN_MS + 6 * READ_MS;
    const outcome = await runLifecycleJob(run, { kind: SCRUB_JOB_KIND, all: true }, deadline);
    expect(outcome).toMatchObject({ continue: false, run: { status: 'ok', chunksVerified: 6 } });
    expect(reads).toHaveLength(6);
  });
});
