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
import { NotFoundError } from '../../lambdas/core/errors.ts';
import type {
  CommitRecoveryPointDeps,
  ImageLiveness,
  RecoveryPoint,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { commitRecoveryPoint, imageRefKey } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { INJECTED_CRASH, crashingAt } from './image-deletion-crashes.ts';
import { committedPointImage } from './image-deletion-points.ts';
import { imageDeletionDeps, newWorld, type World } from './lifecycle-fixture.ts';

const VOLUMES = ['vol-a', 'vol-b'] as const;
/** Port calls of one deletion (six) or of a pending-deletion run over a few images: crash points beyond are no crash. */
const MAX_CRASH_CALL = 24;

/** A deletion of image `volume` of point or commit `target` (modulo their counts), or an expiry's finishing run. */
type Op =
  | { readonly kind: 'delete'; readonly target: number; readonly volume: number; readonly crashAt: number }
  | { readonly kind: 'finish'; readonly crashAt: number };

/** Deletions (four in five) and finishing runs, each crashing at a port call up to `maxCrashCall`. */
function opArb(maxCrashCall: number): fc.Arbitrary<Op> {
  const crashAt = fc.integer({ min: 1, max: maxCrashCall });
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('delete' as const),
        target: fc.nat(),
        volume: fc.integer({ min: 0, max: 1 }),
        crashAt,
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), crashAt }) },
  );
}

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
    const images = volumes.map((volumeId, d) =>
      committedPointImage(world, volumeId, n, d, createdAt, { serverId: 'srv' }),
    );
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
        fc.array(opArb(MAX_CRASH_CALL), { maxLength: 8 }),
        async (twoVolumes, ops) => {
          const { world, points, original } = setUp(twoVolumes);
          const deps = imageDeletionDeps(world, points);
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
                    const point = original[op.target % original.length]!;
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

/** Port calls of one commit (records, put, marks, liveness, detaches) or deletion: crash points beyond are no crash. */
const MAX_CONCURRENT_CRASH_CALL = 10;

/**
 * Wraps ports so that every method call first waits for the scheduler to release it (so concurrent
 * operations interleave at every port call, in an order fast-check chooses and shrinks), and call
 * number `crashAt` of this operation throws INJECTED_CRASH instead of running.
 */
function scheduledCrashingAt(
  s: fc.Scheduler,
  crashAt: number,
): <T extends object>(target: T, name: string) => T {
  let calls = 0;
  return (target, name) =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await s.schedule(Promise.resolve(), `${name}.${String(prop)}`);
          calls += 1;
          if (calls === crashAt) throw new Error(INJECTED_CRASH);
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
}

/** Liveness as the DynamoDB read answers it: a record that is not `deleting`. */
function worldLiveness(world: World): ImageLiveness {
  return {
    liveImages: (images) =>
      Promise.resolve(new Set(images.filter((i) => statusOf(world, i) === 'live').map(imageRefKey))),
  };
}

describe('commits racing deletions, interleaved at every port call, crash-injected', () => {
  it('no stored point names a deleted image and none is left without live images once every deletion and expiry finished', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            both: fc.boolean(),
            crashAt: fc.integer({ min: 1, max: 2 * MAX_CONCURRENT_CRASH_CALL }),
          }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        fc.array(opArb(MAX_CONCURRENT_CRASH_CALL), { minLength: 1, maxLength: 5 }),
        fc.scheduler(),
        async (commits, ops, s) => {
          const world = newWorld();
          let interleaving = true;
          const points = new MemoryRecoveryPointStore(() =>
            interleaving
              ? s.schedule(Promise.resolve(), 'points.detachImage (between mark and point)')
              : Promise.resolve(),
          );
          // Each commit's images are committed (records and manifests); its point is not yet written.
          const runs = commits.map(({ both }, n) => {
            const createdAt = new Date(world.clock.time + n * 3_600_000).toISOString();
            const volumeIds = both ? [...VOLUMES] : VOLUMES.slice(0, 1);
            volumeIds.forEach((volumeId, d) =>
              committedPointImage(world, volumeId, n, d, createdAt, { serverId: 'srv' }),
            );
            return {
              backupId: `bk-${n}`,
              volumeIds,
              imageIds: new Map(volumeIds.map((v) => [v, `i${n}-${v}`])),
            };
          });
          const commitDeps = (
            wrap: <T extends object>(target: T, name: string) => T,
          ): CommitRecoveryPointDeps => ({
            records: wrap(
              {
                getImageRecord: async (volumeId: string, imageId: string) =>
                  fullImageRecord(
                    volumeId,
                    imageId,
                    (await world.records.getImage(volumeId, imageId)).createdAt,
                  ),
              },
              'records',
            ),
            points: wrap(points, 'points'),
            devices: { devicesOf: () => Promise.resolve(new Map()) },
            liveness: wrap(worldLiveness(world), 'liveness'),
          });
          const deletionDeps = (
            wrap: <T extends object>(target: T, name: string) => T,
          ): ImageDeletionDeps => ({
            objects: wrap(world.bucket, 'objects'),
            records: wrap(world.records, 'records'),
            clock: world.clock,
            recoveryPoints: wrap(points, 'points'),
          });
          const commit = (n: number, wrap: <T extends object>(target: T, name: string) => T) =>
            commitRecoveryPoint(commitDeps(wrap), { ...runs[n]!, serverId: 'srv' }).then(
              () => 'committed' as const,
              (error: unknown) => {
                if (error instanceof NotFoundError) return 'refused' as const;
                expect((error as Error).message).toBe(INJECTED_CRASH);
                return 'crashed' as const;
              },
            );
          const commitOutcomes = commits.map(({ crashAt }, n) => commit(n, scheduledCrashingAt(s, crashAt)));
          const others = ops.map(async (op) => {
            const wrap = scheduledCrashingAt(s, op.crashAt);
            const run =
              op.kind === 'finish'
                ? finishPendingDeletions(deletionDeps(wrap))
                : (() => {
                    const target = runs[op.target % runs.length]!;
                    const volumeId = target.volumeIds[op.volume % target.volumeIds.length]!;
                    return deleteImage(deletionDeps(wrap), volumeId, target.imageIds.get(volumeId)!);
                  })();
            await run.catch((error: unknown) => expect((error as Error).message).toBe(INJECTED_CRASH));
          });
          const outcomes = await s.waitFor(Promise.all(commitOutcomes));
          await s.waitFor(Promise.all(others));
          interleaving = false;
          // Images whose deletion made its first change (a mark, or a record no longer live).
          const marked = new Set((await points.listDetached()).map(imageRefKey));
          const started = new Set(
            runs.flatMap((run) =>
              run.volumeIds
                .map((volumeId) => ({ volumeId, imageId: run.imageIds.get(volumeId)! }))
                .filter((ref) => marked.has(imageRefKey(ref)) || statusOf(world, ref) !== 'live')
                .map(imageRefKey),
            ),
          );
          // A crashed commit is retried (the state machine's retry or a redrive); then one expiry.
          const direct = <T extends object>(target: T): T => target;
          const committed = await Promise.all(
            outcomes.map(async (outcome, n) => (outcome === 'crashed' ? await commit(n, direct) : outcome)),
          );
          await finishPendingDeletions(deletionDeps(direct));

          expectPointsNameLiveImages(world, points);
          expect(await points.listDetached()).toEqual([]);
          const expected = runs.flatMap((run, n) => {
            if (committed[n] !== 'committed') return [];
            const images = run.volumeIds.filter((v) => !started.has(`${v}/${run.imageIds.get(v)!}`));
            return images.length === 0
              ? []
              : [{ id: `rp-${run.backupId}`, images: images.map((v) => run.imageIds.get(v)!) }];
          });
          expect(
            [...points.points.values()]
              .map((p) => ({ id: p.recoveryPointId, images: p.images.map((i) => i.imageId).sort() }))
              .sort((a, b) => (a.id < b.id ? -1 : 1)),
          ).toEqual(expected);
          for (const run of runs) {
            for (const [volumeId, imageId] of run.imageIds) {
              const ref = `${volumeId}/${imageId}`;
              expect(
                [
                  statusOf(world, { volumeId, imageId }),
                  world.bucket.objects.has(manifestKey(volumeId, imageId)),
                ],
                ref,
              ).toEqual(started.has(ref) ? ['gone', false] : ['live', true]);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
