/** The faults the emulator can inject (local/ebs/README.md "Faults"), their checks and the corruption of read blocks. */
import { seededRandom } from '../seeded-random.ts';

/** Block indexes one list page scans at most: 32 GiB of volume, so big sparse volumes show empty pages. */
export const DEFAULT_LIST_PAGE_BLOCK_WINDOW = 65_536;

export interface EbsEmulatorFaults {
  /** 0..1: a GetSnapshotBlock body gets one flipped byte while x-amz-Checksum is that of the true data. */
  corruptBlockDataRate?: number;
  /** Cap per snapshot over GetSnapshotBlock and PutSnapshotBlock, per clock second: RequestThrottledException RESOURCE_LEVEL_THROTTLE. */
  perSnapshotRequestsPerSecond?: number;
  /** Block indexes one list page scans at most (default 65,536). */
  listPageBlockWindow?: number;
  /**
   * For this long after StartSnapshot, PutSnapshotBlock answers ResourceNotFoundException, as EBS
   * can right after StartSnapshot while the new snapshot propagates. Default 0.
   */
  putSnapshotBlockNotFoundForMs?: number;
  /**
   * After this many PutSnapshotBlock requests are accepted (counted from the setFaults call that
   * sets it), every further one answers ValidationException "Injected fault: ..." and stores
   * nothing: a writer cut off in the middle of its work, as when its Lambda is killed. Default ∞.
   */
  cutOffPutSnapshotBlockAfter?: number;
}

/** No faults: what a new emulator serves. */
export const NO_FAULTS: Required<EbsEmulatorFaults> = {
  corruptBlockDataRate: 0,
  perSnapshotRequestsPerSecond: Number.POSITIVE_INFINITY,
  listPageBlockWindow: DEFAULT_LIST_PAGE_BLOCK_WINDOW,
  putSnapshotBlockNotFoundForMs: 0,
  cutOffPutSnapshotBlockAfter: Number.POSITIVE_INFINITY,
};

/** `current` with `update` applied, or a RangeError naming the first setting out of range. */
export function updatedFaults(
  current: Required<EbsEmulatorFaults>,
  update: EbsEmulatorFaults,
): Required<EbsEmulatorFaults> {
  const next = { ...current, ...update };
  if (!(next.corruptBlockDataRate >= 0 && next.corruptBlockDataRate <= 1)) {
    throw new RangeError('corruptBlockDataRate must be within 0..1');
  }
  if (!(next.perSnapshotRequestsPerSecond > 0))
    throw new RangeError('perSnapshotRequestsPerSecond must be > 0');
  if (!Number.isInteger(next.listPageBlockWindow) || next.listPageBlockWindow < 1) {
    throw new RangeError('listPageBlockWindow must be a positive integer');
  }
  if (!(next.putSnapshotBlockNotFoundForMs >= 0))
    throw new RangeError('putSnapshotBlockNotFoundForMs must be >= 0');
  if (!(next.cutOffPutSnapshotBlockAfter >= 0))
    throw new RangeError('cutOffPutSnapshotBlockAfter must be >= 0');
  return next;
}

/** Flips one byte of a read block at a given rate; the same seed and order of reads give the same flips. */
export class BlockCorrupter {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  /** `data`, or a copy with one byte flipped (drawn with probability `rate`). */
  maybeCorrupt(data: Buffer, rate: number): Buffer {
    if (rate <= 0 || this.random() >= rate) return data;
    const corrupted = Buffer.from(data);
    const at = Math.floor(this.random() * corrupted.length);
    corrupted[at] = (corrupted[at] as number) ^ 0xff;
    return corrupted;
  }
}
