/**
 * The commit gate (lambdas/core/lifecycle/commit-gate.ts) on the in-memory bucket: what a backup's
 * commit does next to the collection fence, with exact request counts.
 */
import { describe, expect, it } from 'vitest';
import { RetryableError, NotFoundError } from '../../lambdas/core/errors.ts';
import { chunkKey, manifestKey } from '../../lambdas/core/image/image-types.ts';
import { collectionOverlapped, passCommitGate } from '../../lambdas/core/lifecycle/commit-gate.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { newWorld, poolChunk, segmentTables, writeImage, type World } from './lifecycle-fixture.ts';

const HOUR_MS = 3_600_000;

async function segmentsOf(world: World, content: Map<number, number>): Promise<string[]> {
  const segments: string[] = [];
  for (const table of segmentTables(content)) segments.push((await world.images.putSegment(table)).hash);
  return segments;
}

describe('commit gate', () => {
  it('without a collection since the backup started: conditions on the fence epoch, no request', async () => {
    const world = newWorld();
    const gets = world.bucket.counters.gets + world.bucket.counters.rangeGets;
    const outcome = await passCommitGate(
      { coordination: world.coordination, objects: world.bucket },
      { volumeId: 'vol-1', imageId: 'img-1', backupStartedAt: world.clock.now().toISOString(), segments: [] },
    );
    expect(outcome.conditions).toEqual({ fenceEpoch: 0 });
    expect(outcome.verified).toBe(0);
    expect(world.bucket.counters.gets + world.bucket.counters.rangeGets).toBe(gets);
  });

  it('while a collection holds the fence: a RetryableError naming the run', async () => {
    const world = newWorld();
    world.coordination.fence = {
      epoch: 3,
      phase: 'collecting',
      runId: 'gc-7',
      startedAt: '2026-11-01T00:00:00.000Z',
    };
    const gate = passCommitGate(
      { coordination: world.coordination, objects: world.bucket },
      { volumeId: 'vol-1', imageId: 'img-1', backupStartedAt: world.clock.now().toISOString(), segments: [] },
    );
    await expect(gate).rejects.toThrow(RetryableError);
    await expect(gate).rejects.toThrow(
      'garbage collection gc-7 holds the fence since 2026-11-01T00:00:00.000Z; image img-1 commits when it ends',
    );
  });

  it('a release older than the backup start (beyond the skew margin) needs no verification', () => {
    const fence = { epoch: 2, phase: 'idle' as const, releasedAt: '2026-11-01T00:00:00.000Z' };
    expect(collectionOverlapped(fence, '2026-11-01T00:05:00.001Z')).toBe(false);
    expect(collectionOverlapped(fence, '2026-11-01T00:04:59.000Z')).toBe(true);
    expect(collectionOverlapped({ epoch: 2, phase: 'idle' }, '2026-11-01T01:00:00.000Z')).toBe(true);
  });

  it('after an overlapping collection: probes only what the live parent lacks, and names a missing chunk', async () => {
    const world = newWorld();
    const parentContent = new Map([
      [0, 1],
      [1, 2],
      [1024, 3],
    ]);
    const parent = await writeImage(world, 'vol-1', 'img-p', parentContent);
    const backupStartedAt = world.clock.now().toISOString();
    // The backup changes chunk 1 (chunk 4 is written, or found present) and keeps the rest.
    const content = new Map([
      [0, 1],
      [1, 4],
      [1024, 3],
    ]);
    await world.images.putChunk(specChunkName(poolChunk(4)), poolChunk(4));
    const segments = await segmentsOf(world, content);
    // A collection runs to its end meanwhile (chunk 4 is too recent for its cutoff).
    world.clock.advance(HOUR_MS);
    await runGc(
      {
        objects: world.bucket,
        records: world.records,
        coordination: world.coordination,
        checkpoints: world.checkpoints,
        clock: world.clock,
      },
      { runId: 'gc-1' },
    );
    const deps = { coordination: world.coordination, objects: world.bucket };
    const request = {
      volumeId: 'vol-1',
      imageId: 'img-2',
      backupStartedAt,
      segments,
      parent: {
        imageId: parent.imageId,
        createdAt: parent.createdAt,
        manifestKey: manifestKey('vol-1', 'img-p'),
      },
    };
    const before = { ...world.bucket.counters };
    const outcome = await passCommitGate(deps, request);
    // The first segment is new (read with its parent's), the second is the parent's; one chunk probed.
    expect(outcome).toMatchObject({
      conditions: { fenceEpoch: 1, liveParent: { imageId: 'img-p' } },
      verified: 2,
    });
    expect(world.bucket.counters.gets - before.gets).toBe(3); // parent manifest, new segment, parent segment
    expect(world.bucket.counters.rangeGets - before.rangeGets).toBe(1);

    const missing = chunkKey(specChunkName(poolChunk(4)));
    world.bucket.objects.delete(missing);
    const failed = passCommitGate(deps, request);
    await expect(failed).rejects.toThrow(NotFoundError);
    await expect(failed).rejects.toThrow(
      `image img-2: 1 object(s) it references were deleted by a garbage collection that ran during the backup (${missing}); nothing was committed, run the backup again`,
    );
  });
});
