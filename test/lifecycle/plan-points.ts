/** Recovery points of single images with a trigger, for the tests of a plan's expiry (retention-apply.ts). */
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import type { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';

/**
 * `image` as the one image of point `rp-<imageId>` of its server, made by a run with `trigger`
 * (undefined: a point written before points recorded their trigger).
 */
export function imagePoint(
  image: Pick<LifecycleImage, 'volumeId' | 'imageId' | 'createdAt' | 'serverId'>,
  trigger: string | undefined,
): RecoveryPoint {
  return {
    version: 1,
    recoveryPointId: `rp-${image.imageId}`,
    serverId: image.serverId ?? image.volumeId,
    backupId: image.imageId,
    createdAt: image.createdAt,
    images: [
      {
        volumeId: image.volumeId,
        device: 'disk0',
        imageId: image.imageId,
        snapshotId: `snap-${image.imageId}`,
        kind: 'full',
      },
    ],
    ...(trigger === undefined ? {} : { trigger }),
  };
}

/** Files imagePoint(image, trigger) in the store and returns it. */
export function fileImagePoint(
  store: MemoryRecoveryPointStore,
  image: Pick<LifecycleImage, 'volumeId' | 'imageId' | 'createdAt' | 'serverId'>,
  trigger: string | undefined,
): RecoveryPoint {
  const point = imagePoint(image, trigger);
  store.points.set(point.recoveryPointId, structuredClone(point));
  return point;
}
