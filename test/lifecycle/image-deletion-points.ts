/**
 * Images of recovery points for the deletion and retention tests: a committed record and manifest
 * and the point's entry; and a fleet of written images, each the only image of its own point.
 */
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import type {
  RecoveryPoint,
  RecoveryPointImage,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import {
  imageDeletionDeps,
  newWorld,
  recordOf,
  writeImage,
  type VolumeContent,
  type World,
} from './lifecycle-fixture.ts';

const HOUR = 3_600_000;

/** vol-a's a1 and a2 in the pending-deletion tests: they share chunk 1; chunk 2 is a1's alone, chunk 3 a2's alone. */
export const A1: VolumeContent = new Map([
  [0, 1],
  [1, 2],
]);
export const A2: VolumeContent = new Map([
  [0, 1],
  [1, 3],
]);

/**
 * Commits image `i<n>-<volumeId>` (its record, live, and a one-byte manifest) at `createdAt` and
 * returns its entry in point `n` as device `disk<d>`.
 */
export function committedPointImage(
  world: World,
  volumeId: string,
  n: number,
  d: number,
  createdAt: string,
  extra: Partial<LifecycleImage> = {},
): RecoveryPointImage {
  const record = recordOf(world, volumeId, `i${n}-${volumeId}`, createdAt, 'f'.repeat(64), extra);
  world.records.put(record);
  world.bucket.setRaw(record.manifestKey, new Uint8Array([n]));
  return {
    volumeId,
    device: `disk${d}`,
    imageId: record.imageId,
    snapshotId: `snap-${n}-${d}`,
    kind: 'full',
  };
}

/** Server `serverId`'s recovery point `rp-<imageId>` (backup `imageId`) holding that one image as disk0. */
export function soleImagePoint(
  serverId: string,
  volumeId: string,
  imageId: string,
  createdAt: string,
): RecoveryPoint {
  return {
    version: 1,
    recoveryPointId: `rp-${imageId}`,
    serverId,
    backupId: imageId,
    createdAt,
    images: [{ volumeId, device: 'disk0', imageId, snapshotId: `snap-${imageId}`, kind: 'full' }],
  };
}

/** A world with a recovery point store, and deleteImage's ports over both (it detaches images from their points). */
export interface PointedFleet {
  readonly world: World;
  readonly points: MemoryRecoveryPointStore;
  readonly deletion: ImageDeletionDeps;
}

/**
 * A new world whose `images` (volume, image id, content, server) are written in order an hour
 * apart, each with its own recovery point (soleImagePoint); and the written images by image id.
 */
export async function pointedFleet(
  images: readonly (readonly [volumeId: string, imageId: string, content: VolumeContent, serverId: string])[],
): Promise<PointedFleet & { readonly written: ReadonlyMap<string, LifecycleImage> }> {
  const world = newWorld();
  const points = new MemoryRecoveryPointStore();
  const written = new Map<string, LifecycleImage>();
  for (const [volumeId, imageId, content, serverId] of images) {
    const image = await writeImage(world, volumeId, imageId, content, { serverId });
    await points.put(soleImagePoint(serverId, volumeId, imageId, image.createdAt));
    written.set(imageId, image);
    world.clock.advance(HOUR);
  }
  return { world, points, deletion: imageDeletionDeps(world, points), written };
}
