/**
 * The state directory survives a restart of the local stack: moto keeps nothing, so the stack
 * re-creates the registered replica volumes (same ids, same tags) and registers the emulator's
 * snapshots (same ids, status, source volume) in moto again; the snapshots still read back.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { isProcessAlive } from '../../local/moto/moto-server.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { localClientConfig } from '../support/local-stack.ts';

let workDir: string;
const running: LocalStack[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'rbp-restart-test-'));
});

afterAll(async () => {
  for (const stack of running) await stack.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function start(): Promise<LocalStack> {
  const stack = await startLocalStack({ stateDir: join(workDir, 'state'), snapshotCompletionDelayMs: 100 });
  running.push(stack);
  return stack;
}

async function stop(stack: LocalStack): Promise<void> {
  await stack.stop();
  running.splice(running.indexOf(stack), 1);
}

describe('a restarted local stack', () => {
  it('keeps replica volumes, their tags and their snapshots', async () => {
    const block = randomBytes(EBS_BLOCK_SIZE_BYTES);
    const imagePath = join(workDir, 'disk.img');
    await writeFile(imagePath, Buffer.concat([Buffer.alloc(EBS_BLOCK_SIZE_BYTES), block]));

    const first = await start();
    const replica = await first.replicas.create({ imagePath, serverId: 's-0000000000000000b' });
    await first.agent.reportCheckpoint(replica.volumeId, {
      checkpointId: 'cp-1',
      checkpointTime: new Date('2026-03-04T05:06:07.000Z'),
    });
    let ec2 = new EC2Client(localClientConfig(first.endpoint));
    const snapshotId = (await ec2.send(new CreateSnapshotCommand({ VolumeId: replica.volumeId })))
      .SnapshotId!;
    for (
      let polls = 0;
      first.emulator.snapshotStatus(snapshotId) !== 'completed' && polls < 200;
      polls += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const described = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(described.Snapshots![0]!.State).toBe('completed');
    const tagsBefore = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [replica.volumeId] })))
      .Volumes![0]!.Tags;
    ec2.destroy();
    const firstMotoPid = first.moto.pid;
    await stop(first);
    expect(isProcessAlive(firstMotoPid)).toBe(false);

    const second = await start();
    ec2 = new EC2Client(localClientConfig(second.endpoint));
    const ebs = new EBSClient(localClientConfig(second.endpoint));
    try {
      const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [replica.volumeId] })))
        .Volumes![0]!;
      expect(volume.Size).toBe(1);
      expect(new Set(volume.Tags!.map((tag) => `${tag.Key}=${tag.Value}`))).toEqual(
        new Set(tagsBefore!.map((tag) => `${tag.Key}=${tag.Value}`)),
      );
      expect(volume.Tags).toEqual(expect.arrayContaining([{ Key: 'rbp:checkpoint-id', Value: 'cp-1' }]));

      const snapshot = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })))
        .Snapshots![0]!;
      expect(snapshot).toMatchObject({ State: 'completed', VolumeId: replica.volumeId, VolumeSize: 1 });
      const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
      expect(listed.Blocks!.map((entry) => entry.BlockIndex)).toEqual([1]);
      const read = await ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: 1,
          BlockToken: listed.Blocks![0]!.BlockToken!,
        }),
      );
      expect(Buffer.from(await read.BlockData!.transformToByteArray()).equals(block)).toBe(true);

      // The re-created volume is still a replica: a new snapshot freezes its image again.
      const again = await ec2.send(new CreateSnapshotCommand({ VolumeId: replica.volumeId }));
      expect(again.State).toBe('pending');
      expect(second.emulator.snapshotStatus(again.SnapshotId!)).not.toBeUndefined();
    } finally {
      ec2.destroy();
      ebs.destroy();
    }
  });
});
