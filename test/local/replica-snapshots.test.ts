/**
 * Replica volumes on the local stack, through the real SDKs: EC2 CreateSnapshot of a replica
 * freezes its image (later writes do not reach the snapshot, byte for byte), the snapshot goes
 * pending → completed, the replica simulator's writes, zero-writes and discards shape the next
 * snapshot's block list, checkpoint tags are set as documented, and DeleteSnapshot removes the
 * emulator's copy.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient, ListSnapshotBlocksCommand, ResourceNotFoundException } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import type { ReplicaRecord } from '../../local/replica/replica-registry.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { readSnapshotBlocks, useLocalStack } from '../support/local-stack.ts';

const SNAPSHOT_DELAY_MS = 400;
const clock = new ManualClock();
const local = useLocalStack({ snapshotCompletionDelayMs: SNAPSHOT_DELAY_MS, clock });
const B = EBS_BLOCK_SIZE_BYTES;

let ebs: EBSClient;
let ec2: EC2Client;
let workDir: string;
let replica: ReplicaRecord;
/** The image's content when it was registered: blocks 0, 2, 4 random, 1 and 3 zero, 5 partial. */
let original: Buffer;

beforeAll(async () => {
  ebs = new EBSClient(local.clientConfig());
  ec2 = new EC2Client(local.clientConfig());
  workDir = await mkdtemp(join(tmpdir(), 'rbp-replica-test-'));
  original = Buffer.alloc(5 * B + 1000);
  for (const index of [0, 2, 4]) randomBytes(B).copy(original, index * B);
  randomBytes(1000).copy(original, 5 * B);
  await writeFile(join(workDir, 'disk.img'), original);
  replica = await local.stack.replicas.create({
    imagePath: join(workDir, 'disk.img'),
    serverId: 's-00000000000000001',
    device: '/dev/sdb',
  });
});

afterAll(async () => {
  ebs.destroy();
  ec2.destroy();
  await rm(workDir, { recursive: true, force: true });
});

/** Block `index` of `image` as a full 512 KiB block (zeros past the end). */
function blockOf(image: Buffer, index: number): Buffer {
  const block = Buffer.alloc(B);
  image.copy(block, 0, index * B, Math.min(image.length, (index + 1) * B));
  return block;
}

function readSnapshot(snapshotId: string): Promise<Map<number, Buffer>> {
  return readSnapshotBlocks(ebs, snapshotId, {
    maxResults: 100,
    verify: (checksum, data) => expect(checksum).toBe(createHash('sha256').update(data).digest('base64')),
  });
}

async function stateOf(snapshotId: string): Promise<{ state: string; progress: string }> {
  const answer = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
  const snapshot = answer.Snapshots![0]!;
  return { state: snapshot.State!, progress: snapshot.Progress! };
}

async function tagsOf(volumeId: string): Promise<Record<string, string>> {
  const answer = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  return Object.fromEntries((answer.Volumes![0]!.Tags ?? []).map((tag) => [tag.Key!, tag.Value!]));
}

describe('replica volumes', () => {
  it('are EC2 volumes of the image size rounded up to GiB, tagged as replicas', async () => {
    expect(replica.volumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    const answer = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [replica.volumeId] }));
    expect(answer.Volumes![0]!.Size).toBe(1);
    expect(await tagsOf(replica.volumeId)).toEqual({
      'rbp:replica': 'true',
      'rbp:source-server': 's-00000000000000001',
      'rbp:source-device': '/dev/sdb',
      'rbp:sync-state': 'IN_SYNC',
      'rbp:backlog-bytes': '0',
    });
    const byTag = await ec2.send(
      new DescribeVolumesCommand({
        Filters: [{ Name: 'tag:rbp:source-server', Values: ['s-00000000000000001'] }],
      }),
    );
    expect(byTag.Volumes!.map((volume) => volume.VolumeId)).toEqual([replica.volumeId]);
  });

  it('carry the checkpoint and sync tags the replica simulator reports', async () => {
    await local.stack.agent.reportCheckpoint(replica.volumeId, {
      checkpointId: 'cp-0007',
      checkpointTime: new Date('2026-01-02T03:04:05.000Z'),
      syncState: 'BACKLOG',
      backlogBytes: 4096,
    });
    expect(await tagsOf(replica.volumeId)).toMatchObject({
      'rbp:checkpoint-id': 'cp-0007',
      'rbp:checkpoint-time': '2026-01-02T03:04:05.000Z',
      'rbp:sync-state': 'BACKLOG',
      'rbp:backlog-bytes': '4096',
    });
    await local.stack.agent.reportSync(replica.volumeId, { syncState: 'IN_SYNC', backlogBytes: 0 });
    expect(await tagsOf(replica.volumeId)).toMatchObject({
      'rbp:checkpoint-id': 'cp-0007',
      'rbp:sync-state': 'IN_SYNC',
      'rbp:backlog-bytes': '0',
    });
  });

  it('reject writes past the end of the volume', async () => {
    const failure = await local.stack.agent
      .write(replica.volumeId, GIB_BYTES - 2, Buffer.from('abc'))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ValidationError);
    expect(failure).toMatchObject({
      message: `the range ends beyond the volume's ${GIB_BYTES} bytes`,
      context: { volumeId: replica.volumeId, offset: GIB_BYTES - 2, length: 3 },
    });
  });
});

describe('EC2 CreateSnapshot of a replica', () => {
  let firstSnapshotId: string;
  let afterWrites: Buffer;

  it('freezes the image: writes after CreateSnapshot do not reach the snapshot', async () => {
    const created = await ec2.send(
      new CreateSnapshotCommand({
        VolumeId: replica.volumeId,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'rbp:backup', Value: 'b-1' }] }],
      }),
    );
    firstSnapshotId = created.SnapshotId!;
    expect(created.State).toBe('pending');
    expect(created.VolumeId).toBe(replica.volumeId);

    // The replica moves on: new data in blocks 0 and 1, zeros written to block 7, block 2 discarded.
    const newBlock0 = randomBytes(B);
    const newBlock1 = randomBytes(B);
    await local.stack.agent.write(replica.volumeId, 0, newBlock0);
    await local.stack.agent.write(replica.volumeId, B, newBlock1);
    await local.stack.agent.write(replica.volumeId, 7 * B, Buffer.alloc(B));
    await local.stack.agent.discard(replica.volumeId, 2 * B, B);
    afterWrites = Buffer.concat([newBlock0, newBlock1, Buffer.alloc(B), original.subarray(3 * B)]);

    expect(await stateOf(firstSnapshotId)).toEqual({ state: 'pending', progress: '0%' });
    clock.advance(SNAPSHOT_DELAY_MS / 2);
    expect(await stateOf(firstSnapshotId)).toEqual({ state: 'pending', progress: '50%' });
    clock.advance(SNAPSHOT_DELAY_MS / 2);
    expect(await stateOf(firstSnapshotId)).toEqual({ state: 'completed', progress: '100%' });

    const blocks = await readSnapshot(firstSnapshotId);
    expect([...blocks.keys()]).toEqual([0, 2, 4, 5]);
    for (const [index, data] of blocks) expect(data.equals(blockOf(original, index))).toBe(true);
  });

  it('takes the next snapshot from the image as it is now, written zero blocks included, discarded blocks gone', async () => {
    const created = await ec2.send(new CreateSnapshotCommand({ VolumeId: replica.volumeId }));
    clock.advance(SNAPSHOT_DELAY_MS);
    expect(await stateOf(created.SnapshotId!)).toEqual({ state: 'completed', progress: '100%' });
    const blocks = await readSnapshot(created.SnapshotId!);
    expect([...blocks.keys()]).toEqual([0, 1, 4, 5, 7]);
    for (const [index, data] of blocks) {
      const expected = index === 7 ? Buffer.alloc(B) : blockOf(afterWrites, index);
      expect(data.equals(expected)).toBe(true);
    }
    // The first snapshot is unchanged by the second.
    const first = await readSnapshot(firstSnapshotId);
    expect([...first.keys()]).toEqual([0, 2, 4, 5]);
    expect(first.get(0)!.equals(blockOf(original, 0))).toBe(true);
  });

  it('is deleted from the EBS emulator by EC2 DeleteSnapshot', async () => {
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: firstSnapshotId }));
    expect(local.stack.emulator.snapshotStatus(firstSnapshotId)).toBeUndefined();
    await expect(
      ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: firstSnapshotId })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    const described = await ec2
      .send(new DescribeSnapshotsCommand({ SnapshotIds: [firstSnapshotId] }))
      .catch((error: unknown) => error);
    expect((described as Error).name).toBe('InvalidSnapshot.NotFound');
  });

  it('leaves snapshots of volumes that are not replicas to moto alone', async () => {
    const volume = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId! }));
    expect(snapshot.State).toBe('completed');
    expect(local.stack.emulator.snapshotStatus(snapshot.SnapshotId!)).toBeUndefined();
  });
});
