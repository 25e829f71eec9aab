/**
 * Recovery points are shown narrowed to their live images (narrowToLiveImages, the service's
 * listing and reads): a point naming an image that is gone or being deleting is never shown with
 * it, and a point with no live image is not shown at all, whatever the store holds (a commit that
 * raced the image's deletion, a point written before deletions detached images). One liveness read
 * per page.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  imageRefKey,
  narrowToLiveImages,
  type ImageLiveness,
  type RecoveryPoint,
  type RecoveryPointImageRef,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import type { ApiServices } from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import { memoryApi, memoryRecoveryPoints } from '../fakes/memory-api-ports.ts';
import { MemoryRecoveryPointStore } from './memory-recovery-point-store.ts';

/** A point of web-01 with images of vol-0a and vol-0b. */
function point(backupId: string, createdAt: string): RecoveryPoint {
  return {
    version: 1,
    recoveryPointId: `rp-${backupId}`,
    serverId: 'web-01',
    backupId,
    createdAt,
    images: ['vol-0a', 'vol-0b'].map((volumeId, n) => ({
      volumeId,
      device: `/dev/xvd${'ab'[n]!}`,
      imageId: `img-${backupId}-${volumeId}`,
      snapshotId: `snap-${backupId}-${n}`,
      kind: 'full' as const,
    })),
  };
}

/** Liveness of a fixed set of image keys, recording each call's references. */
function liveness(live: readonly string[]): ImageLiveness & { calls: RecoveryPointImageRef[][] } {
  const calls: RecoveryPointImageRef[][] = [];
  return {
    calls,
    liveImages: (images) => {
      calls.push([...images]);
      return Promise.resolve(new Set(images.map(imageRefKey).filter((k) => live.includes(k))));
    },
  };
}

async function serviceWith(live: readonly string[]) {
  const points = new MemoryRecoveryPointStore();
  await points.put(point('bk-1', '2026-03-01T00:00:00.000Z'));
  await points.put(point('bk-2', '2026-03-02T00:00:00.000Z'));
  await points.put(point('bk-3', '2026-03-03T00:00:00.000Z'));
  const images = liveness(live);
  return { rp: memoryRecoveryPoints(memoryApi(), points, images), images };
}

describe('recovery points as shown', () => {
  it('a page narrows each point to its live images and leaves out a point with none, in one read', async () => {
    const { rp, images } = await serviceWith([
      'vol-0a/img-bk-3-vol-0a',
      'vol-0b/img-bk-3-vol-0b',
      'vol-0b/img-bk-1-vol-0b',
    ]);
    const page = await rp.pageRecoveryPoints('web-01', { limit: 10 });
    expect(page.items.map((p) => [p.recoveryPointId, p.images.map((v) => v.imageId)])).toEqual([
      ['rp-bk-3', ['img-bk-3-vol-0a', 'img-bk-3-vol-0b']],
      ['rp-bk-1', ['img-bk-1-vol-0b']],
    ]);
    expect(images.calls).toHaveLength(1);
    expect(images.calls[0]).toHaveLength(6);
  });

  it('a point none of whose images is live does not exist for reads and restores', async () => {
    const { rp } = await serviceWith(['vol-0a/img-bk-3-vol-0a']);
    const api = {} as ApiServices; // not reached: the point is refused first
    for (const read of [
      () => rp.getRecoveryPoint(api, 'rp-bk-2'),
      () => rp.listFiles(api, 'rp-bk-2', '/', { limit: 10 }),
      () => rp.startServerRestore(api, 'rs-1', 'rp-bk-2'),
    ]) {
      const error = await read().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe(
        'recovery point rp-bk-2 does not exist (none of its images is live)',
      );
    }
  });

  it('narrowToLiveImages keeps exactly the live images of each point, in order, and drops empty points (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), async (flags) => {
        const points = ['bk-1', 'bk-2', 'bk-3'].map((b, n) => point(b, `2026-03-0${n + 1}T00:00:00.000Z`));
        const all = points.flatMap((p) => p.images.map(imageRefKey));
        const live = all.filter((_, n) => flags[n]);
        const shown = await narrowToLiveImages(points, liveness(live));
        for (const p of shown) {
          const original = points.find((o) => o.recoveryPointId === p.recoveryPointId)!;
          expect(p).toEqual({
            ...original,
            images: original.images.filter((i) => live.includes(imageRefKey(i))),
          });
        }
        expect(shown.map((p) => p.recoveryPointId)).toEqual(
          points
            .filter((p) => p.images.some((i) => live.includes(imageRefKey(i))))
            .map((p) => p.recoveryPointId),
        );
      }),
      { numRuns: 64 },
    );
  });
});
