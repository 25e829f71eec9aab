/**
 * The expiry after a plan run deletes only what that plan made: images whose recovery point's
 * trigger is `plan:<plan>`. Another plan's images, manual and API backups, images without a point
 * (a run that failed part-way) and points written before points recorded their trigger are left
 * alone and counted as `leftAlone`; an explicit `retention apply --server` still applies to them.
 * A fast-check property: plan A's expiry never deletes an image whose trigger is not `plan:A`, and
 * deletes exactly the plan's images its rules do not keep.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyRetentionRequest,
  expireAfterPlanRun,
  type RetentionApplyDeps,
} from '../../lambdas/core/lifecycle/retention-apply.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { newWorld, recordOf, writeImage, type World } from './lifecycle-fixture.ts';
import { fileImagePoint } from './plan-points.ts';

const HOUR = 3_600_000;

/** A trigger of a point, `undefined` for a point written before points recorded it, `null` for no point. */
type Made = string | undefined | null;

function depsOf(world: World, points: MemoryRecoveryPointStore, keepLast: number): RetentionApplyDeps {
  return {
    objects: world.bucket,
    records: world.records,
    clock: world.clock,
    recoveryPoints: points,
    plans: () => Promise.resolve({ servers: ['srv-1'], rules: { keepLast } }),
  };
}

describe('the expiry after a plan run keeps to the plan’s own images', () => {
  it('hourly keepLast 2 deletes only its own oldest image, not the monthly plan’s, a manual or an older backup', async () => {
    const world = newWorld();
    const points = new MemoryRecoveryPointStore();
    const made: [string, Made][] = [
      ['monthly-nov', 'plan:monthly'],
      ['manual-pre-upgrade', 'api:arn:aws:iam::123456789012:user/ops'],
      ['before-triggers', undefined],
      ['hourly-1', 'plan:hourly'],
      ['hourly-2', 'plan:hourly'],
      ['hourly-3', 'plan:hourly'],
    ];
    for (const [n, [imageId, trigger]] of made.entries()) {
      const image = await writeImage(world, 'vol-a', imageId, new Map([[0, n + 1]]), {
        serverId: 'srv-1',
        source: 'replica',
      });
      if (trigger !== null) fileImagePoint(points, image, trigger);
      world.clock.advance(HOUR);
    }
    const result = await expireAfterPlanRun(depsOf(world, points, 2), { plan: 'hourly', planRunId: 'pr-1' });
    expect(result).toEqual({
      plan: 'hourly',
      planRunId: 'pr-1',
      servers: [{ serverId: 'srv-1', rules: 'plan', kept: 2, deleted: 1, notDeleted: [] }],
      deleted: ['vol-a/hourly-1'],
      leftAlone: 3,
    });
    expect([...world.records.images.keys()].sort()).toEqual([
      'vol-a/before-triggers',
      'vol-a/hourly-2',
      'vol-a/hourly-3',
      'vol-a/manual-pre-upgrade',
      'vol-a/monthly-nov',
    ]);
    expect([...points.points.keys()].sort()).toEqual([
      'rp-before-triggers',
      'rp-hourly-2',
      'rp-hourly-3',
      'rp-manual-pre-upgrade',
      'rp-monthly-nov',
    ]);

    // The monthly plan's own expiry (keepLast 2) has one image of its own: nothing to delete.
    const monthly = await expireAfterPlanRun(depsOf(world, points, 2), { plan: 'monthly' });
    expect(monthly).toEqual({
      plan: 'monthly',
      servers: [{ serverId: 'srv-1', rules: 'plan', kept: 1, deleted: 0, notDeleted: [] }],
      deleted: [],
      leftAlone: 4,
    });

    // An explicit retention apply of the server applies its rules to every image, whoever made it.
    const explicit = await applyRetentionRequest(depsOf(world, points, 2), {
      scope: { server: 'srv-1' },
      rules: { keepLast: 2 },
      dryRun: false,
    });
    expect(explicit.images.filter((i) => i.outcome === 'deleted').map((i) => i.imageId)).toEqual([
      'before-triggers',
      'manual-pre-upgrade',
      'monthly-nov',
    ]);
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/hourly-2', 'vol-a/hourly-3']);
  });

  it('without a recovery point store nothing is the plan’s: everything is left alone', async () => {
    const world = newWorld();
    for (const imageId of ['hourly-1', 'hourly-2']) {
      await writeImage(world, 'vol-a', imageId, new Map([[0, 1]]), { serverId: 'srv-1' });
      world.clock.advance(HOUR);
    }
    const { recoveryPoints: _none, ...deps } = depsOf(world, new MemoryRecoveryPointStore(), 1);
    expect(await expireAfterPlanRun(deps, { plan: 'hourly' })).toEqual({
      plan: 'hourly',
      servers: [{ serverId: 'srv-1', rules: 'plan', kept: 0, deleted: 0, notDeleted: [] }],
      deleted: [],
      leftAlone: 2,
    });
    expect(world.records.images.size).toBe(2);
  });

  it('plan A’s expiry never deletes an image whose trigger is not plan:A, and deletes exactly A’s images beyond keepLast (property)', async () => {
    const madeArb = fc.constantFrom<Made>(
      'plan:A',
      'plan:B',
      'plan:AA',
      'schedule:A',
      'manual',
      'api:arn:aws:iam::123456789012:user/ops',
      undefined,
      null,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ made: madeArb, volume: fc.constantFrom('vol-a', 'vol-b') }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 1, max: 3 }),
        async (specs, keepLast) => {
          const world = newWorld();
          const points = new MemoryRecoveryPointStore();
          const images: { image: LifecycleImage; made: Made }[] = [];
          for (const [n, spec] of specs.entries()) {
            const createdAt = new Date(world.clock.time + n * HOUR).toISOString();
            const image = recordOf(world, spec.volume, `i${n}`, createdAt, 'f'.repeat(64), {
              serverId: 'srv-1',
            });
            world.records.put(image);
            world.bucket.setRaw(image.manifestKey, new Uint8Array([n]));
            if (spec.made !== null) fileImagePoint(points, image, spec.made);
            images.push({ image, made: spec.made });
          }
          world.clock.time += 10 * 24 * HOUR;
          const result = await expireAfterPlanRun(depsOf(world, points, keepLast), { plan: 'A' });
          const ref = (image: LifecycleImage) => `${image.volumeId}/${image.imageId}`;
          const made = new Map(images.map(({ image, made: m }) => [ref(image), m]));
          for (const deleted of result.deleted) expect(made.get(deleted), deleted).toBe('plan:A');
          for (const { image, made: m } of images) {
            if (m !== 'plan:A') expect(world.records.images.has(ref(image)), ref(image)).toBe(true);
          }
          const ofA = images.filter(({ made: m }) => m === 'plan:A').map(({ image }) => ref(image));
          // Newest kept: the first images of A (oldest) are the ones deleted.
          expect([...result.deleted].sort()).toEqual(ofA.slice(0, Math.max(0, ofA.length - keepLast)).sort());
          expect(result.leftAlone ?? 0).toBe(images.length - ofA.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
