/**
 * Garbage collection and scrub as jobs (lambdas/core/lifecycle/lifecycle-jobs.ts) on the in-memory
 * job store and bucket: a collection that runs out of time hands over and resumes from its job's
 * checkpoint to the same result as one run; starting a collection while one holds the fence resumes
 * that one; a scrub's findings are recorded, published and counted.
 */
import { describe, expect, it } from 'vitest';
import { chunkKey } from '../../lambdas/core/image/image-types.ts';
import {
  GC_HANDOVER_MARGIN_MS,
  runLifecycleJob,
  startGcRun,
  type LifecycleJobEvent,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { newWorld, poolChunk, writeImage, type World } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

const HOUR_MS = 3_600_000;

function depsOf(world: World, jobs = new MemoryJobStore('run')) {
  const published: [string, object][] = [];
  const findings: number[] = [];
  const launched: LifecycleJobEvent[] = [];
  const run = lifecycleRunDeps(world, jobs, {
    events: {
      publish: (type, detail) => {
        published.push([type, detail]);
        return Promise.resolve();
      },
    },
    recordFindings: (count) => findings.push(count),
  });
  const start = {
    jobs,
    clock: world.clock,
    newRunId: run.newRunId,
    coordination: world.coordination,
    launcher: {
      launch: (event: LifecycleJobEvent) => {
        launched.push(event);
        return Promise.resolve();
      },
    },
  };
  return { run, start, jobs, published, findings, launched };
}

/** Two images sharing chunks, a deleted third whose chunks are garbage, all old enough to sweep. */
async function worldWithGarbage(): Promise<World> {
  const world = newWorld();
  await writeImage(
    world,
    'vol-1',
    'img-1',
    new Map([
      [0, 1],
      [1, 2],
    ]),
  );
  await writeImage(
    world,
    'vol-1',
    'img-2',
    new Map([
      [0, 1],
      [1, 3],
    ]),
  );
  await writeImage(
    world,
    'vol-1',
    'img-3',
    new Map([
      [0, 4],
      [5, 5],
    ]),
  );
  world.records.images.delete('vol-1/img-3');
  world.clock.advance(3 * HOUR_MS);
  return world;
}

describe('lifecycle jobs', () => {
  it('a collection out of time hands over and resumes from its checkpoint to the same result', async () => {
    const world = await worldWithGarbage();
    const { run, start, jobs, launched } = depsOf(world);
    const started = await startGcRun(start, { dryRun: false });
    expect(launched).toEqual([{ kind: 'gc', runId: started.runId }]);
    // Every invocation is already past its handover point: one batch of steps each, then `continue`.
    let outcome = await runLifecycleJob(
      run,
      launched[0]!,
      world.clock.now().getTime() + GC_HANDOVER_MARGIN_MS,
    );
    let invocations = 1;
    while (outcome.continue) {
      expect(outcome.run.status).toBe('running');
      outcome = await runLifecycleJob(run, { kind: 'gc', runId: started.runId }, 0);
      invocations += 1;
    }
    expect(invocations).toBeGreaterThan(1);
    expect(outcome.run).toMatchObject({
      status: 'complete',
      chunksLive: 3,
      chunksDeleted: 2,
      segmentsDeleted: 1,
    });
    expect(world.bucket.keys('chunks/').sort()).toEqual(
      [1, 2, 3].map((k) => chunkKey(specChunkName(poolChunk(k)))).sort(),
    );
    expect((await jobs.get(started.runId)).status).toBe('SUCCEEDED');
    expect(await world.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });
  });

  it('starting a collection while one holds the fence resumes that one', async () => {
    const world = await worldWithGarbage();
    const { run, start, launched } = depsOf(world);
    const first = await startGcRun(start, { dryRun: false });
    // The first invocation takes the fence and stops (its Lambda died).
    await runLifecycleJob(run, { kind: 'gc', runId: first.runId }, 0);
    expect(await world.coordination.getFence()).toMatchObject({ phase: 'collecting', runId: first.runId });
    const again = await startGcRun(start, { dryRun: false });
    expect(again.runId).toBe(first.runId);
    expect(launched.map((e) => e.runId)).toEqual([first.runId, first.runId]);
  });

  it('a scheduled scrub records its findings with the images they break, publishes them and counts them', async () => {
    const world = await worldWithGarbage();
    const { run, published, findings } = depsOf(world);
    const victim = chunkKey(specChunkName(poolChunk(2)));
    world.bucket.objects.get(victim)!.body = Buffer.alloc(64, 0x5a);
    const outcome = await runLifecycleJob(run, { kind: 'scrub', all: true }, Number.MAX_SAFE_INTEGER);
    expect(outcome.run).toMatchObject({ status: 'findings', all: true, missing: [] });
    if (outcome.kind !== 'scrub') throw new Error('expected a scrub outcome');
    expect(outcome.run.corrupt).toEqual([expect.objectContaining({ key: victim, images: ['vol-1/img-1'] })]);
    expect(published.map(([type]) => type)).toEqual(['Scrub Findings']);
    expect(findings).toEqual([1]);
  });
});
