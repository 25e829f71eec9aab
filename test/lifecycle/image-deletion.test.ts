import { describe, expect, it } from 'vitest';
import {
  ImageDeletionRefusedError,
  ImageStillLockedError,
  deleteImage,
  expireImages,
  expireScope,
  finishPendingDeletions,
  serversOfImage,
  withRecoveryPointIds,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { RetryableError } from '../../lambdas/core/errors.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { imageDeletionDeps, expectRestores, newWorld, writeImage } from './lifecycle-fixture.ts';
import { crashingAt, detachFailingFor, recordingCalls, recordingDeletion } from './image-deletion-crashes.ts';

const HOUR = 3_600_000;
const content: VolumeContent = new Map([
  [0, 1],
  [1024, 2],
]);

describe('image deletion', () => {
  it('marks deleting, deletes the manifest, then the record; other images are untouched', async () => {
    const world = newWorld();
    const keep = await writeImage(world, 'vol-a', 'i1', content);
    const gone = await writeImage(world, 'vol-a', 'i2', content);
    const calls: string[] = [];
    const spy: ImageDeletionDeps = {
      ...imageDeletionDeps(world),
      records: recordingCalls(calls)(world.records),
    };
    const objectsBefore = world.bucket.counters.deleteRequests;
    expect(await deleteImage(spy, 'vol-a', 'i2')).toEqual({
      status: 'deleted',
      volumeId: 'vol-a',
      imageId: 'i2',
    });
    expect(calls).toEqual(['getImage', 'markDeleting', 'deleteImage']);
    expect(world.bucket.counters.deleteRequests - objectsBefore).toBe(1);
    expect(world.bucket.objects.has(gone.manifestKey)).toBe(false);
    expect(world.records.images.has('vol-a/i2')).toBe(false);
    await expectRestores(world, keep, content);
    expect(await deleteImage(imageDeletionDeps(world), 'vol-a', 'i2')).toEqual({
      status: 'absent',
      volumeId: 'vol-a',
      imageId: 'i2',
    });
  });

  it('refuses a legal hold and an unexpired Object Lock, with the reason, changing nothing', async () => {
    const world = newWorld();
    await writeImage(world, 'vol-a', 'held', content, { legalHold: true });
    await writeImage(world, 'vol-a', 'locked', content, {
      lockedUntil: new Date(world.clock.time + HOUR).toISOString(),
    });
    const refused = await deleteImage(imageDeletionDeps(world), 'vol-a', 'held').catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ImageDeletionRefusedError);
    expect(refused).toMatchObject({
      message: 'image held of vol-a is under legal hold; not deleted',
      retryable: false,
      context: { volumeId: 'vol-a', imageId: 'held', legalHold: true },
    });
    await expect(deleteImage(imageDeletionDeps(world), 'vol-a', 'locked')).rejects.toThrow(
      'image locked of vol-a is under Object Lock retention until 2026-11-01T01:00:00.000Z; not deleted',
    );
    expect(world.records.images.get('vol-a/held')!.status).toBe('live');
    expect(world.records.images.get('vol-a/locked')!.status).toBe('live');
    world.clock.advance(HOUR + 1);
    expect((await deleteImage(imageDeletionDeps(world), 'vol-a', 'locked')).status).toBe('deleted');
  });

  it('a manifest S3 still refuses to delete leaves the image deleting; a later run finishes it', async () => {
    const world = newWorld();
    const image = await writeImage(world, 'vol-a', 'i1', content);
    world.bucket.deniedDeletes.add(image.manifestKey);
    await expect(deleteImage(imageDeletionDeps(world), 'vol-a', 'i1')).rejects.toThrow(ImageStillLockedError);
    expect(world.records.images.get('vol-a/i1')!.status).toBe('deleting');
    expect((await finishPendingDeletions(imageDeletionDeps(world))).stillLocked).toHaveLength(1);
    world.bucket.deniedDeletes.clear();
    expect(await finishPendingDeletions(imageDeletionDeps(world))).toEqual({
      finished: 1,
      stillLocked: [],
      failed: [],
    });
    expect(world.records.images.size).toBe(0);
  });

  it('a crash before any step: the next expiry finishes the deletion', async () => {
    for (let crashAt = 1; crashAt <= 4; crashAt += 1) {
      const world = newWorld();
      const image = await writeImage(world, 'vol-a', 'i1', content);
      const crash = crashingAt(crashAt);
      const crashing: ImageDeletionDeps = {
        ...imageDeletionDeps(world),
        objects: crash(world.bucket),
        records: crash(world.records),
      };
      await expect(deleteImage(crashing, 'vol-a', 'i1')).rejects.toThrow('injected crash');
      const record = world.records.images.get('vol-a/i1');
      // Never listed as live without its manifest: either untouched or marked deleting.
      if (record?.status === 'live') expect(world.bucket.objects.has(image.manifestKey)).toBe(true);
      await finishPendingDeletions(imageDeletionDeps(world));
      if (world.records.images.has('vol-a/i1')) {
        // The crash came before the mark: the image is intact and live, and expiry deletes it later.
        expect(world.records.images.get('vol-a/i1')!.status).toBe('live');
        await expectRestores(world, image, content);
      } else {
        expect(world.bucket.objects.has(image.manifestKey)).toBe(false);
      }
    }
  });

  it('expiry applies the rules, deletes the rest, keeps locked recovery points whole, and a dry run changes nothing', async () => {
    const world = newWorld();
    const images = [];
    for (let i = 1; i <= 4; i += 1) {
      images.push(await writeImage(world, 'vol-a', `i${i}`, content));
      world.clock.advance(HOUR);
    }
    images.push(
      await writeImage(world, 'vol-b', 'p-b', content, {
        recoveryPointId: 'p',
        createdAt: images[0]!.createdAt,
      }),
    );
    world.records.put({ ...images[0]!, recoveryPointId: 'p' });
    world.records.put({
      ...world.records.images.get('vol-b/p-b')!,
      lockedUntil: new Date(world.clock.time + HOUR).toISOString(),
    });
    const all = await world.records.listImages();
    const dry = await expireImages(imageDeletionDeps(world), all, { keepLast: 2 }, { timeZone: 'UTC' }, true);
    expect(dry.deleted).toEqual([]);
    expect(dry.decisions.map((d) => `${d.imageId}:${d.action}`)).toEqual([
      'i4:keep',
      'i3:keep',
      'i2:delete',
      'i1:delete',
      'p-b:delete',
    ]);
    expect(world.records.images.size).toBe(5);
    const real = await expireImages(
      imageDeletionDeps(world),
      all,
      { keepLast: 2 },
      { timeZone: 'UTC' },
      false,
    );
    expect(real.deleted).toEqual(['vol-a/i2']);
    expect(real.notDeleted.map((n) => n.image)).toEqual(['vol-a/i1', 'vol-b/p-b']);
    expect(real.notDeleted[0]!.reason).toMatch(
      /^recovery point p kept: image p-b of vol-b is under Object Lock retention until/,
    );
  });
});

describe('retention apply by scope', () => {
  it('a server: each source is its own group; a dry run deletes nothing; then the rules apply', async () => {
    const world = newWorld();
    for (let i = 1; i <= 3; i += 1) {
      await writeImage(world, 'vol-r', `r${i}`, content, { serverId: 'srv-1', source: 'replica' });
      await writeImage(world, 'vol-p', `p${i}`, content, { serverId: 'srv-1', source: 'primary' });
      await writeImage(world, 'vol-x', `x${i}`, content, { serverId: 'srv-2' });
      world.clock.advance(HOUR);
    }
    const dry = await expireScope(
      imageDeletionDeps(world),
      { server: 'srv-1' },
      { keepLast: 1 },
      { timeZone: 'UTC' },
      true,
    );
    expect(
      dry.groups.map((g) => [g.group, g.result.decisions.map((d) => `${d.imageId}:${d.action}`)]),
    ).toEqual([
      ['srv-1#primary', ['p3:keep', 'p2:delete', 'p1:delete']],
      ['srv-1#replica', ['r3:keep', 'r2:delete', 'r1:delete']],
    ]);
    expect(world.records.images.size).toBe(9);
    const real = await expireScope(
      imageDeletionDeps(world),
      { server: 'srv-1' },
      { keepLast: 1 },
      { timeZone: 'UTC' },
      false,
    );
    expect(real.groups.flatMap((g) => g.result.deleted)).toEqual([
      'vol-p/p2',
      'vol-p/p1',
      'vol-r/r2',
      'vol-r/r1',
    ]);
    expect([...world.records.images.keys()].sort()).toEqual([
      'vol-p/p3',
      'vol-r/r3',
      'vol-x/x1',
      'vol-x/x2',
      'vol-x/x3',
    ]);
    const byVolume = await expireScope(
      imageDeletionDeps(world),
      { volume: 'vol-x' },
      { keepLast: 2 },
      { timeZone: 'UTC' },
      false,
    );
    expect(byVolume.groups.map((g) => [g.group, g.result.deleted])).toEqual([
      ['srv-2#replica', ['vol-x/x1']],
    ]);
  });
});

/** A recovery point of the images `refs` (`volumeId/imageId`) of server srv-1. */
function pointOf(backupId: string, createdAt: string, refs: readonly string[]): RecoveryPoint {
  return {
    version: 1,
    recoveryPointId: `rp-${backupId}`,
    serverId: 'srv-1',
    backupId,
    createdAt,
    images: refs.map((ref, n) => {
      const [volumeId, imageId] = ref.split('/') as [string, string];
      return { volumeId, device: `disk${n}`, imageId, snapshotId: `snap-${imageId}`, kind: 'full' as const };
    }),
  };
}

/** Two recovery points of srv-1: rp-b1 (vol-a/a1, vol-b/b1) and rp-b2 (vol-a/a2, vol-b/b2). */
async function serverWorld(): Promise<{
  world: World;
  points: MemoryRecoveryPointStore;
  deps: ImageDeletionDeps;
}> {
  const world = newWorld();
  const points = new MemoryRecoveryPointStore();
  for (const n of [1, 2]) {
    const a = await writeImage(world, 'vol-a', `a${n}`, content, { serverId: 'srv-1' });
    await writeImage(world, 'vol-b', `b${n}`, content, { serverId: 'srv-1' });
    await points.put(pointOf(`b${n}`, a.createdAt, [`vol-a/a${n}`, `vol-b/b${n}`]));
    world.clock.advance(HOUR);
  }
  return { world, points, deps: imageDeletionDeps(world, points) };
}

describe('image deletion and recovery points', () => {
  it('narrows the point to its other image, then removes it with its last; the other point is untouched', async () => {
    const { world, points, deps: withPoints } = await serverWorld();
    expect((await deleteImage(withPoints, 'vol-a', 'a1')).status).toBe('deleted');
    expect(
      (await points.listByServer('srv-1')).map((p) => [p.recoveryPointId, p.images.map((i) => i.imageId)]),
    ).toEqual([
      ['rp-b1', ['b1']],
      ['rp-b2', ['a2', 'b2']],
    ]);
    expect((await deleteImage(withPoints, 'vol-b', 'b1')).status).toBe('deleted');
    expect((await points.listByServer('srv-1')).map((p) => p.recoveryPointId)).toEqual(['rp-b2']);
    expect(await points.get('rp-b1').catch((e: unknown) => (e as Error).message)).toBe(
      'recovery point rp-b1 does not exist',
    );
    expect(await points.listDetached()).toEqual([]);
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a2', 'vol-b/b2']);
  });

  it('takes the image out of its point before marking it deleting, and forgets the detach after the record', async () => {
    const { deps: withPoints } = await serverWorld();
    const calls: string[] = [];
    await deleteImage(recordingDeletion(withPoints, calls), 'vol-a', 'a2');
    expect(calls).toEqual([
      'records.getImage',
      'points.detachImage',
      'records.markDeleting',
      'objects.deleteObjects',
      'records.deleteImage',
      'points.clearDetached',
    ]);
  });

  it('a refused deletion leaves the point whole', async () => {
    const { world, points, deps: withPoints } = await serverWorld();
    world.records.put({ ...world.records.images.get('vol-a/a1')!, legalHold: true });
    await expect(deleteImage(withPoints, 'vol-a', 'a1')).rejects.toThrow(ImageDeletionRefusedError);
    expect((await points.get('rp-b1')).images).toHaveLength(2);
    expect(await points.listDetached()).toEqual([]);
  });

  it('expiry deletes whole recovery points: their records go and none is listed', async () => {
    const { world, points, deps: withPoints } = await serverWorld();
    const result = await expireScope(
      withPoints,
      { server: 'srv-1' },
      { keepLast: 1 },
      { timeZone: 'UTC' },
      false,
    );
    // Image records do not name their point: the points are read to keep rp-b2 whole.
    expect(
      result.groups.flatMap((g) => g.result.decisions.map((d) => [d.imageId, d.recoveryPointId, d.action])),
    ).toEqual([
      ['a2', 'rp-b2', 'keep'],
      ['b2', 'rp-b2', 'keep'],
      ['a1', 'rp-b1', 'delete'],
      ['b1', 'rp-b1', 'delete'],
    ]);
    expect(result.groups.flatMap((g) => g.result.deleted)).toEqual(['vol-a/a1', 'vol-b/b1']);
    expect((await points.listByServer('srv-1')).map((p) => [p.recoveryPointId, p.images.length])).toEqual([
      ['rp-b2', 2],
    ]);
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a2', 'vol-b/b2']);
  });

  it('finds a point filed under the volume id of an image whose volume is tagged now (retention and detach)', async () => {
    const { world, points, deps: withPoints } = await serverWorld();
    const tagged = await writeImage(world, 'vol-a', 'v1', content, { serverId: 'srv-1' });
    // A --volume backup taken before vol-a had its rbp:source-server tag: filed under vol-a.
    await points.put({ ...pointOf('v1', tagged.createdAt, ['vol-a/v1']), serverId: 'vol-a' });
    const image = await world.records.getImage('vol-a', 'v1');
    expect(image.serverId).toBe('srv-1');
    const [found] = await withRecoveryPointIds(withPoints, [image]);
    expect(found!.recoveryPointId).toBe('rp-v1');
    expect(serversOfImage({ serverId: 'srv-1', volumeId: 'vol-a' })).toEqual(['srv-1', 'vol-a']);
    expect(serversOfImage({ volumeId: 'vol-a' })).toEqual(['vol-a']);
  });

  it('a pending deletion whose detach keeps failing is reported; the others and the expiry go on', async () => {
    const { world, points, deps: withPoints } = await serverWorld();
    await world.records.markDeleting('vol-a', 'a1');
    await world.records.markDeleting('vol-a', 'a2');
    const reason = 'recovery point rp-b1: detach lost every attempt';
    const failing = detachFailingFor(points, 'a1', new RetryableError(reason));
    const result = await expireScope(
      { ...withPoints, recoveryPoints: failing },
      { server: 'srv-1' },
      { keepLast: 10 },
      { timeZone: 'UTC' },
      false,
    );
    expect(result.pendingFailures).toEqual([{ volumeId: 'vol-a', imageId: 'a1', reason }]);
    // a2 was finished: its point narrowed to b2; a1 is still deleting, its point whole.
    expect([...world.records.images.keys()].sort()).toEqual(['vol-a/a1', 'vol-b/b1', 'vol-b/b2']);
    expect((await points.listByServer('srv-1')).map((p) => [p.recoveryPointId, p.images.length])).toEqual([
      ['rp-b1', 2],
      ['rp-b2', 1],
    ]);
    // The retention rules still ran for the server's live images (none deleted under keepLast 10).
    expect(result.groups.flatMap((g) => g.result.deleted)).toEqual([]);
    expect(await finishPendingDeletions(withPoints)).toEqual({ finished: 1, stillLocked: [], failed: [] });
    expect([...world.records.images.keys()].sort()).toEqual(['vol-b/b1', 'vol-b/b2']);
  });

  it('a crash at every step: no listed point ever names an image that is gone or deleting, and the next expiry finishes', async () => {
    for (let crashAt = 1; ; crashAt += 1) {
      const { world, points, deps: withPoints } = await serverWorld();
      const crash = crashingAt(crashAt);
      const crashing: ImageDeletionDeps = {
        ...withPoints,
        objects: crash(world.bucket),
        records: crash(world.records),
        recoveryPoints: crash(points),
      };
      const done = await deleteImage(crashing, 'vol-a', 'a1').then(
        () => true,
        (error: unknown) => {
          expect((error as Error).message).toBe('injected crash');
          return false;
        },
      );
      if (done) {
        expect(crashAt).toBe(7); // six port calls, each interrupted once
        break;
      }
      expectPointsNameOnlyLiveImages(world, points);
      const detachedOrDeleting =
        (await points.listDetached()).length > 0 || world.records.images.get('vol-a/a1')?.status !== 'live';
      await finishPendingDeletions(withPoints);
      expectPointsNameOnlyLiveImages(world, points);
      expect(await points.listDetached()).toEqual([]);
      if (detachedOrDeleting) {
        expect(world.records.images.has('vol-a/a1')).toBe(false);
        expect((await points.get('rp-b1')).images.map((i) => i.imageId)).toEqual(['b1']);
      } else {
        // The crash came before the detach: nothing changed; the image and its point are whole.
        expect(world.records.images.get('vol-a/a1')!.status).toBe('live');
        expect((await points.get('rp-b1')).images).toHaveLength(2);
      }
      expect((await points.get('rp-b2')).images).toHaveLength(2);
    }
  });
});

/** Every image of every stored recovery point has a live record. */
function expectPointsNameOnlyLiveImages(world: World, points: MemoryRecoveryPointStore): void {
  for (const point of points.points.values()) {
    for (const image of point.images) {
      expect(
        world.records.images.get(`${image.volumeId}/${image.imageId}`)?.status,
        `${point.recoveryPointId} names ${image.volumeId}/${image.imageId}`,
      ).toBe('live');
    }
  }
}
