/**
 * Which images are live (ImageLiveness, lambdas/core/recovery-points/recovery-points.ts) over the
 * lifecycle's in-memory records, as DynamoDbImageRecordStore.liveImages answers it: an image with a
 * record that is not `deleting`. Its contract with the adapter on moto:
 * test/contracts/image-liveness.contract.ts.
 */
import type { ImageLiveness } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { imageRefKey } from '../../lambdas/core/recovery-points/recovery-points.ts';
import type { MemoryLifecycleRecords } from './memory-lifecycle.ts';

export function lifecycleRecordsLiveness(records: MemoryLifecycleRecords): ImageLiveness {
  return {
    liveImages: (images) =>
      Promise.resolve(
        new Set(
          images
            .filter((image) => records.images.get(imageRefKey(image))?.status === 'live')
            .map((image) => imageRefKey(image)),
        ),
      ),
  };
}
