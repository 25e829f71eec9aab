/**
 * A replica volume on the local stack plus a model of its first bytes, so tests know what every
 * snapshot must contain without reading the whole volume back.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSnapshotCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { waitForSnapshotCompleted } from '../../lambdas/core/restore/volume-restore.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import type { SnapshotStateReader } from '../../lambdas/core/backup/snapshot-ports.ts';
import type { LocalStack } from '../../local/stack.ts';
import type { SparseBlocks } from './engine-fixture.ts';

export class ModelledVolume {
  private constructor(
    private readonly stack: LocalStack,
    readonly volumeId: string,
    /** The volume's bytes [0, model.length); everything after it is zeros. */
    readonly model: Buffer,
  ) {}

  static async create(
    stack: LocalStack,
    dir: string,
    name: string,
    initial: Buffer,
  ): Promise<ModelledVolume> {
    const imagePath = join(dir, `${name}.img`);
    await writeFile(imagePath, initial);
    const record = await stack.replicas.create({ imagePath });
    return new ModelledVolume(stack, record.volumeId, Buffer.from(initial));
  }

  async write(offset: number, data: Buffer): Promise<void> {
    await this.stack.agent.write(this.volumeId, offset, data);
    data.copy(this.model, offset);
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.stack.agent.discard(this.volumeId, offset, length);
    this.model.fill(0, offset, offset + length);
  }

  /** The model's blocks (512 KiB each), all of them, zero or not. */
  blocks(): Map<number, Buffer> {
    const blocks = new Map<number, Buffer>();
    for (let i = 0; i * EBS_BLOCK_SIZE_BYTES < this.model.length; i += 1) {
      const block = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      this.model.copy(block, 0, i * EBS_BLOCK_SIZE_BYTES, (i + 1) * EBS_BLOCK_SIZE_BYTES);
      blocks.set(i, block);
    }
    return blocks;
  }

  /** EC2 CreateSnapshot, waited for until completed; returns the id and the model at that moment. */
  async snapshot(
    ec2: EC2Client,
    state: SnapshotStateReader,
  ): Promise<{ snapshotId: string; blocks: SparseBlocks }> {
    const created = await ec2.send(new CreateSnapshotCommand({ VolumeId: this.volumeId }));
    const blocks = this.blocks();
    await waitForSnapshotCompleted(state, created.SnapshotId!, {
      intervalMs: 50,
      timeoutMs: 20_000,
      nowMs: () => performance.now(),
      sleep: realSleep,
    });
    return { snapshotId: created.SnapshotId!, blocks };
  }
}
