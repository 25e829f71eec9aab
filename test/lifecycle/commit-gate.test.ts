/**
 * The commit gate (lambdas/core/lifecycle/commit-gate.ts) on the in-memory bucket: what a backup's
 * commit does next to the collection fence, with exact request counts.
 */
import { describe, expect, it } from 'vitest';
import { CollectionInProgressError, NotFoundError } from '../../lambdas/core/errors.ts';
import { chunkKey, manifestKey } from '../../lambdas/core/image/image-types.ts';
import {
  COLLECTION_WAIT_ATTEMPTS,
  COLLECTION_WAIT_INTERVAL_SECONDS,
  COLLECTION_WAIT_SECONDS,
  collectionOverlapped,
  FENCE_HELD_ALARM_SECONDS,
  fenceHeldSeconds,
  passCommitGate,
} from '../../lambdas/core/lifecycle/commit-gate.ts';
import { DEFAULT_LOCK_TTL_SECONDS } from '../../lambdas/core/orchestration/backup-request.ts';
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

  it('while a collection holds the fence: a CollectionInProgressError naming the image, the run and its start', async () => {
    const world = newWorld();
    world.coordination.fence = {
      epoch: 3,
      phase: 'collecting',
      runId: 'gc-7',
      startedAt: '2026-11-01T00:00:00.000Z',
    };
    const error = await passCommitGate(
      { coordination: world.coordination, objects: world.bucket },
      { volumeId: 'vol-1', imageId: 'img-1', backupStartedAt: world.clock.now().toISOString(), segments: [] },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectionInProgressError);
    const waiting = error as CollectionInProgressError;
    // Its class name is the Step Functions error name Commit Image's first retrier matches.
    expect(waiting.name).toBe('CollectionInProgressError');
    expect(waiting.retryable).toBe(true);
    expect(waiting.message).toBe(
      'image img-1 waits for garbage collection gc-7 (started at 2026-11-01T00:00:00.000Z) to finish before it commits',
    );
    expect(waiting.fenceStartedAt).toBe('2026-11-01T00:00:00.000Z');
    expect(waiting.context).toEqual({
      imageId: 'img-1',
      runId: 'gc-7',
      fenceStartedAt: '2026-11-01T00:00:00.000Z',
      volumeId: 'vol-1',
      epoch: 3,
    });
    expect(world.bucket.counters.gets + world.bucket.counters.rangeGets).toBe(0);
  });

  it('a fence without its run or start still names the image', async () => {
    const world = newWorld();
    world.coordination.fence = { epoch: 1, phase: 'collecting' };
    await expect(
      passCommitGate(
        { coordination: world.coordination, objects: world.bucket },
        {
          volumeId: 'vol-1',
          imageId: 'img-2',
          backupStartedAt: world.clock.now().toISOString(),
          segments: [],
        },
      ),
    ).rejects.toThrow(new CollectionInProgressError('img-2', undefined, undefined).message);
    expect(new CollectionInProgressError('img-2', undefined, undefined).message).toBe(
      'image img-2 waits for garbage collection (unknown run) (started at an unknown time) to finish before it commits',
    );
  });

  it('fenceHeldSeconds: whole seconds since the fence was taken, 0 when idle, unknown or in the future', () => {
    const now = new Date('2026-11-01T02:00:01.999Z');
    const startedAt = '2026-11-01T00:00:00.000Z';
    expect(fenceHeldSeconds({ phase: 'collecting', startedAt }, now)).toBe(7201);
    expect(fenceHeldSeconds({ phase: 'idle', startedAt }, now)).toBe(0);
    expect(fenceHeldSeconds({ phase: 'collecting' }, now)).toBe(0);
    expect(fenceHeldSeconds({ phase: 'collecting', startedAt: '2026-11-01T02:00:05.000Z' }, now)).toBe(0);
  });

  it('a commit waits for a collection every minute for two hours, as long as the fence may be held before its alarm', () => {
    expect(COLLECTION_WAIT_INTERVAL_SECONDS).toBe(60);
    expect(COLLECTION_WAIT_SECONDS).toBe(7200);
    expect(COLLECTION_WAIT_ATTEMPTS).toBe(120);
    expect(COLLECTION_WAIT_ATTEMPTS * COLLECTION_WAIT_INTERVAL_SECONDS).toBe(COLLECTION_WAIT_SECONDS);
    expect(FENCE_HELD_ALARM_SECONDS).toBe(COLLECTION_WAIT_SECONDS);
    // Renew Lock extends the lock just before Commit Image: the default lifetime covers the wait.
    expect(DEFAULT_LOCK_TTL_SECONDS).toBeGreaterThan(COLLECTION_WAIT_SECONDS);
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
