/**
 * The contract of Destination (lambdas/core/plans/plan-ports.ts), the checks a plan run makes
 * before it starts backups: the probe answers nothing when it could write and delete its object
 * (and leaves nothing behind), and why not when it could not (the S3 error named); the usage is
 * the bytes the bucket stores and the snapshots that may still start (MAX_PENDING_SNAPSHOTS less
 * the pending ones; none pending here).
 */
import { describe, expect, it } from 'vitest';
import { MAX_PENDING_SNAPSHOTS } from '../../lambdas/aws/plan-run-adapters.ts';
import type { Destination } from '../../lambdas/core/plans/plan-ports.ts';

export interface DestinationHarness {
  readonly destination: Destination;
  /** An object of `size` bytes in the image bucket, put there outside the port. */
  put(key: string, size: number): Promise<void>;
  /** The destination of a bucket that does not exist. */
  readonly missing: Destination;
}

export function destinationContract(name: string, open: () => Promise<DestinationHarness>): void {
  describe(`Destination contract: ${name}`, () => {
    it('probes by writing and deleting, leaving nothing; sums the stored bytes', async () => {
      const h = await open();
      expect(await h.destination.probeWritable()).toBeUndefined();
      expect(await h.destination.usage()).toEqual({
        storedBytes: 0,
        freeSnapshotSlots: MAX_PENDING_SNAPSHOTS,
      });
      await h.put('images/img-1/manifest', 1_000);
      await h.put('images/img-1/chunks/0', 4_096);
      expect(await h.destination.probeWritable()).toBeUndefined();
      expect(await h.destination.usage()).toEqual({
        storedBytes: 5_096,
        freeSnapshotSlots: MAX_PENDING_SNAPSHOTS,
      });
    });

    it('a bucket it cannot write to is a reason naming the S3 error', async () => {
      const h = await open();
      expect(await h.missing.probeWritable()).toMatch(/^image bucket probe failed: NoSuchBucket: /);
    });
  });
}
