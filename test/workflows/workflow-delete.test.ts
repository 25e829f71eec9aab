/**
 * Deleting a workflow on the local stack (the product deployed by local/deploy.ts, moto's EC2, the
 * EBS emulator): `rbp workflows delete NAME` keeps what the workflow created and lists it;
 * `--remove-clones` (DELETE /workflows/{name}?created=remove) detaches its volume from the
 * instance it is attached to, deletes it and deletes its snapshot, and leaves another workflow's
 * snapshot alone; an unknown workflow is 404 (exit code 3) and a bad `created` is 400.
 */
import '../support/quiet-powertools.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { launchInstance } from '../support/ec2-instances.ts';
import { useDeployedProduct } from '../support/local-product.ts';
import { useLocalClients } from '../support/local-stack.ts';
import { LIVE_CLONE_EXAMPLE } from './workflow-fixtures.ts';

const deployment = useDeployedProduct('workflow-delete');
const local = deployment.local;
const aws = useLocalClients(local);
const rbp = deployment.rbp;
const ZONE = 'us-east-1a';

let replicaVolumeId: string;
let instanceId: string;

async function createWorkflow(name: string): Promise<void> {
  const answer = await deployment.api('POST', '/workflows', { ...LIVE_CLONE_EXAMPLE, name });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
}

/** What a run leaves: a clone snapshot tagged with the workflow, and a volume from it attached to the instance. */
async function cloneAndMount(
  workflow: string,
  device: string,
): Promise<{ snapshotId: string; volumeId: string }> {
  const tags = [{ Key: 'rbp:workflow', Value: workflow }];
  const snapshotId = (
    await aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: replicaVolumeId,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }],
      }),
    )
  ).SnapshotId!;
  await waitUntilSnapshotCompleted(
    { client: aws.ec2, maxWaitTime: 60, minDelay: 1 },
    { SnapshotIds: [snapshotId] },
  );
  const volumeId = (
    await aws.ec2.send(
      new CreateVolumeCommand({
        SnapshotId: snapshotId,
        AvailabilityZone: ZONE,
        TagSpecifications: [{ ResourceType: 'volume', Tags: tags }],
      }),
    )
  ).VolumeId!;
  await aws.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }));
  return { snapshotId, volumeId };
}

async function snapshotExists(snapshotId: string): Promise<boolean> {
  const found = await aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }],
    }),
  );
  return (found.Snapshots ?? []).length === 1;
}

async function volumeState(volumeId: string): Promise<string | undefined> {
  const found = await aws.ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }),
  );
  const volume = found.Volumes?.[0];
  return volume === undefined ? undefined : `${volume.State}:${volume.Attachments?.[0]?.State ?? 'free'}`;
}

beforeAll(async () => {
  const image = Buffer.alloc(4 << 20);
  image.write('the data a workflow clones', 1 << 20);
  await writeFile(join(deployment.work, 'web01.img'), image);
  replicaVolumeId = (
    await local.stack.replicas.create({ imagePath: join(deployment.work, 'web01.img'), serverId: 'web01' })
  ).volumeId;
  instanceId = await launchInstance(aws.ec2, ZONE);
}, 120_000);

describe('rbp workflows delete', () => {
  it('keeps what the workflow created by default, and says what it kept', async () => {
    await createWorkflow('keepme');
    const { snapshotId, volumeId } = await cloneAndMount('keepme', '/dev/sdf');
    const deleted = await rbp('workflows', 'delete', 'keepme');
    expect(deleted, deleted.stderr).toMatchObject({ code: 0 });
    expect(deleted.stdout.trim()).toBe(
      `workflow keepme deleted; kept 1 volume(s) and 1 snapshot(s): ${volumeId} ${snapshotId}`,
    );
    expect((await fetch(`${deployment.product.apiUrl}/workflows/keepme`)).status).toBe(404);
    expect(await snapshotExists(snapshotId)).toBe(true);
    expect(await volumeState(volumeId)).toBe('in-use:attached');
  }, 120_000);

  it('--remove-clones detaches and deletes its volume and deletes its snapshot, and nothing else', async () => {
    await createWorkflow('qaclone');
    const { snapshotId, volumeId } = await cloneAndMount('qaclone', '/dev/sdg');
    const other = await cloneAndMount('qaother', '/dev/sdh');
    const deleted = await rbp('workflows', 'delete', 'qaclone', '--remove-clones', '--json');
    expect(deleted, deleted.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(deleted.stdout)).toEqual({
      name: 'qaclone',
      deleted: true,
      created: 'remove',
      snapshotIds: [snapshotId],
      volumeIds: [volumeId],
    });
    expect(await volumeState(volumeId)).toBeUndefined();
    expect(await snapshotExists(snapshotId)).toBe(false);
    // The EBS emulator's copy of the snapshot went with it.
    expect(local.stack.emulator.snapshotStatus(snapshotId)).toBeUndefined();
    expect(await snapshotExists(other.snapshotId)).toBe(true);
    expect(await volumeState(other.volumeId)).toBe('in-use:attached');
    expect((await fetch(`${deployment.product.apiUrl}/workflows/qaclone`)).status).toBe(404);
  }, 120_000);

  it('an unknown workflow is 404 (exit 3); a bad created choice is 400 and deletes nothing', async () => {
    const unknown = await rbp('workflows', 'delete', 'nosuch', '--remove-clones');
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('workflow nosuch does not exist');
    await createWorkflow('stays');
    const bad = await fetch(`${deployment.product.apiUrl}/workflows/stays?created=destroy`, {
      method: 'DELETE',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('created');
    expect((await fetch(`${deployment.product.apiUrl}/workflows/stays`)).status).toBe(200);
  }, 120_000);
});
