/**
 * Property: for any interleaving of deletions interrupted at a random port call, legal holds and
 * Object Lock retentions set and lifted on the records, clock steps, and runs that finish pending
 * deletions (finishPendingDeletions, a daily collection's finishSomePendingDeletions with a random
 * budget, a volume's expiry with keepLast 1, a whole collection with runGc):
 * - no image whose record is live and under legal hold or Object Lock retention when a run starts
 *   loses its record (it stays live), its manifest or any object it references in that run;
 * - at the end, one finishPendingDeletions leaves no detached mark and no `deleting` record, and
 *   every record left is live with its manifest.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import {
  deleteImage,
  expireScope,
  finishPendingDeletions,
  finishSomePendingDeletions,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { crashingAt } from './image-deletion-crashes.ts';
import {
  imageDeletionDeps,
  newWorld,
  referencedKeys,
  writeImage,
  type VolumeContent,
} from './lifecycle-fixture.ts';

const HOUR = 3_600_000;

type Action =
  | { readonly kind: 'crash'; readonly image: number; readonly at: number }
  | { readonly kind: 'hold'; readonly image: number; readonly on: boolean }
  | { readonly kind: 'lock'; readonly image: number; readonly hours: number }
  | { readonly kind: 'advance'; readonly hours: number }
  | { readonly kind: 'run'; readonly how: 'pending' | 'some' | 'expiry' | 'gc'; readonly budget: number };

/**
 * deleteImage with recovery points makes six port calls: 1..6 interrupt one of them. 3 (before
 * markDeleting) leaves the state this is about, a live record with a detached mark: drawn more often.
 */
const crashAtArb = fc.oneof(
  { arbitrary: fc.constant(3), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 1 },
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('crash' as const), image: fc.nat(3), at: crashAtArb }),
  // Holds are set more often than lifted.
  fc.record({
    kind: fc.constant('hold' as const),
    image: fc.nat(3),
    on: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.boolean(), weight: 1 }),
  }),
  // 0: a retention that has already ended.
  fc.record({ kind: fc.constant('lock' as const), image: fc.nat(3), hours: fc.integer({ min: 0, max: 48 }) }),
  fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 24 }) }),
  fc.record({
    kind: fc.constant('run' as const),
    how: fc.constantFrom('pending' as const, 'some' as const, 'expiry' as const, 'gc' as const),
    budget: fc.integer({ min: 1, max: 3 }),
  }),
);

/** Image n: on vol-(n % 2), chunk 0 from a pool of 4 (images share chunks), chunk 1 its own. */
function contentOf(n: number): VolumeContent {
  return new Map([
    [0, 1 + (n % 4)],
    [1, 10 + n],
  ]);
}

describe('interrupted deletions and legal holds', () => {
  it('no image under hold or lock when a run starts loses its record, manifest or objects', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.array(actionArb, { minLength: 1, maxLength: 14 }),
        async (count, actions) => {
          const world = newWorld();
          const points = new MemoryRecoveryPointStore();
          const refs: { volumeId: string; imageId: string; content: VolumeContent }[] = [];
          for (let n = 0; n < count; n += 1) {
            const volumeId = `vol-${n % 2}`;
            const imageId = `i${n}`;
            const image = await writeImage(world, volumeId, imageId, contentOf(n), {
              serverId: `srv-${n % 2}`,
            });
            await points.put({
              version: 1,
              recoveryPointId: `rp-${imageId}`,
              serverId: `srv-${n % 2}`,
              backupId: imageId,
              createdAt: image.createdAt,
              images: [{ volumeId, device: 'disk0', imageId, snapshotId: `snap-${imageId}`, kind: 'full' }],
            });
            refs.push({ volumeId, imageId, content: contentOf(n) });
            world.clock.advance(HOUR);
          }
          const deletion = imageDeletionDeps(world, points);
          const record = (n: number): LifecycleImage | undefined =>
            world.records.images.get(`${refs[n]!.volumeId}/${refs[n]!.imageId}`);
          let runs = 0;
          for (const action of actions) {
            const n = 'image' in action ? action.image % count : 0;
            const ref = refs[n]!;
            if (action.kind === 'crash') {
              const crash = crashingAt(action.at);
              // Refused (held or locked), interrupted, or (fewer calls than `at`) complete.
              await deleteImage(
                {
                  ...deletion,
                  objects: crash(world.bucket),
                  records: crash(world.records),
                  recoveryPoints: crash(points),
                },
                ref.volumeId,
                ref.imageId,
              ).catch(() => undefined);
            } else if (action.kind === 'hold') {
              const image = record(n);
              if (image !== undefined) world.records.put({ ...image, legalHold: action.on });
            } else if (action.kind === 'lock') {
              const image = record(n);
              const lockedUntil = new Date(world.clock.time + action.hours * HOUR).toISOString();
              if (image !== undefined) world.records.put({ ...image, lockedUntil });
            } else if (action.kind === 'advance') {
              world.clock.advance(action.hours * HOUR);
            } else {
              const now = world.clock.time;
              const kept = refs.filter((_, m) => {
                const image = record(m);
                return (
                  image?.status === 'live' &&
                  (image.legalHold === true ||
                    (image.lockedUntil !== undefined && Date.parse(image.lockedUntil) > now))
                );
              });
              runs += 1;
              if (action.how === 'pending') await finishPendingDeletions(deletion);
              else if (action.how === 'some')
                await finishSomePendingDeletions(deletion, action.budget, action.budget);
              else if (action.how === 'expiry')
                await expireScope(
                  deletion,
                  { volume: ref.volumeId },
                  { keepLast: 1 },
                  { timeZone: 'UTC' },
                  false,
                );
              else {
                // Past the collector's safety margin: anything no live image references may go.
                world.clock.advance(2 * HOUR);
                const gc = await runGc(
                  { ...world, objects: world.bucket, deletions: deletion },
                  { runId: `gc-${runs}` },
                );
                expect(gc.status).toBe('complete');
              }
              for (const k of kept) {
                const key = `${k.volumeId}/${k.imageId}`;
                expect(world.records.images.get(key)?.status, key).toBe('live');
                for (const object of referencedKeys(k.volumeId, k.imageId, k.content))
                  expect(world.bucket.objects.has(object), `${key}: ${object}`).toBe(true);
              }
            }
          }
          expect((await finishPendingDeletions(deletion)).failed).toEqual([]);
          expect(await points.listDetached()).toEqual([]);
          for (const image of world.records.images.values()) {
            expect(image.status).toBe('live');
            expect(world.bucket.objects.has(image.manifestKey)).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
