/**
 * Property: for random recovery points (one or two volumes each) and random sequences of image
 * deletions and pending-deletion runs, each interrupted by a crash at a random port call (or not),
 * no stored recovery point ever names an image whose record is gone or deleting; and after a final
 * uninterrupted expiry, every deletion that got past its first change is complete (record and
 * manifest gone, no detached mark), every other image is untouched, and every recovery point is
 * exactly its original images that remain (removed when none remains).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { deleteImage, finishPendingDeletions } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { INJECTED_CRASH, crashingAt } from './image-deletion-crashes.ts';
import { newWorld, recordOf, type World } from './lifecycle-fixture.ts';

const VOLUMES = ['vol-a', 'vol-b'] as const;
/** Port calls of one deletion (six) or of a pending-deletion run over a few images: crash points beyond are no crash. */
const MAX_CRASH_CALL = 24;

type Op =
  | { readonly kind: 'delete'; readonly point: number; readonly volume: number; readonly crashAt: number }
  | { readonly kind: 'finish'; readonly crashAt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      point: fc.nat(),
      volume: fc.integer({ min: 0, max: 1 }),
      crashAt: fc.integer({ min: 1, max: MAX_CRASH_CALL }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      crashAt: fc.integer({ min: 1, max: MAX_CRASH_CALL }),
    }),
  },
);

/** Points 0..n-1, each of one volume (`vol-a`) or both; image `i<point>-<volume>`. */
function setUp(twoVolumes: readonly boolean[]): {
  world: World;
  points: MemoryRecoveryPointStore;
  original: RecoveryPoint[];
} {
  const world = newWorld();
  const points = new MemoryRecoveryPointStore();
  const original = twoVolumes.map((both, n): RecoveryPoint => {
    const createdAt = new Date(world.clock.time + n * 3_600_000).toISOString();
    const volumes = both ? VOLUMES : VOLUMES.slice(0, 1);
    const images = volumes.map((volumeId, d) => {
      const record = recordOf(world, volumeId, `i${n}-${volumeId}`, createdAt, 'f'.repeat(64), {
        serverId: 'srv',
      });
      world.records.put(record);
      world.bucket.setRaw(record.manifestKey, new Uint8Array([n]));
      return {
        volumeId,
        device: `disk${d}`,
        imageId: record.imageId,
        snapshotId: `snap-${n}-${d}`,
        kind: 'full' as const,
      };
    });
    return { version: 1, recoveryPointId: `rp-${n}`, serverId: 'srv', backupId: `${n}`, createdAt, images };
  });
  for (const point of original) points.points.set(point.recoveryPointId, structuredClone(point));
  return { world, points, original };
}

function statusOf(world: World, ref: { volumeId: string; imageId: string }): string {
  return world.records.images.get(`${ref.volumeId}/${ref.imageId}`)?.status ?? 'gone';
}

function expectPointsNameLiveImages(world: World, points: MemoryRecoveryPointStore): void {
  for (const point of points.points.values()) {
    for (const image of point.images) {
      expect(statusOf(world, image), `${point.recoveryPointId} names ${image.imageId}`).toBe('live');
    }
  }
}

describe('image deletion with recovery points, crash-injected', () => {
  it('never lists a point naming a gone or deleting image; the next expiry finishes every started deletion', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
        fc.array(opArb, { maxLength: 8 }),
        async (twoVolumes, ops) => {
          const { world, points, original } = setUp(twoVolumes);
          const deps: ImageDeletionDeps = {
            objects: world.bucket,
            records: world.records,
            clock: world.clock,
            recoveryPoints: points,
          };
          /** Images whose deletion made its first change (detached or marked): they must end deleted. */
          const started = new Set<string>();
          for (const op of ops) {
            const crash = crashingAt(op.crashAt);
            const crashing: ImageDeletionDeps = {
              ...deps,
              objects: crash(world.bucket),
              records: crash(world.records),
              recoveryPoints: crash(points),
            };
            const run =
              op.kind === 'finish'
                ? finishPendingDeletions(crashing)
                : (() => {
                    const point = original[op.point % original.length]!;
                    const image = point.images[op.volume % point.images.length]!;
                    return deleteImage(crashing, image.volumeId, image.imageId);
                  })();
            await run.catch((error: unknown) => expect((error as Error).message).toBe(INJECTED_CRASH));
            expectPointsNameLiveImages(world, points);
            for (const ref of await points.listDetached()) started.add(`${ref.volumeId}/${ref.imageId}`);
            for (const point of original) {
              for (const image of point.images) {
                if (statusOf(world, image) !== 'live') started.add(`${image.volumeId}/${image.imageId}`);
              }
            }
          }
          await finishPendingDeletions(deps);
          expectPointsNameLiveImages(world, points);
          expect(await points.listDetached()).toEqual([]);
          const expected = original.flatMap((point) => {
            const images = point.images.filter((i) => !started.has(`${i.volumeId}/${i.imageId}`));
            return images.length === 0 ? [] : [{ ...point, images }];
          });
          expect(
            [...points.points.values()].sort((a, b) => (a.recoveryPointId < b.recoveryPointId ? -1 : 1)),
          ).toEqual(expected);
          for (const point of original) {
            for (const image of point.images) {
              const ref = `${image.volumeId}/${image.imageId}`;
              const key = manifestKey(image.volumeId, image.imageId);
              expect([statusOf(world, image), world.bucket.objects.has(key)], ref).toEqual(
                started.has(ref) ? ['gone', false] : ['live', true],
              );
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
