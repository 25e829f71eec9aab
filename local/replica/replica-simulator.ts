/**
 * A stand-in for the replication agent on the local stack: it writes into a replica's image (the
 * EBS emulator learns which blocks were written), discards ranges (TRIM), and reports the
 * replica's checkpoint and sync state through the volume's tags, as docs/replica-tags.md says a
 * real agent does.
 */
import { open } from 'node:fs/promises';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import type { EbsEmulator } from '../ebs/ebs-emulator.ts';
import type { ReplicaRecord } from './replica-registry.ts';
import { REPLICA_TAG, type SyncState } from './replica-tags.ts';
import type { ReplicaVolumes } from './replica-volumes.ts';

/** Zeros are written in pieces of this size when a discard covers a large range. */
const ZERO_WRITE_BYTES = 8 * 1024 * 1024;

export interface CheckpointReport {
  readonly checkpointId: string;
  /** When the checkpoint was taken on the source; default now. */
  readonly checkpointTime?: Date;
  /** Default IN_SYNC. */
  readonly syncState?: SyncState;
  /** Default 0. */
  readonly backlogBytes?: number;
}

export interface SyncReport {
  readonly syncState: SyncState;
  readonly backlogBytes: number;
}

export class ReplicaSimulator {
  constructor(
    private readonly replicas: ReplicaVolumes,
    private readonly emulator: EbsEmulator,
  ) {}

  /** Writes `data` at byte `offset` of the replica, as replication of a source write would. */
  async write(volumeId: string, offset: number, data: Uint8Array): Promise<void> {
    const record = this.replicas.require(volumeId);
    checkRange(record, offset, data.length);
    if (data.length === 0) return;
    await this.replicas.withVolumeLock(volumeId, async () => {
      const handle = await open(record.imagePath, 'r+');
      try {
        await handle.write(data, 0, data.length, offset);
      } finally {
        await handle.close();
      }
      await this.emulator.markBlocksWritten(volumeId, blockRange(offset, data.length));
    });
  }

  /**
   * Discards (TRIMs) a byte range: it reads back as zeros; whole 512 KiB blocks inside it are no
   * longer written blocks; partly covered blocks stay written (with zeros in the range).
   */
  async discard(volumeId: string, offset: number, length: number): Promise<void> {
    const record = this.replicas.require(volumeId);
    checkRange(record, offset, length);
    if (length === 0) return;
    await this.replicas.withVolumeLock(volumeId, async () => {
      const handle = await open(record.imagePath, 'r+');
      try {
        const fileSize = (await handle.stat()).size;
        const end = Math.min(offset + length, fileSize);
        const zeros = Buffer.alloc(Math.min(ZERO_WRITE_BYTES, Math.max(0, end - offset)));
        for (let position = offset; position < end; position += zeros.length) {
          await handle.write(zeros, 0, Math.min(zeros.length, end - position), position);
        }
      } finally {
        await handle.close();
      }
      const firstWhole = Math.ceil(offset / EBS_BLOCK_SIZE_BYTES);
      const endWhole = Math.floor((offset + length) / EBS_BLOCK_SIZE_BYTES);
      const whole: number[] = [];
      for (let index = firstWhole; index < endWhole; index += 1) whole.push(index);
      const partial = blockRange(offset, length).filter((index) => index < firstWhole || index >= endWhole);
      if (whole.length > 0) await this.emulator.discardBlocks(volumeId, whole);
      if (partial.length > 0) await this.emulator.markBlocksWritten(volumeId, partial);
    });
  }

  /** Reports that the replica now holds checkpoint `checkpointId` (and its sync state). */
  async reportCheckpoint(volumeId: string, report: CheckpointReport): Promise<ReplicaRecord> {
    const syncState = report.syncState ?? 'IN_SYNC';
    const backlogBytes = report.backlogBytes ?? 0;
    checkSync(syncState, backlogBytes);
    return this.replicas.setTags(volumeId, {
      [REPLICA_TAG.checkpointId]: report.checkpointId,
      [REPLICA_TAG.checkpointTime]: (report.checkpointTime ?? new Date()).toISOString(),
      [REPLICA_TAG.syncState]: syncState,
      [REPLICA_TAG.backlogBytes]: String(backlogBytes),
    });
  }

  /** Reports the replica's sync state without a new checkpoint. */
  async reportSync(volumeId: string, report: SyncReport): Promise<ReplicaRecord> {
    checkSync(report.syncState, report.backlogBytes);
    return this.replicas.setTags(volumeId, {
      [REPLICA_TAG.syncState]: report.syncState,
      [REPLICA_TAG.backlogBytes]: String(report.backlogBytes),
    });
  }
}

function checkRange(record: ReplicaRecord, offset: number, length: number): void {
  const volumeBytes = record.volumeSizeGib * GIB_BYTES;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ValidationError('offset and length must be non-negative integers', {
      context: { volumeId: record.volumeId, offset, length },
    });
  }
  if (offset + length > volumeBytes) {
    throw new ValidationError(`the range ends beyond the volume's ${volumeBytes} bytes`, {
      context: { volumeId: record.volumeId, offset, length },
    });
  }
}

function checkSync(syncState: string, backlogBytes: number): void {
  if (syncState !== 'IN_SYNC' && syncState !== 'BACKLOG') {
    throw new ValidationError(`sync state must be IN_SYNC or BACKLOG, not ${syncState}`);
  }
  if (!Number.isSafeInteger(backlogBytes) || backlogBytes < 0) {
    throw new ValidationError('backlog bytes must be a non-negative integer', { context: { backlogBytes } });
  }
}

/** The 512 KiB block indexes a byte range touches. */
export function blockRange(offset: number, length: number): number[] {
  if (length === 0) return [];
  const first = Math.floor(offset / EBS_BLOCK_SIZE_BYTES);
  const last = Math.floor((offset + length - 1) / EBS_BLOCK_SIZE_BYTES);
  const blocks: number[] = [];
  for (let index = first; index <= last; index += 1) blocks.push(index);
  return blocks;
}
