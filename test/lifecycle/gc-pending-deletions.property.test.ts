/**
 * Property: for random fleets (volumes, images sharing chunks, each image its own recovery point),
 * deletions interrupted at a random port call (or not interrupted, or never started), and a random
 * per-run budget, the daily collections that follow, with no expiry and no retention apply at all:
 * - never touch an image whose deletion did not start: its record stays live, its recovery point
 *   whole, every object it references present, after every run;
 * - attempt at most the budget per run, and finish the backlog in exactly ceil(started / budget)
 *   runs (one when there is none);
 * - leave, at the end, no detached mark, no record and no manifest of any image whose deletion
 *   started, and no point naming one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import { deleteImage } from '../../lambdas/core/lifecycle/image-deletion.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { crashingDeletion } from './image-deletion-crashes.ts';
import {
  imageDeletionDeps,
  newWorld,
  referencedKeys,
  writeImage,
  type VolumeContent,
} from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
/** deleteImage with recovery points makes six port calls: 1..6 interrupt one, 7 lets it finish. */
const NO_CRASH = 7;

/** One image: its content (chunk index → pool chunk, from a small pool so images share chunks) and its deletion. */
interface ImagePlan {
  readonly content: VolumeContent;
  /** undefined: never deleted; 1..6: interrupted at that call; 7: deleted completely. */
  readonly crashAt: number | undefined;
}

const imageArb: fc.Arbitrary<ImagePlan> = fc.record({
  content: fc
    .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 6 })), {
      minLength: 1,
      maxLength: 3,
      selector: ([index]) => index,
    })
    .map((pairs) => new Map(pairs)),
  crashAt: fc.option(fc.integer({ min: 1, max: NO_CRASH }), { nil: undefined }),
});

describe('daily collections finish interrupted deletions without an expiry', () => {
  it('touch no image whose deletion did not start, stay within the budget, and finish the backlog', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(imageArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (volumes, budget) => {
          const world = newWorld();
          const points = new MemoryRecoveryPointStore();
          const plans: { volumeId: string; imageId: string; plan: ImagePlan }[] = [];
          for (const [v, images] of volumes.entries()) {
            for (const [n, plan] of images.entries()) {
              const volumeId = `vol-${v}`;
              const imageId = `i${n}`;
              const image = await writeImage(world, volumeId, imageId, plan.content, {
                serverId: `srv-${v}`,
              });
              await points.put({
                version: 1,
                recoveryPointId: `rp-${volumeId}-${imageId}`,
                serverId: `srv-${v}`,
                backupId: `${volumeId}-${imageId}`,
                createdAt: image.createdAt,
                images: [{ volumeId, device: 'disk0', imageId, snapshotId: `snap-${imageId}`, kind: 'full' }],
              });
              plans.push({ volumeId, imageId, plan });
              world.clock.advance(HOUR);
            }
          }
          const deletion = imageDeletionDeps(world, points);
          for (const { volumeId, imageId, plan } of plans) {
            if (plan.crashAt === undefined) continue;
            await deleteImage(crashingDeletion(deletion, plan.crashAt), volumeId, imageId).catch(
              (error: unknown) => expect((error as Error).message).toBe('injected crash'),
            );
          }
          const ref = (p: { volumeId: string; imageId: string }) => `${p.volumeId}/${p.imageId}`;
          const marked = new Set((await points.listDetached()).map(ref));
          const started = plans.filter(
            (p) => marked.has(ref(p)) || world.records.images.get(ref(p))?.status === 'deleting',
          );
          const untouched = plans.filter(
            (p) => !marked.has(ref(p)) && world.records.images.get(ref(p))?.status === 'live',
          );
          const kept = new Set(
            untouched.flatMap((p) => [...referencedKeys(p.volumeId, p.imageId, p.plan.content)]),
          );
          world.clock.advance(2 * HOUR);

          const expectedRuns = Math.max(1, Math.ceil(started.length / budget));
          let runs = 0;
          let left = Number.POSITIVE_INFINITY;
          while (left > 0 || runs === 0) {
            runs += 1;
            const result = await runGc(
              { ...world, objects: world.bucket, deletions: deletion },
              { runId: `daily-${runs}`, deletionsPerRun: budget },
            );
            expect(result.status).toBe('complete');
            expect(result.counters.deletionsFailed).toBe(0);
            expect(result.counters.deletionsFinished).toBe(
              Math.min(budget, started.length - (runs - 1) * budget),
            );
            left = result.counters.deletionsLeft;
            for (const p of untouched) {
              expect(world.records.images.get(ref(p))?.status).toBe('live');
              expect((await points.get(`rp-${p.volumeId}-${p.imageId}`)).images).toHaveLength(1);
            }
            for (const key of kept) expect(world.bucket.objects.has(key), key).toBe(true);
            world.clock.advance(24 * HOUR);
            expect(runs).toBeLessThanOrEqual(expectedRuns);
          }
          expect(runs).toBe(expectedRuns);
          expect(await points.listDetached()).toEqual([]);
          for (const p of plans.filter((q) => !untouched.includes(q))) {
            expect(world.records.images.has(ref(p))).toBe(false);
            expect(world.bucket.objects.has(manifestKey(p.volumeId, p.imageId))).toBe(false);
          }
          expect([...points.points.keys()].sort()).toEqual(
            untouched.map((p) => `rp-${p.volumeId}-${p.imageId}`).sort(),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});
