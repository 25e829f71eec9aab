/**
 * A legal hold never loses a race with a deletion. deleteImage reads the record, checks it, detaches
 * the image from its recovery point and then marks the record deleting; a hold written between the
 * read and the mark used to go unseen. The mark is now conditional on the record not being held
 * (one atomic write in DynamoDB; the fake applies the same rule), so a hold that lands in that gap
 * refuses the deletion exactly as a hold read up front would, and a hold that comes after the mark
 * is refused itself (`deleting`). Never both: a hold that was written is on an image that stays.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abandonedDeletionReason,
  deleteImage,
  finishPendingDeletions,
  ImageDeletionRefusedError,
  type ImageDeletionDeps,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import type {
  LegalHoldWrite,
  LifecycleImage,
  LifecycleImageRecords,
} from '../../lambdas/core/lifecycle/ports.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import type { MemoryLifecycleRecords } from '../fakes/memory-lifecycle.ts';
import { crashingAt, recordingCalls } from './image-deletion-crashes.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import {
  expectRestores,
  imageDeletionDeps,
  newWorld,
  referencedKeys,
  writeImage,
} from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const A1: VolumeContent = new Map([
  [0, 1],
  [1, 2],
]);
const HELD = 'image a1 of vol-a is under legal hold; not deleted';
const HOLD = {
  legalHold: true,
  reason: 'case 4711',
  changedAt: '2026-04-01T03:00:00.000Z',
  changedBy: 'arn:aws:iam::123456789012:user/legal',
};

/** The records port's calls a hold can land before, in deleteImage's order. */
const GAPS = ['getImage', 'markDeleting', 'deleteImage'] as const;
type Gap = (typeof GAPS)[number];

/**
 * `records` with a legal hold on vol-a/a1 written just before the first call of `before` (what an
 * operator's PUT /images/a1/legal-hold does when it lands there); its answer goes to `writes`.
 */
function holdingBefore(
  records: MemoryLifecycleRecords,
  before: Gap,
  writes: LegalHoldWrite[],
): LifecycleImageRecords {
  let held = false;
  return new Proxy(records, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (property === before && !held) {
          held = true;
          writes.push(await target.setLegalHold('vol-a', 'a1', HOLD));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

interface Fleet {
  world: World;
  points: MemoryRecoveryPointStore;
  deletion: ImageDeletionDeps;
  a1: LifecycleImage;
}

async function fleet(): Promise<Fleet> {
  const world = newWorld();
  const points = new MemoryRecoveryPointStore();
  const a1 = await writeImage(world, 'vol-a', 'a1', A1, { serverId: 'srv-1' });
  const point: RecoveryPoint = {
    version: 1,
    recoveryPointId: 'rp-a1',
    serverId: 'srv-1',
    backupId: 'a1',
    createdAt: a1.createdAt,
    images: [{ volumeId: 'vol-a', device: 'disk0', imageId: 'a1', snapshotId: 'snap-a1', kind: 'full' }],
  };
  await points.put(point);
  world.clock.advance(3 * HOUR);
  return { world, points, deletion: imageDeletionDeps(world, points), a1 };
}

/** a1 is whole and held: its record live with the hold, every object it references, and it restores. */
async function expectKeptHeld({ world, a1 }: Fleet): Promise<void> {
  expect(world.records.images.get('vol-a/a1')).toEqual({ ...a1, legalHold: true, status: 'live' });
  for (const key of referencedKeys('vol-a', 'a1', A1)) expect(world.bucket.objects.has(key), key).toBe(true);
  await expectRestores(world, a1, A1);
}

describe('a legal hold written while an image is being deleted', () => {
  it('between the read and the mark: the deletion is refused as a hold read up front is, nothing deleted', async () => {
    const f = await fleet();
    const writes: LegalHoldWrite[] = [];
    const calls: string[] = [];
    const spy = recordingCalls(calls);
    const records = spy(holdingBefore(f.world.records, 'markDeleting', writes), 'records');
    const deletion = deleteImage(
      { ...f.deletion, records, objects: spy(f.world.bucket, 'objects') },
      'vol-a',
      'a1',
    );
    await expect(deletion).rejects.toBeInstanceOf(ImageDeletionRefusedError);
    await expect(deletion).rejects.toThrow(HELD);
    expect(await deletion.catch((error: ImageDeletionRefusedError) => error.context)).toEqual({
      volumeId: 'vol-a',
      imageId: 'a1',
      legalHold: true,
      lockedUntil: undefined,
    });
    expect(writes).toEqual(['changed']);
    // Read, refused at the mark: no object and no record deleted.
    expect(calls).toEqual(['records.getImage', 'records.markDeleting']);
    await expectKeptHeld(f);
    expect(f.world.records.holdDetails.get('vol-a/a1')).toEqual({
      reason: 'case 4711',
      changedAt: HOLD.changedAt,
      changedBy: HOLD.changedBy,
    });
    // It had left its recovery point (step 2 comes before the mark): the next pending pass keeps
    // it, says why, and forgets its detached mark.
    expect(await f.points.listDetached()).toEqual([{ volumeId: 'vol-a', imageId: 'a1' }]);
    expect(await finishPendingDeletions(f.deletion)).toEqual({
      finished: 0,
      stillLocked: [],
      failed: [],
      kept: [{ volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(HELD) }],
    });
    expect(await f.points.listDetached()).toEqual([]);
    await expectKeptHeld(f);
  });

  it('while a pending deletion is finished: the image is kept (an outcome, not a failure)', async () => {
    const f = await fleet();
    // A deletion interrupted after its detach: record live, detached mark left.
    const crash = crashingAt(3);
    await expect(
      deleteImage(
        {
          ...f.deletion,
          objects: crash(f.world.bucket),
          records: crash(f.world.records),
          recoveryPoints: crash(f.points),
        },
        'vol-a',
        'a1',
      ),
    ).rejects.toThrow('injected crash');
    const writes: LegalHoldWrite[] = [];
    const records = holdingBefore(f.world.records, 'markDeleting', writes);
    expect(await finishPendingDeletions({ ...f.deletion, records })).toEqual({
      finished: 0,
      stillLocked: [],
      failed: [],
      kept: [{ volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(HELD) }],
    });
    expect(writes).toEqual(['changed']);
    expect(await f.points.listDetached()).toEqual([]);
    await expectKeptHeld(f);
  });

  it('wherever the hold lands, a hold written means the image stays, and a hold refused means it went', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...GAPS), fc.boolean(), async (gap, pending) => {
        const f = await fleet();
        if (pending) {
          const crash = crashingAt(3);
          await expect(
            deleteImage(
              { ...f.deletion, records: crash(f.world.records), recoveryPoints: crash(f.points) },
              'vol-a',
              'a1',
            ),
          ).rejects.toThrow('injected crash');
        }
        const writes: LegalHoldWrite[] = [];
        const deps = { ...f.deletion, records: holdingBefore(f.world.records, gap, writes) };
        const outcome = pending
          ? finishPendingDeletions(deps)
          : deleteImage(deps, 'vol-a', 'a1').catch((error: unknown) => error);
        const result = await outcome;
        if (gap === 'deleteImage') {
          // After the mark: the hold is refused, the deletion finishes.
          expect(writes).toEqual(['deleting']);
          expect(f.world.records.images.has('vol-a/a1')).toBe(false);
          expect(result).toEqual(
            pending
              ? { finished: 1, stillLocked: [], failed: [] }
              : { status: 'deleted', volumeId: 'vol-a', imageId: 'a1' },
          );
        } else {
          expect(writes).toEqual(['changed']);
          await expectKeptHeld(f);
          if (pending) {
            expect(result).toEqual({
              finished: 0,
              stillLocked: [],
              failed: [],
              kept: [{ volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(HELD) }],
            });
          } else {
            expect(result).toBeInstanceOf(ImageDeletionRefusedError);
            expect((result as Error).message).toBe(HELD);
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});
