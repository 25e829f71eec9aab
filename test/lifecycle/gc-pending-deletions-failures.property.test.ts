/**
 * Property: deletions that keep failing do not starve the others. For random fleets of unfinished
 * deletions (each interrupted at a random step that leaves its record), a random subset of them
 * failing on every attempt (no more than the run's failure allowance), a random budget and a
 * random allowance, the daily collections that follow:
 * - finish every deletion that does not fail within ceil(n / budget) runs, n being the number of
 *   those deletions (so within ceil(all / budget) too), exactly `budget` of them per run until
 *   they are done;
 * - attempt at most budget + allowance deletions per run, and report only failing ones as failed,
 *   each once, with its reason.
 * Before, a failure counted against the budget and candidates were tried in key order, so failing
 * deletions ahead of the others in key order took the whole budget every day.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import { deleteImage } from '../../lambdas/core/lifecycle/image-deletion.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { crashingDeletion } from './image-deletion-crashes.ts';
import { imageDeletionDeps, newWorld, writeImage } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const REASON = 'record unreadable';

/** One unfinished deletion: where it was interrupted (3..5 all leave the record) and whether it keeps failing. */
interface Pending {
  readonly crashAt: 3 | 4 | 5;
  readonly failing: boolean;
}

describe('daily collections with deletions that keep failing', () => {
  it('finish every other deletion within ceil(n / budget) runs, at most budget + allowance attempts each', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ crashAt: fc.constantFrom(3 as const, 4 as const, 5 as const), failing: fc.boolean() }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        async (generated: Pending[], budget, allowance) => {
          // At most `allowance` failing ones: the ones past it are made to succeed.
          let failingSeen = 0;
          const pending = generated.map((p) => ({
            ...p,
            failing: p.failing && (failingSeen += 1) <= allowance,
          }));
          const world = newWorld();
          const points = new MemoryRecoveryPointStore();
          const refs: string[] = [];
          for (const n of pending.keys()) {
            const volumeId = `vol-${n % 3}`;
            const imageId = `i${n}`;
            const image = await writeImage(world, volumeId, imageId, new Map([[0, (n % 5) + 1]]));
            await points.put({
              version: 1,
              recoveryPointId: `rp-${imageId}`,
              serverId: `srv-${n % 3}`,
              backupId: imageId,
              createdAt: image.createdAt,
              images: [{ volumeId, device: 'disk0', imageId, snapshotId: `snap-${imageId}`, kind: 'full' }],
            });
            refs.push(`${volumeId}/${imageId}`);
            world.clock.advance(HOUR);
          }
          const deletion = imageDeletionDeps(world, points);
          for (const [n, p] of pending.entries()) {
            const [volumeId, imageId] = refs[n]!.split('/') as [string, string];
            await expect(
              deleteImage(crashingDeletion(deletion, p.crashAt), volumeId, imageId),
            ).rejects.toThrow('injected crash');
          }
          const failingRefs = new Set(refs.filter((_, n) => pending[n]!.failing));
          // A failing deletion fails on its first read of the record, in every run.
          let attempts = 0;
          const records = new Proxy(world.records, {
            get(target, prop) {
              const value: unknown = Reflect.get(target, prop, target);
              if (typeof value !== 'function') return value;
              return (...args: unknown[]) => {
                if (prop === 'getImage' && failingRefs.has(`${String(args[0])}/${String(args[1])}`))
                  return Promise.reject(new Error(REASON));
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
          const counted = new Proxy(points, {
            get(target, prop) {
              const value: unknown = Reflect.get(target, prop, target);
              if (typeof value !== 'function') return value;
              return (...args: unknown[]) => {
                if (prop === 'listDetached') attempts = 0;
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
          // Every unfinished deletion here has a detached mark and a record: an attempt is one markDeleting.
          const attemptCounting = new Proxy(records, {
            get(target, prop) {
              const value: unknown = Reflect.get(target, prop, target);
              if (typeof value !== 'function') return value;
              return (...args: unknown[]) => {
                if (prop === 'markDeleting') attempts += 1;
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
          world.clock.advance(2 * HOUR);

          const good = refs.filter((ref) => !failingRefs.has(ref));
          const runsAllowed = Math.ceil(good.length / budget);
          expect(runsAllowed).toBeLessThanOrEqual(Math.ceil(refs.length / budget));
          const goodLeft = () => good.filter((ref) => world.records.images.has(ref)).length;
          for (let run = 1; run <= Math.max(1, runsAllowed); run += 1) {
            const before = goodLeft();
            const result = await runGc(
              {
                ...world,
                objects: world.bucket,
                deletions: { ...deletion, records: attemptCounting, recoveryPoints: counted },
              },
              { runId: `daily-${run}`, deletionsPerRun: budget, deletionFailuresPerRun: allowance },
            );
            expect(result.status).toBe('complete');
            expect(attempts).toBeLessThanOrEqual(budget + allowance);
            expect(result.counters.deletionsFinished).toBe(Math.min(budget, before));
            expect(goodLeft()).toBe(before - Math.min(budget, before));
            // The failures reported are failing deletions, each with its reason, each once.
            const checkpoint = await world.checkpoints.load(`daily-${run}`);
            const reported = (checkpoint?.deletionFailures ?? []).map((f) => `${f.volumeId}/${f.imageId}`);
            expect(new Set(reported).size).toBe(reported.length);
            expect(reported.every((ref) => failingRefs.has(ref))).toBe(true);
            expect((checkpoint?.deletionFailures ?? []).every((f) => f.reason === REASON)).toBe(true);
            expect(result.counters.deletionsFailed).toBe(reported.length);
            world.clock.advance(24 * HOUR);
          }
          expect(goodLeft()).toBe(0);
          for (const ref of failingRefs) expect(world.records.images.has(ref)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});
