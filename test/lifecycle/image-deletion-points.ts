/** Images of recovery points for the deletion and retention tests: a committed record and manifest, and the point's entry. */
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import type { RecoveryPointImage } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { recordOf, type World } from './lifecycle-fixture.ts';

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
