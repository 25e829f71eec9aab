/**
 * Destination (lambdas/core/plans/plan-ports.ts) in memory, as S3Ec2Destination reads the image
 * bucket and EC2: the probe writes and deletes one object (leaving nothing behind) unless the
 * bucket is missing, the stored bytes are the sum of the bucket's objects, and the free snapshot
 * slots are MAX_PENDING_SNAPSHOTS less the pending snapshots.
 */
import { MAX_PENDING_SNAPSHOTS } from '../../lambdas/aws/plan-run-adapters.ts';
import type { Destination, DestinationUsage } from '../../lambdas/core/plans/plan-ports.ts';

export class MemoryDestination implements Destination {
  /** The bucket's objects: key → size in bytes; undefined while the bucket does not exist. */
  objects: Map<string, number> | undefined = new Map();
  pendingSnapshots = 0;

  constructor(private readonly bucket: string) {}

  probeWritable(): Promise<string | undefined> {
    return Promise.resolve(
      this.objects === undefined
        ? `image bucket probe failed: NoSuchBucket: The specified bucket does not exist: ${this.bucket}`
        : undefined,
    );
  }

  usage(): Promise<DestinationUsage> {
    return Promise.resolve({
      storedBytes: [...(this.objects ?? new Map<string, number>()).values()].reduce(
        (sum, size) => sum + size,
        0,
      ),
      freeSnapshotSlots: Math.max(0, MAX_PENDING_SNAPSHOTS - this.pendingSnapshots),
    });
  }
}
