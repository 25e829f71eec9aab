/**
 * Volumes made from snapshots on the local stack (local/gateway/ec2-volumes.ts): EC2 CreateVolume
 * with the SnapshotId of a snapshot written through the EBS direct APIs (a clone: a child of a
 * replica snapshot with one changed block) gives a volume that holds exactly the snapshot's blocks
 * (its own snapshot reads back equal, block for block); a pending snapshot is refused as EC2 refuses
 * it; the volume can be registered as a replica and backed up by the product's backup state
 * machine, whose catalog lists the clone's files; DeleteVolume removes its image.
 */
import '../support/quiet-powertools.ts';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CompleteSnapshotCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { useDeployedProduct } from '../support/local-product.ts';
import { useLocalClients } from '../support/local-stack.ts';
import { snapshotBlockDigests } from './snapshot-blocks.ts';

const run = promisify(execFile);
const deployment = useDeployedProduct('volume-from-snapshot', { handlerEnv: { RANGE_WORKERS: '2' } });
const local = deployment.local;
const aws = useLocalClients(local);

/** The block the clone changes: past the filesystem's metadata, inside the 1 GiB volume. */
const CLONE_BLOCK_INDEX = 1500;
/** Two minutes for the registered clone's backup (its test allows itself 240 s). */
const BACKUP_WAIT: ExecutionWait = { timeoutMs: 120_000, pollMs: 200 };

let workDir: string;
let admin: LocalAdminClient;
let replicaSnapshotId: string;
let cloneSnapshotId: string;

async function completed(snapshotId: string): Promise<void> {
  await waitUntilSnapshotCompleted(
    { client: aws.ec2, maxWaitTime: 60, minDelay: 1 },
    { SnapshotIds: [snapshotId] },
  );
}

async function createVolume(snapshotId: string): Promise<string> {
  const created = await aws.ec2.send(
    new CreateVolumeCommand({
      SnapshotId: snapshotId,
      AvailabilityZone: 'us-east-1a',
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'rbp:workflow', Value: 'qaclone' }] }],
    }),
  );
  return created.VolumeId!;
}

beforeAll(async () => {
  admin = new LocalAdminClient(local.stack.endpoint);
  workDir = deployment.work;
  const tree = join(workDir, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc', 'hostname'), 'web01\n');
  await writeFile(join(tree, 'etc', 'motd'), 'cloned for QA\n');
  const imagePath = join(workDir, 'web01.img');
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, imagePath, '1G']);
  const replica = await admin.createReplica({ imagePath, serverId: 'web01' });
  replicaSnapshotId = (await aws.ec2.send(new CreateSnapshotCommand({ VolumeId: replica.volumeId })))
    .SnapshotId!;
  await completed(replicaSnapshotId);

  // The clone: a child of the replica's snapshot with one block changed, through the EBS direct APIs.
  const started = await aws.ebs.send(
    new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: replicaSnapshotId, ClientToken: 'clone-1' }),
  );
  cloneSnapshotId = started.SnapshotId!;
  const data = Buffer.alloc(EBS_BLOCK_SIZE_BYTES, 0x5a);
  const digest = createHash('sha256').update(data).digest();
  await aws.ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: cloneSnapshotId,
      BlockIndex: CLONE_BLOCK_INDEX,
      BlockData: data,
      DataLength: data.length,
      Checksum: digest.toString('base64'),
      ChecksumAlgorithm: 'SHA256',
    }),
  );
  await aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: cloneSnapshotId, ChangedBlocksCount: 1 }));
  await completed(cloneSnapshotId);
}, 180_000);

describe('a volume made from a snapshot on the local stack', () => {
  it('holds exactly the snapshot blocks: its own snapshot reads back equal', async () => {
    const volumeId = await createVolume(cloneSnapshotId);
    const described = await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    expect(described.Volumes?.[0]).toMatchObject({ SnapshotId: cloneSnapshotId, Size: 1 });
    expect((await admin.listVolumesFromSnapshots()).map((v) => [v.volumeId, v.snapshotId, v.tags])).toEqual([
      [volumeId, cloneSnapshotId, { 'rbp:workflow': 'qaclone' }],
    ]);

    const clone = await snapshotBlockDigests(aws.ebs, cloneSnapshotId);
    const parent = await snapshotBlockDigests(aws.ebs, replicaSnapshotId);
    expect([...clone.keys()]).toEqual(
      [...new Set([...parent.keys(), CLONE_BLOCK_INDEX])].sort((a, b) => a - b),
    );

    const again = (await aws.ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }))).SnapshotId!;
    await completed(again);
    expect(await snapshotBlockDigests(aws.ebs, again)).toEqual(clone);
  }, 120_000);

  it('refuses a snapshot that is not completed, as EC2 does', async () => {
    const pending = await aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'pending-1' }));
    await expect(createVolume(pending.SnapshotId!)).rejects.toThrow(
      `Snapshot '${pending.SnapshotId!}' is not 'completed' (it is 'pending').`,
    );
    expect(await admin.listVolumesFromSnapshots()).toHaveLength(1);
  });

  it('registered as a replica, it is backed up by the backup state machine and its catalog lists its files', async () => {
    const [volume] = await admin.listVolumesFromSnapshots();
    const volumeId = volume!.volumeId;
    const registered = await admin.registerVolumeAsReplica(volumeId, { serverId: 'clone01' });
    expect(registered.tags).toMatchObject({
      'rbp:replica': 'true',
      'rbp:source-server': 'clone01',
      'rbp:source-device': '/dev/xvda',
      'rbp:workflow': 'qaclone',
    });
    expect((await admin.listReplicas()).map((r) => r.volumeId)).toContain(volumeId);
    expect(await admin.listVolumesFromSnapshots()).toEqual([]);

    const sfn = new SFNClient(local.clientConfig({ maxAttempts: 3 }));
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deployment.product.stateMachineArn,
        name: 'clone-backup',
        input: JSON.stringify({
          volumeIds: [volumeId],
          syncWait: { intervalSeconds: 1, timeoutSeconds: 60 },
          snapshotWait: { intervalSeconds: 1, timeoutSeconds: 120 },
        }),
      }),
    );
    const { status, cause } = await executionEnded(sfn, started.executionArn!, BACKUP_WAIT).finally(() =>
      sfn.destroy(),
    );
    expect({ status, cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });
    const listing = await fetch(`${deployment.product.apiUrl}/images/img-clone-backup/files?path=/etc`);
    const body = (await listing.json()) as { items: { name: string }[] };
    expect(listing.status).toBe(200);
    expect(body.items.map((entry) => entry.name).sort()).toEqual(['hostname', 'motd']);
  }, 240_000);

  it('DeleteVolume forgets the volume and removes its image', async () => {
    const volumeId = await createVolume(cloneSnapshotId);
    const imagePath = join(local.stack.stateDir, 'volumes', `${volumeId}.img`);
    await access(imagePath);
    await aws.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    await expect(access(imagePath)).rejects.toThrow('ENOENT');
    expect(await admin.listVolumesFromSnapshots()).toEqual([]);
  }, 60_000);
});
