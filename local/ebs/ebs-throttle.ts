/**
 * The emulator's per-snapshot request cap over GetSnapshotBlock and PutSnapshotBlock. EBS limits
 * the request rate per snapshot and answers RequestThrottledException with the reason
 * RESOURCE_LEVEL_THROTTLE past it
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_GetSnapshotBlock.html, Errors).
 */
import { EbsApiError, THROTTLE_REASON } from './ebs-api-error.ts';

const MS_PER_SECOND = 1000;

export class SnapshotRequestLimiter {
  private readonly counts = new Map<string, { second: number; count: number }>();

  /** Counts one request at `nowMs`; throws RequestThrottledException past `cap` in one clock second. */
  admit(snapshotId: string, nowMs: number, cap: number): void {
    if (!Number.isFinite(cap)) return;
    const second = Math.floor(nowMs / MS_PER_SECOND);
    const counter = this.counts.get(snapshotId);
    if (counter === undefined || counter.second !== second) {
      this.counts.set(snapshotId, { second, count: 1 });
      return;
    }
    if (counter.count >= cap) {
      throw new EbsApiError(
        'RequestThrottledException',
        `Request rate for snapshot '${snapshotId}' exceeds ${cap} per second.`,
        THROTTLE_REASON.resourceLevelThrottle,
      );
    }
    counter.count += 1;
  }

  /** Drops the count of a deleted snapshot. */
  forget(snapshotId: string): void {
    this.counts.delete(snapshotId);
  }
}
