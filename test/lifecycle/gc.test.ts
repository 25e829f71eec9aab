import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../lambdas/core/errors.ts';
import { chunkKey, manifestKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import type { GcDeps, GcOptions } from '../../lambdas/core/lifecycle/gc.ts';
import { heldCollectionRun, runGc } from '../../lambdas/core/lifecycle/gc.ts';
import { deleteImage } from '../../lambdas/core/lifecycle/image-deletion.ts';
import { retainUntilForGeneration } from '../../lambdas/core/lifecycle/object-lock.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { cloneWorld, expectRestores, newWorld, referencedKeys, writeImage } from './lifecycle-fixture.ts';
import { crashingAt } from './image-deletion-crashes.ts';

const HOUR = 3_600_000;

/** The world's ports as the collector takes them (its records, fence, checkpoints, clock, lock). */
function deps(world: World): GcDeps {
  return { ...world, objects: world.bucket };
}

const contents: Record<string, VolumeContent> = {
  a1: new Map([
    [0, 1],
    [1, 2],
    [1023, 3],
    [1024, 4],
  ]),
  a2: new Map([
    [0, 1],
    [1, 5],
    [1023, 3],
    [1024, 4],
  ]),
  a3: new Map([
    [0, 6],
    [1, 5],
    [1023, 3],
    [2047, 7],
  ]),
  a4: new Map([
    [0, 6],
    [2, 8],
    [1023, 3],
    [2047, 7],
  ]),
  b1: new Map([
    [0, 1],
    [1024, 9],
  ]),
};

/** Four images of vol-a and one of vol-b sharing content, then a1 and a2 deleted. */
async function fourBackupsTwoDeleted(world: World): Promise<Map<string, LifecycleImage>> {
  const images = new Map<string, LifecycleImage>();
  for (const id of ['a1', 'a2', 'a3', 'a4']) {
    images.set(id, await writeImage(world, 'vol-a', id, contents[id]!));
    world.clock.advance(HOUR);
  }
  images.set('b1', await writeImage(world, 'vol-b', 'b1', contents.b1!));
  for (const id of ['a1', 'a2']) {
    await deleteImage({ objects: world.bucket, records: world.records, clock: world.clock }, 'vol-a', id);
    images.delete(id);
  }
  world.clock.advance(2 * HOUR);
  return images;
}

function expectedKeys(images: Map<string, LifecycleImage>): Set<string> {
  const keys = new Set<string>();
  for (const [id, image] of images)
    for (const key of referencedKeys(image.volumeId, id, contents[id]!)) keys.add(key);
  return keys;
}

describe('garbage collection', () => {
  it('leaves exactly the chunks and segments live images reference; they restore byte for byte', async () => {
    const world = newWorld();
    const images = await fourBackupsTwoDeleted(world);
    const before = world.bucket.keys('');
    const result = await runGc(deps(world), { runId: 'run-1' });
    const expected = expectedKeys(images);
    expect(new Set(world.bucket.keys(''))).toEqual(expected);
    // Only a1 and a2 referenced chunks 2 and 4 (1 is still b1's): those two go, with a1's and a2's segments.
    const gone = before.filter((k) => !expected.has(k));
    expect(gone.filter((k) => k.startsWith('chunks/'))).toHaveLength(2);
    expect(result).toMatchObject({
      status: 'complete',
      chunksLive: [...expected].filter((k) => k.startsWith('chunks/')).length,
      chunksDeleted: 2,
      segmentsDeleted: gone.filter((k) => k.startsWith('segments/')).length,
    });
    expect(result.bytesFreed).toBeGreaterThan(500_000);
    expect(result.counters.imagesMarked).toBe(3);
    expect(world.coordination.fence).toEqual({
      epoch: 1,
      phase: 'idle',
      releasedAt: world.clock.now().toISOString(),
    });
    for (const [id, image] of images) await expectRestores(world, image, contents[id]!);
  });

  it('time-sliced runs equal one run; a second run deletes nothing more', async () => {
    const sliced = newWorld();
    const images = await fourBackupsTwoDeleted(sliced);
    for (let slice = 0; ; slice += 1) {
      const result = await runGc(deps(sliced), {
        runId: 'sliced',
        maxSteps: 3,
        namesPerShard: 2,
        deleteBatchKeys: 2,
      });
      if (result.status === 'complete') break;
      expect(slice).toBeLessThan(100);
    }
    expect(new Set(sliced.bucket.keys(''))).toEqual(expectedKeys(images));
    const again = await runGc(deps(sliced), { runId: 'again' });
    expect(again).toMatchObject({ chunksDeleted: 0, segmentsDeleted: 0, bytesFreed: 0 });
    expect(new Set(sliced.bucket.keys(''))).toEqual(expectedKeys(images));
  });

  it('a dry run deletes nothing, takes no fence and reports what a real run deletes', async () => {
    const world = newWorld();
    await fourBackupsTwoDeleted(world);
    const before = world.bucket.keys('');
    const dry = await runGc(deps(world), { runId: 'dry-1', dryRun: true });
    expect(world.bucket.keys('')).toEqual(before);
    expect(world.coordination.fence).toEqual({ epoch: 0, phase: 'idle' });
    const real = await runGc(deps(world), { runId: 'real-1' });
    expect(dry.status).toBe('dry-run');
    expect({ ...dry, status: 'x', runId: 'x' }).toEqual({ ...real, status: 'x', runId: 'x' });
  });

  it('memory is per shard: tiny shards, runs and batches give the same result', async () => {
    const world = newWorld();
    const images = await fourBackupsTwoDeleted(world);
    const options: GcOptions = { runId: 'small', namesPerShard: 2, spillRunNames: 3, deleteBatchKeys: 2 };
    const result = await runGc(deps(world), options);
    expect(new Set(world.bucket.keys(''))).toEqual(expectedKeys(images));
    expect(result.chunksDeleted).toBe(2);
    const saved = world.checkpoints.saved.get('small')!;
    expect(saved.shardCount).toBeGreaterThan(1);
  });

  it('never deletes objects newer than the cutoff (a running backup wrote them)', async () => {
    const world = newWorld();
    await writeImage(world, 'vol-a', 'a1', contents.a1!);
    world.clock.advance(2 * HOUR);
    // A backup that started 30 minutes ago wrote chunks and has no record yet.
    await world.coordination.putLease({
      backupId: 'b-run',
      startedAt: new Date(world.clock.time - HOUR / 2).toISOString(),
      epoch: 0,
      phase: 'idle',
    });
    const orphan = await world.images.putChunk('f'.repeat(64), Buffer.alloc(1_048_576, 7));
    expect(orphan.result).toBe('created');
    world.clock.advance(HOUR);
    const result = await runGc(deps(world), { runId: 'r' });
    expect(world.bucket.objects.has(chunkKey('f'.repeat(64)))).toBe(true);
    expect(result.counters.skippedRecent).toBe(1);
    await world.coordination.deleteLease('b-run');
    world.clock.advance(3 * HOUR);
    await runGc(deps(world), { runId: 'r2' });
    expect(world.bucket.objects.has(chunkKey('f'.repeat(64)))).toBe(false);
  });

  it('deletes manifests that no record names (a commit that never finished), not others', async () => {
    const world = newWorld();
    const image = await writeImage(world, 'vol-a', 'a1', contents.a1!);
    world.records.images.delete('vol-a/a1');
    world.clock.advance(2 * HOUR);
    const result = await runGc(deps(world), { runId: 'r' });
    expect(world.bucket.objects.has(image.manifestKey)).toBe(false);
    expect(world.bucket.keys('')).toEqual([]);
    expect(result.counters.manifestsDeleted).toBe(1);
  });

  it('one collection at a time; a crashed run resumes under its own id', async () => {
    const world = newWorld();
    await fourBackupsTwoDeleted(world);
    const first = await runGc(deps(world), { runId: 'one', maxSteps: 2 });
    expect(first.status).toBe('running');
    const refused = await runGc(deps(world), { runId: 'two' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({
      message: 'garbage collection one holds the fence; one collection at a time (resume it with its run id)',
      context: { runId: 'two', running: 'one' },
    });
    expect(await heldCollectionRun(world.coordination)).toBe('one');
    expect((await runGc(deps(world), { runId: 'one' })).status).toBe('complete');
    expect(await heldCollectionRun(world.coordination)).toBeUndefined();
  });

  it('a crash at every step: the next run finishes with the same bucket', async () => {
    const reference = newWorld();
    await fourBackupsTwoDeleted(reference);
    await runGc(deps(reference), { runId: 'ref', namesPerShard: 3, spillRunNames: 4, deleteBatchKeys: 2 });
    const finalKeys = reference.bucket.keys('');
    const start = newWorld();
    await fourBackupsTwoDeleted(start);
    let crashes = 0;
    for (let crashAt = 1; ; crashAt += 1) {
      const world = cloneWorld(start);
      const crashing = crashAfter(deps(world), crashAt);
      const options: GcOptions = { runId: 'x', namesPerShard: 3, spillRunNames: 4, deleteBatchKeys: 2 };
      try {
        await runGc(crashing.deps, options);
        break; // no crash left to inject: every step has been interrupted once
      } catch (error) {
        expect((error as Error).message).toBe('injected crash');
        crashes += 1;
      }
      const result = await runGc(deps(world), options);
      expect(result.status).toBe('complete');
      expect(world.bucket.keys('')).toEqual(finalKeys);
      expect(world.coordination.fence.phase).toBe('idle');
    }
    expect(crashes).toBeGreaterThan(60); // every port call of the run (73 here)
  });
});

/** Wraps every port so that call number `n` (counting all ports) throws before it runs. */
function crashAfter(inner: GcDeps, n: number): { deps: GcDeps } {
  const wrap = crashingAt(n);
  return {
    deps: {
      ...inner,
      objects: wrap(inner.objects),
      records: wrap(inner.records),
      coordination: wrap(inner.coordination),
      checkpoints: wrap(inner.checkpoints),
      scratch: wrap(inner.scratch!),
    },
  };
}

describe('garbage collection with Object Lock', () => {
  const lock = { mode: 'COMPLIANCE' as const, retentionDays: 3, generationDays: 1 };

  it('locked garbage is reported, not deleted; live objects are re-locked once per generation', async () => {
    const world = newWorld(lock);
    await writeImage(world, 'vol-a', 'a1', contents.a1!);
    world.clock.advance(HOUR);
    const a2 = await writeImage(world, 'vol-a', 'a2', contents.a2!);
    world.records.images.delete('vol-a/a1'); // as if deleted (its manifest stays locked)
    world.clock.advance(2 * HOUR);
    const first = await runGc(deps(world), { runId: 'g1' });
    expect(first.chunksDeleted).toBe(0);
    expect(first.counters.lockedNotDeleted).toBeGreaterThan(0);
    const live = referencedKeys('vol-a', 'a2', contents.a2!);
    const liveData = [...live].filter((k) => k !== a2.manifestKey);
    expect(first.counters.retentionExtended).toBe(liveData.length);
    const generation = Math.floor(world.clock.time / 86_400_000);
    for (const key of liveData) {
      expect(world.bucket.objects.get(key)!.retainUntil).toEqual(retainUntilForGeneration(generation, lock));
    }
    expect(world.coordination.fence.lockedGeneration).toBe(generation);
    // Same generation: nothing re-locked.
    const second = await runGc(deps(world), { runId: 'g2' });
    expect(second.counters.retentionExtended).toBe(0);
    // Five days later the garbage's lock has expired: it goes; live objects are re-locked.
    world.clock.advance(5 * 86_400_000);
    const third = await runGc(deps(world), { runId: 'g3' });
    expect(third.chunksDeleted).toBe(1);
    expect(third.counters.retentionExtended).toBe(liveData.length);
    expect(new Set(world.bucket.keys(''))).toEqual(live);
    await expectRestores(world, a2, contents.a2!);
    expect(world.bucket.objects.has(manifestKey('vol-a', 'a1'))).toBe(false);
    expect(world.bucket.objects.has(segmentKey('0'.repeat(64)))).toBe(false);
  });
});
