/**
 * An interrupted deletion is finished only if the image may still be deleted. A crash after step 2
 * of image-deletion.ts leaves the image detached from its recovery point with its record live; a
 * legal hold set (or an Object Lock retention extended) on it before the next expiry or daily
 * collection must keep it: the record is read again before it is marked deleting, and a refused
 * one is kept (its deletion abandoned, its detached mark forgotten, reported with the reason),
 * never deleted, never retried. A record already `deleting` is no longer listed or restorable and
 * its deletion goes on.
 */
import { describe, expect, it } from 'vitest';
import { chunkKey, manifestKey } from '../../lambdas/core/image/image-types.ts';
import {
  abandonedDeletionReason,
  deleteImage,
  expireScope,
  finishPendingDeletions,
  finishSomePendingDeletions,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import { crashingDeletion, recordingDeletion, withMethod } from './image-deletion-crashes.ts';
import { A1, A2, pointedFleet, type PointedFleet } from './image-deletion-points.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { expectRestores, poolChunk, referencedKeys } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** c1 has chunk 4 (a1 and a2: image-deletion-points.ts). */
const C1: VolumeContent = new Map([[0, 4]]);
const HELD = 'image a1 of vol-a is under legal hold';

interface Fleet extends PointedFleet {
  readonly a1: LifecycleImage;
}

/**
 * vol-a (srv-1): a1, a2; vol-c (srv-3): c1; each its own recovery point. a1's deletion (and c1's
 * with `alsoC1`) crashes at deleteImage's third port call (getImage, detachImage, then markDeleting):
 * its record is live, its point gone, its detached mark left.
 */
async function crashedAfterDetach(alsoC1 = false): Promise<Fleet> {
  const { world, points, deletion, written } = await pointedFleet([
    ['vol-a', 'a1', A1, 'srv-1'],
    ['vol-a', 'a2', A2, 'srv-1'],
    ['vol-c', 'c1', C1, 'srv-3'],
  ]);
  for (const [volumeId, imageId] of [['vol-a', 'a1'], ...(alsoC1 ? [['vol-c', 'c1']] : [])] as const) {
    await expect(deleteImage(crashingDeletion(deletion, 3), volumeId, imageId)).rejects.toThrow(
      'injected crash',
    );
  }
  // Past the collector's safety margin, so a collection may sweep what nothing live references.
  world.clock.advance(2 * HOUR);
  return { world, points, deletion, a1: written.get('a1')! };
}

/** A legal hold (or a later lockedUntil) on a record, written straight into the fake's item. */
function hold(world: World, volumeId: string, imageId: string, change: Partial<LifecycleImage>): void {
  world.records.put({ ...world.records.images.get(`${volumeId}/${imageId}`)!, ...change });
}

/** a1 is whole: its record live and held, its manifest and every chunk and segment, and it restores. */
async function expectA1Kept(
  world: World,
  a1: LifecycleImage,
  change: Partial<LifecycleImage>,
): Promise<void> {
  expect(world.records.images.get('vol-a/a1')).toEqual({ ...a1, ...change, status: 'live' });
  for (const key of referencedKeys('vol-a', 'a1', A1)) expect(world.bucket.objects.has(key), key).toBe(true);
  await expectRestores(world, a1, A1);
}

describe('a legal hold set on an image whose deletion was interrupted is respected', () => {
  it('before the hold: a1 is live and listed, in no recovery point, and its detached mark waits', async () => {
    const { world, points } = await crashedAfterDetach();
    expect((await world.records.listVolume('vol-a')).map((i) => `${i.imageId} ${i.status}`)).toEqual([
      'a1 live',
      'a2 live',
    ]);
    expect(await points.listDetached()).toEqual([{ volumeId: 'vol-a', imageId: 'a1' }]);
    expect([...points.points.keys()].sort()).toEqual(['rp-a2', 'rp-c1']);
  });

  it('finishPendingDeletions keeps it, says why, forgets its mark, and the next run does not try again', async () => {
    const { world, points, deletion, a1 } = await crashedAfterDetach();
    hold(world, 'vol-a', 'a1', { legalHold: true });
    const calls: string[] = [];
    const spied = recordingDeletion(deletion, calls);
    expect(await finishPendingDeletions(spied)).toEqual({
      finished: 0,
      stillLocked: [],
      failed: [],
      kept: [
        {
          volumeId: 'vol-a',
          imageId: 'a1',
          reason: `${HELD}; not deleted; its interrupted deletion is abandoned: the image stays live and restorable by id, in no recovery point`,
        },
      ],
    });
    // The record is read, the hold refuses it, the mark goes: never marked deleting, nothing deleted.
    expect(calls).toEqual([
      'points.listDetached',
      'records.getImage',
      'points.clearDetached',
      'records.listImages',
    ]);
    await expectA1Kept(world, a1, { legalHold: true });
    expect(await points.listDetached()).toEqual([]);
    expect([...points.points.keys()].sort()).toEqual(['rp-a2', 'rp-c1']);

    calls.length = 0;
    expect(await finishPendingDeletions(spied)).toEqual({ finished: 0, stillLocked: [], failed: [] });
    expect(calls).toEqual(['points.listDetached', 'records.listImages']);
    await expectA1Kept(world, a1, { legalHold: true });
  });

  it('the daily collection keeps it (deletionsKept, deletionsKept list) and collects none of its objects', async () => {
    const { world, points, deletion, a1 } = await crashedAfterDetach(true);
    hold(world, 'vol-a', 'a1', { legalHold: true });
    const result = await runGc(
      { ...world, objects: world.bucket, deletions: deletion },
      { runId: 'daily-1' },
    );
    expect(result.status).toBe('complete');
    expect(result.counters).toMatchObject({
      deletionsFinished: 1,
      deletionsKept: 1,
      deletionsFailed: 0,
      deletionsLeft: 0,
      deletionStepsFailed: 0,
      imagesMarked: 2,
    });
    const checkpoint = await world.checkpoints.load('daily-1');
    expect(checkpoint?.deletionsKept).toEqual([
      { volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(`${HELD}; not deleted`) },
    ]);
    expect(checkpoint?.deletionFailures).toBeUndefined();
    // c1 (no hold) is deleted and its chunk collected; a1 and a2 stay whole.
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a1', 'vol-a/a2']);
    expect(world.bucket.objects.has(manifestKey('vol-c', 'c1'))).toBe(false);
    expect(world.bucket.objects.has(chunkKey(specChunkName(poolChunk(4))))).toBe(false);
    await expectA1Kept(world, a1, { legalHold: true });
    expect(await points.listDetached()).toEqual([]);

    world.clock.advance(DAY);
    const next = await runGc({ ...world, objects: world.bucket, deletions: deletion }, { runId: 'daily-2' });
    expect(next.counters).toMatchObject({ deletionsFinished: 0, deletionsKept: 0, deletionsFailed: 0 });
    await expectA1Kept(world, a1, { legalHold: true });
  });

  it('finishSomePendingDeletions: a kept image is an attempt, not a finished deletion, and starves nothing', async () => {
    const { world, deletion, a1 } = await crashedAfterDetach(true);
    hold(world, 'vol-a', 'a1', { legalHold: true });
    // Budget 1 finished, 1 more attempt: a1 (kept) is the extra attempt, c1 is finished.
    expect(await finishSomePendingDeletions(deletion, 1, 1)).toEqual({
      finished: 1,
      stillLocked: [],
      failed: [],
      kept: [{ volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(`${HELD}; not deleted`) }],
      left: 0,
      stepFailures: [],
    });
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a1', 'vol-a/a2']);
    await expectA1Kept(world, a1, { legalHold: true });
  });

  it('an Object Lock retention extended since the crash keeps it too, with the date', async () => {
    const { world, points, deletion, a1 } = await crashedAfterDetach();
    const lockedUntil = new Date(world.clock.time + 30 * DAY).toISOString();
    hold(world, 'vol-a', 'a1', { lockedUntil });
    expect(await finishPendingDeletions(deletion)).toEqual({
      finished: 0,
      stillLocked: [],
      failed: [],
      kept: [
        {
          volumeId: 'vol-a',
          imageId: 'a1',
          reason: abandonedDeletionReason(
            `image a1 of vol-a is under Object Lock retention until ${lockedUntil}; not deleted`,
          ),
        },
      ],
    });
    await expectA1Kept(world, a1, { lockedUntil });
    expect(await points.listDetached()).toEqual([]);
  });

  it('an expiry keeps it, reports it, and applies the rules to it as a live image', async () => {
    const { world, points, deletion, a1 } = await crashedAfterDetach();
    hold(world, 'vol-a', 'a1', { legalHold: true });
    const result = await expireScope(
      deletion,
      { server: 'srv-1' },
      { keepLast: 1 },
      { timeZone: 'UTC' },
      false,
    );
    expect(result.pendingKept).toEqual([
      { volumeId: 'vol-a', imageId: 'a1', reason: abandonedDeletionReason(`${HELD}; not deleted`) },
    ]);
    expect(result.pendingFailures).toBeUndefined();
    // a2 is the newest (last 1); a1 is kept by its hold.
    expect(
      result.groups.flatMap((g) =>
        g.result.decisions.map((d) => [d.imageId, d.action, d.reasons.join(', ')]),
      ),
    ).toEqual([
      ['a2', 'keep', 'last 1'],
      ['a1', 'keep', 'legal hold'],
    ]);
    expect(result.groups.flatMap((g) => g.result.deleted)).toEqual([]);
    await expectA1Kept(world, a1, { legalHold: true });
    expect(await points.listDetached()).toEqual([]);
  });

  it('a mark that cannot be forgotten is a failure with both reasons; the next run keeps the image', async () => {
    const { world, points, deletion, a1 } = await crashedAfterDetach();
    hold(world, 'vol-a', 'a1', { legalHold: true });
    const failing = withMethod(points, 'clearDetached', () =>
      Promise.reject(new Error('recovery point store unavailable')),
    );
    expect(await finishPendingDeletions({ ...deletion, recoveryPoints: failing })).toEqual({
      finished: 0,
      stillLocked: [],
      failed: [
        {
          volumeId: 'vol-a',
          imageId: 'a1',
          reason: `${HELD}; not deleted; its detached mark could not be forgotten: recovery point store unavailable`,
        },
      ],
    });
    expect(await points.listDetached()).toEqual([{ volumeId: 'vol-a', imageId: 'a1' }]);
    expect((await finishPendingDeletions(deletion)).kept).toHaveLength(1);
    expect(await points.listDetached()).toEqual([]);
    await expectA1Kept(world, a1, { legalHold: true });
  });

  it('a record already `deleting` stays on its way: a hold written on it does not bring it back', async () => {
    const { world, deletion } = await crashedAfterDetach();
    // The deletion goes on past markDeleting this time (crash at deleteObjects).
    await expect(deleteImage(crashingDeletion(deletion, 4), 'vol-a', 'a2')).rejects.toThrow('injected crash');
    hold(world, 'vol-a', 'a2', { legalHold: true });
    expect(world.records.images.get('vol-a/a2')?.status).toBe('deleting');
    // a1 (live, no hold) is finished too.
    expect(await finishPendingDeletions(deletion)).toEqual({ finished: 2, stillLocked: [], failed: [] });
    expect([...world.records.images.keys()]).toEqual(['vol-c/c1']);
    expect(world.bucket.objects.has(manifestKey('vol-a', 'a2'))).toBe(false);
  });
});
