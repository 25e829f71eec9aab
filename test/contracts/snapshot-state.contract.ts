/**
 * The contract of the SnapshotStateReader port (lambdas/core/backup/snapshot-ports.ts): what the
 * volume restore's wait and check steps read of a snapshot the restore wrote through the EBS
 * direct APIs. EC2 DescribeSnapshots shows such a snapshot `pending` until CompleteSnapshot, then
 * `completed` with progress 100%; an unknown id is InvalidSnapshot.NotFound
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html).
 * Run against MemoryEbs and against Ec2SnapshotState on the local stack (moto for EC2, the EBS
 * emulator for the direct APIs).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SnapshotBlockWriter, SnapshotStateReader } from '../../lambdas/core/backup/snapshot-ports.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface SnapshotStateHarness {
  readonly state: SnapshotStateReader;
  /** Writes the snapshots whose state is read (the restore's writer). */
  readonly writer: SnapshotBlockWriter;
}

/** The shortest timeout StartSnapshot accepts (minutes). */
const START_TIMEOUT_MINUTES = 10;
/** Reads of a completed snapshot's state before the test gives up on `completed`. */
const MAX_COMPLETION_READS = 200;
/** Pause between those reads: the local stack completes a snapshot after its own short delay. */
const COMPLETION_READ_PAUSE_MS = 25;
const UNKNOWN_SNAPSHOT = 'snap-0fedcba9876543210';

function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

export function snapshotStateContract(name: string, open: () => Promise<SnapshotStateHarness>): void {
  describe(`SnapshotStateReader contract: ${name}`, () => {
    it('a started snapshot reads pending; once completed it reads completed at 100%', async () => {
      const { state, writer } = await open();
      const { snapshotId } = await writer.startSnapshot({
        volumeSizeGib: 1,
        clientToken: `state-contract-${name.replace(/[^A-Za-z0-9]+/g, '-')}`,
        timeoutMinutes: START_TIMEOUT_MINUTES,
      });
      expect((await state.describeSnapshot(snapshotId)).state).toBe('pending');
      const data = Buffer.alloc(EBS_BLOCK_SIZE_BYTES, 7);
      const checksum = sha256Base64(data);
      await writer.putSnapshotBlock({ snapshotId, blockIndex: 0, data, checksumBase64: checksum });
      await writer.completeSnapshot({
        snapshotId,
        changedBlocksCount: 1,
        checksumBase64: sha256Base64(Buffer.from(checksum, 'base64')),
      });
      let read = await state.describeSnapshot(snapshotId);
      for (let reads = 1; read.state === 'pending' && reads < MAX_COMPLETION_READS; reads += 1) {
        await new Promise((resolve) => setTimeout(resolve, COMPLETION_READ_PAUSE_MS));
        read = await state.describeSnapshot(snapshotId);
      }
      expect(read).toMatchObject({ state: 'completed', progress: '100%' });
    });

    it('an unknown snapshot is a NotFoundError that names it', async () => {
      const { state } = await open();
      const error = await rejectionOf(state.describeSnapshot(UNKNOWN_SNAPSHOT));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain(UNKNOWN_SNAPSHOT);
    });
  });
}
