/**
 * The daily collection finishes image deletions a crash left unfinished on any volume, including a
 * volume no plan covers and to which nobody applies retention (before, only an expiry finished
 * them: a scoped `retention apply` its own volumes', the expiry after a plan run the fleet's).
 * Its deletions step (right after it takes the collection fence) goes through image deletion's own
 * path, at most a budget of deletions per run; the rest wait for the next run. A live image of the same volume and its recovery point are left
 * whole and restore byte for byte; what the finished deletion held is collected in the same run.
 */
import { describe, expect, it } from 'vitest';
import { chunkKey, manifestKey } from '../../lambdas/core/image/image-types.ts';
import type { GcDeps } from '../../lambdas/core/lifecycle/gc.ts';
import {
  gcCheckpointSchema,
  heldCollectionRun,
  runGc,
  ZERO_COUNTERS,
} from '../../lambdas/core/lifecycle/gc.ts';
import {
  runLifecycleJob,
  startGcRun,
  type LifecycleJobEvent,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';
import { deleteImage, type ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import {
  crashingDeletion,
  detachFailingFor,
  recordingDeletion,
  withMethod,
} from './image-deletion-crashes.ts';
import { A1, A2, pointedFleet, type PointedFleet } from './image-deletion-points.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { expectRestores, poolChunk } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const B1: VolumeContent = new Map([[0, 4]]);
const C1: VolumeContent = new Map([[0, 5]]);

/**
 * vol-a (srv-1): a1 and a2, each its own point; vol-b (srv-2): b1; vol-c (srv-3): c1. Three
 * deletions are interrupted, one at each kind of unfinished state image-deletion.ts names: a1
 * after its detach (its record still live, its point gone), b1 after its manifest (its record
 * `deleting`), c1 after its record (only the detached mark left).
 */
async function interruptedFleet(): Promise<PointedFleet> {
  const { world, points, deletion } = await pointedFleet([
    ['vol-a', 'a1', A1, 'srv-1'],
    ['vol-a', 'a2', A2, 'srv-1'],
    ['vol-b', 'b1', B1, 'srv-2'],
    ['vol-c', 'c1', C1, 'srv-3'],
  ]);
  // deleteImage's port calls: getImage, detachImage, markDeleting, deleteObjects, deleteImage, clearDetached.
  for (const [volumeId, imageId, crashAt] of [
    ['vol-a', 'a1', 3],
    ['vol-b', 'b1', 5],
    ['vol-c', 'c1', 6],
  ] as const) {
    await expect(deleteImage(crashingDeletion(deletion, crashAt), volumeId, imageId)).rejects.toThrow(
      'injected crash',
    );
  }
  // Past the collector's safety margin, so what the finished deletions held may be swept.
  world.clock.advance(2 * HOUR);
  return { world, points, deletion };
}

/**
 * The port calls that finish one unfinished deletion whose record is still there (live or
 * `deleting`): deleteImage's own steps, the record read (and a live one checked for a legal hold or
 * Object Lock retention) before it is marked deleting; a record already `deleting` is not marked again.
 */
const FINISHED_DELETION_CALLS = [
  'records.getImage',
  'points.detachImage',
  'records.markDeleting',
  'objects.deleteObjects',
  'records.deleteImage',
  'points.clearDetached',
];

function gcDeps(world: World, deletion?: ImageDeletionDeps): GcDeps {
  return { ...world, objects: world.bucket, ...(deletion === undefined ? {} : { deletions: deletion }) };
}

describe('the daily collection finishes unfinished image deletions', () => {
  it('the three kinds of unfinished state, as they stand before the collection', async () => {
    const { world, points } = await interruptedFleet();
    // a1: live record (listed and restorable), no point names it; b1: deleting record, no
    // manifest; c1: a mark only. Nothing applies retention to these volumes, so they stay.
    expect(
      [...world.records.images.values()].map((i) => `${i.volumeId}/${i.imageId} ${i.status}`).sort(),
    ).toEqual(['vol-a/a1 live', 'vol-a/a2 live', 'vol-b/b1 deleting']);
    expect(await points.listDetached()).toEqual([
      { volumeId: 'vol-a', imageId: 'a1' },
      { volumeId: 'vol-b', imageId: 'b1' },
      { volumeId: 'vol-c', imageId: 'c1' },
    ]);
    expect([...points.points.keys()].sort()).toEqual(['rp-a2']);
    expect(world.bucket.objects.has(manifestKey('vol-a', 'a1'))).toBe(true);
    expect(world.bucket.objects.has(manifestKey('vol-b', 'b1'))).toBe(false);
  });

  it('its first step finishes every volume’s, with exactly these requests; a2 is untouched and restores', async () => {
    const { world, points, deletion } = await interruptedFleet();
    const calls: string[] = [];
    const spied = recordingDeletion(deletion, calls);
    // Step 1 takes the fence, step 2 finishes the deletions.
    const first = await runGc(gcDeps(world, spied), { runId: 'daily-1', maxSteps: 2 });
    expect(first.phase).toBe('mark');
    expect(first.counters).toMatchObject({ deletionsFinished: 3, deletionsFailed: 0, deletionsLeft: 0 });
    expect(calls).toEqual([
      'points.listDetached',
      // a1: detached, record live: the deletion's own steps.
      ...FINISHED_DELETION_CALLS,
      // b1: detached, record deleting (its manifest already gone: the delete is idempotent).
      ...FINISHED_DELETION_CALLS.filter((call) => call !== 'records.markDeleting'),
      // c1: detached, no record: only the mark is forgotten.
      'records.getImage',
      'points.clearDetached',
      // No other deleting record in the fleet.
      'records.listImages',
    ]);
    expect([...world.records.images.keys()]).toEqual(['vol-a/a2']);
    expect(await points.listDetached()).toEqual([]);
    expect([...points.points.keys()]).toEqual(['rp-a2']);
    expect(world.bucket.objects.has(manifestKey('vol-a', 'a1'))).toBe(false);
    expect(world.bucket.objects.has(manifestKey('vol-a', 'a2'))).toBe(true);
  });

  it('the run then collects what the finished deletions held, and nothing a2 needs', async () => {
    const { world, deletion } = await interruptedFleet();
    const a2 = world.records.images.get('vol-a/a2')!;
    const result = await runGc(gcDeps(world, deletion), { runId: 'daily-1' });
    expect(result.status).toBe('complete');
    const chunk = (n: number) => chunkKey(specChunkName(poolChunk(n)));
    // a1's own chunk (2), b1's (4) and c1's (5) are collected; a2's (1 shared with a1, 3) stay.
    expect([2, 4, 5].map((n) => world.bucket.objects.has(chunk(n)))).toEqual([false, false, false]);
    expect([1, 3].map((n) => world.bucket.objects.has(chunk(n)))).toEqual([true, true]);
    expect(result.counters).toMatchObject({ imagesMarked: 1, manifestsDeleted: 0, deletionsFinished: 3 });
    await expectRestores(world, a2, A2);
  });

  it('at most the budget per run, in key order (marks first); the next run finishes the rest', async () => {
    const { world, points, deletion } = await interruptedFleet();
    const first = await runGc(gcDeps(world, deletion), { runId: 'daily-1', deletionsPerRun: 2 });
    expect(first.counters).toMatchObject({ deletionsFinished: 2, deletionsFailed: 0, deletionsLeft: 1 });
    expect(await points.listDetached()).toEqual([{ volumeId: 'vol-c', imageId: 'c1' }]);
    expect([...world.records.images.keys()]).toEqual(['vol-a/a2']);
    world.clock.advance(24 * HOUR);
    const second = await runGc(gcDeps(world, deletion), { runId: 'daily-2', deletionsPerRun: 2 });
    expect(second.counters).toMatchObject({ deletionsFinished: 1, deletionsFailed: 0, deletionsLeft: 0 });
    expect(await points.listDetached()).toEqual([]);
  });

  it('a deletion that fails again is counted and named in the run, the others are finished', async () => {
    const { world, points, deletion } = await interruptedFleet();
    const reason = 'recovery point store unavailable';
    const failing = detachFailingFor(points, 'b1', new Error(reason));
    const checkpoints = world.checkpoints;
    const result = await runGc(gcDeps(world, { ...deletion, recoveryPoints: failing }), {
      runId: 'daily-1',
      maxSteps: 2,
    });
    expect(result.counters).toMatchObject({ deletionsFinished: 2, deletionsFailed: 1, deletionsLeft: 0 });
    expect((await checkpoints.load('daily-1'))?.deletionFailures).toEqual([
      { volumeId: 'vol-b', imageId: 'b1', reason },
    ]);
    expect(world.records.images.get('vol-b/b1')?.status).toBe('deleting');
  });

  it('a dry run and a collection without deletion deps leave them as they are', async () => {
    for (const [deps, options] of [
      [(w: World, d: ImageDeletionDeps) => gcDeps(w, d), { dryRun: true }],
      [(w: World) => gcDeps(w), {}],
    ] as const) {
      const { world, points, deletion } = await interruptedFleet();
      const result = await runGc(deps(world, deletion), { runId: 'daily-1', ...options });
      expect(result.counters).toMatchObject({ deletionsFinished: 0, deletionsFailed: 0, deletionsLeft: 0 });
      expect((await points.listDetached()).length).toBe(3);
      expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a1', 'vol-a/a2', 'vol-b/b1']);
    }
  });

  it('they run under the fence: `rbp gc run` meanwhile resumes the daily run instead of starting a second', async () => {
    const { world, points, deletion } = await interruptedFleet();
    const jobs = new MemoryJobStore('run');
    const launched: LifecycleJobEvent[] = [];
    const start = {
      jobs,
      clock: world.clock,
      newRunId: (kind: string) => `${kind}-manual`,
      coordination: world.coordination,
      launcher: {
        launch: (event: LifecycleJobEvent) => {
          launched.push(event);
          return Promise.resolve();
        },
      },
    };
    // An operator starts a collection while the daily one lists the unfinished deletions.
    const during: { fence: unknown; started?: string }[] = [];
    const watched = withMethod(points, 'listDetached', async () => {
      const fence = await world.coordination.getFence();
      const started = await startGcRun(start, { dryRun: false });
      during.push({ fence: { phase: fence.phase, runId: fence.runId }, started: started.runId });
      return points.listDetached();
    });
    const run = lifecycleRunDeps(world, jobs, {
      gc: gcDeps(world, { ...deletion, recoveryPoints: watched }),
    });
    const outcome = await runLifecycleJob(
      run,
      { kind: 'gc', dryRun: false },
      Number.MAX_SAFE_INTEGER,
      'inv-1',
    );
    expect(during).toEqual([{ fence: { phase: 'collecting', runId: 'gc-inv-1' }, started: 'gc-inv-1' }]);
    expect(launched).toEqual([{ kind: 'gc', runId: 'gc-inv-1' }]);
    expect(outcome.run).toMatchObject({ runId: 'gc-inv-1', status: 'complete' });
    expect((await jobs.get('gc-inv-1')).status).toBe('SUCCEEDED');
    await expect(jobs.get('gc-manual')).rejects.toThrow();
    expect(outcome.run.status === 'complete' && (await points.listDetached())).toEqual([]);
  });

  it('a run saved in phase `deletions` before the fence came first takes the fence, then finishes them', async () => {
    const { world, points, deletion } = await interruptedFleet();
    // What the earlier release saved after creating the run: phase `deletions`, no fence, no cutoff.
    await world.checkpoints.save(
      gcCheckpointSchema.parse({
        runId: 'daily-1',
        dryRun: false,
        phase: 'deletions',
        nextShard: 0,
        counters: ZERO_COUNTERS,
        unreadable: [],
      }),
    );
    const first = await runGc(gcDeps(world, deletion), { runId: 'daily-1', maxSteps: 1 });
    expect(first.phase).toBe('deletions');
    expect(await heldCollectionRun(world.coordination)).toBe('daily-1');
    expect((await points.listDetached()).length).toBe(3);
    const fenceEpoch = (await world.checkpoints.load('daily-1'))?.fenceEpoch;
    expect(fenceEpoch).toBe(1);
    const result = await runGc(gcDeps(world, deletion), { runId: 'daily-1' });
    expect(result.status).toBe('complete');
    expect(result.counters).toMatchObject({ deletionsFinished: 3, deletionsFailed: 0, deletionsLeft: 0 });
    expect(await points.listDetached()).toEqual([]);
    expect(await world.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });
  });

  it('a step of the deletions that fails as a whole is recorded, and the collection goes on', async () => {
    /** A proxy of `target` whose `method` rejects with `reason` on its first call only. */
    const failingOnce = <T extends object>(target: T, method: string, reason: string): T => {
      let failed = false;
      return new Proxy(target, {
        get(obj, prop) {
          const value: unknown = Reflect.get(obj, prop, obj);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (prop === method && !failed) {
              failed = true;
              return Promise.reject(new Error(reason));
            }
            return (value as (...a: unknown[]) => unknown).apply(obj, args);
          };
        },
      });
    };
    for (const [step, port, method, left] of [
      // No marks: only b1, the `deleting` record, is finished.
      ['list detached marks', 'points', 'listDetached', ['vol-a/a1', 'vol-a/a2']],
      // The marks are finished (all three have one); the records' listing is not needed for them.
      ['list deleting records', 'records', 'listImages', ['vol-a/a2']],
      // Everything finished; the catalogs are pruned by the next deletion or expiry.
      ['prune catalogs', 'records', 'listVolume', ['vol-a/a2']],
    ] as const) {
      const { world, points, deletion } = await interruptedFleet();
      const reason = `${method} unavailable`;
      const deps: ImageDeletionDeps = {
        ...deletion,
        // pruneCatalogs runs with a catalog only, and reads the volume's records before it
        // touches the catalog.
        ...(method === 'listVolume' ? { catalog: {} as never } : {}),
        ...(port === 'points'
          ? { recoveryPoints: failingOnce(points, method, reason) }
          : { records: failingOnce(world.records, method, reason) }),
      };
      const result = await runGc(gcDeps(world, deps), { runId: 'daily-1' });
      expect(result.status, step).toBe('complete');
      expect(result.counters.deletionStepsFailed, step).toBe(1);
      expect((await world.checkpoints.load('daily-1'))?.deletionStepFailures, step).toEqual([
        { step, reason },
      ]);
      expect([...world.records.images.keys()].sort(), step).toEqual(left);
    }
  });
});
