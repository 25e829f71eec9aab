/**
 * `rbp local server state` and `rbp local primary create` on the local stack: the replication
 * state the simulated agent reports lands in the replica volumes' tags (as plans read them), and a
 * primary volume is the source server's own EBS disk: attached to the server's EC2 instance in
 * moto, named by its replica's `rbp:primary-volume`, and snapshotted crash-consistently with
 * CreateSnapshots, the snapshot holding the primary image byte for byte.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateSnapshotsCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { serversFromVolumes } from '../../lambdas/core/plans/servers.ts';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { RBP_BIN as RBP } from '../support/cli.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { snapshotBytes as readSnapshotBytes } from '../workflows/snapshot-blocks.ts';

const run = promisify(execFile);
const B = EBS_BLOCK_SIZE_BYTES;
const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
const aws = useLocalClients(local);
let admin: LocalAdminClient;
let workDir: string;

beforeAll(async () => {
  admin = new LocalAdminClient(local.stack.endpoint);
  workDir = await mkdtemp(join(tmpdir(), 'rbp-primary-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** A raw image of `blocks` EBS blocks with random data in the odd ones (even ones stay zero). */
async function image(name: string, blocks: number): Promise<{ path: string; bytes: Buffer }> {
  const bytes = Buffer.alloc(blocks * B);
  for (let block = 1; block < blocks; block += 2) randomBytes(B).copy(bytes, block * B);
  const path = join(workDir, name);
  await writeFile(path, bytes);
  return { path, bytes };
}

/** The snapshot's first `length` bytes, read through the EBS direct API. */
function snapshotBytes(snapshotId: string, length: number): Promise<Buffer> {
  return readSnapshotBytes(aws.ebs, snapshotId, length);
}

async function volumeTags(volumeIds: string[]) {
  const { Volumes = [] } = await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }));
  return Volumes.map((volume) => ({
    volumeId: volume.VolumeId!,
    tags: Object.fromEntries((volume.Tags ?? []).map((tag) => [tag.Key!, tag.Value!])),
    attachments: (volume.Attachments ?? []).map((a) => [a.InstanceId, a.Device]),
  }));
}

describe('rbp local server state', () => {
  it('sets the replication state and lag on every replica volume of the server, as plans read them', async () => {
    const a = await local.stack.replicas.create({
      imagePath: (await image('db-a.img', 2)).path,
      serverId: 'DB1',
    });
    const b = await local.stack.replicas.create({
      imagePath: (await image('db-b.img', 2)).path,
      serverId: 'DB1',
      device: '/dev/xvdb',
    });
    const ids = [a.volumeId, b.volumeId];

    await admin.setServerReplication('DB1', { replication: 'lagging', lagSeconds: 300 });
    let [server] = serversFromVolumes(await volumeTags(ids));
    expect(server).toMatchObject({ name: 'DB1', replication: 'lagging', lagSeconds: 300, hasPrimary: false });

    await admin.setServerReplication('DB1', { replication: 'stalled' });
    const tags = await volumeTags(ids);
    expect(tags.map((v) => [v.tags['rbp:replication-state'], v.tags['rbp:lag-seconds']])).toEqual([
      ['stalled', undefined],
      ['stalled', undefined],
    ]);
    [server] = serversFromVolumes(tags);
    expect(server).toMatchObject({ replication: 'stalled' });
    expect(server!.lagSeconds).toBeUndefined();
    // The checkpoint protocol's tags are left alone.
    expect(tags[0]!.tags['rbp:sync-state']).toBe('IN_SYNC');

    const cli = await run(RBP, [
      'local',
      'server',
      'state',
      'DB1',
      '--replication',
      'in-sync',
      '--endpoint',
      local.stack.endpoint,
    ]);
    const printed = JSON.parse(cli.stdout) as Record<string, Record<string, string>>;
    expect(Object.keys(printed).sort()).toEqual([...ids].sort());
    expect(printed[a.volumeId]).toMatchObject({ 'rbp:replication-state': 'in-sync', 'rbp:lag-seconds': '0' });
    [server] = serversFromVolumes(await volumeTags(ids));
    expect(server).toMatchObject({ replication: 'in-sync', lagSeconds: 0 });

    await expect(admin.setServerReplication('NOPE', { replication: 'stalled' })).rejects.toMatchObject({
      status: 404,
      message: 'server NOPE has no replica volume',
    });
    await expect(
      run(RBP, [
        'local',
        'server',
        'state',
        'DB1',
        '--replication',
        'broken',
        '--endpoint',
        local.stack.endpoint,
      ]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'Allowed choices are in-sync, lagging, stalled, disconnected',
      ) as unknown,
    });
  });
});

describe('rbp local primary create', () => {
  it('attaches the primary to the server instance, names it on the replica, and CreateSnapshots copies it byte for byte', async () => {
    const replicaA = await local.stack.replicas.create({
      imagePath: (await image('qa1-r.img', 3)).path,
      serverId: 'QA1',
    });
    const replicaB = await local.stack.replicas.create({
      imagePath: (await image('qa1-rb.img', 3)).path,
      serverId: 'QA1',
      device: '/dev/xvdb',
    });
    const primaryA = await image('qa1-p.img', 5);
    const primaryB = await image('qa1-pb.img', 4);
    const cli = await run(RBP, [
      'local',
      'primary',
      'create',
      '--image',
      primaryA.path,
      '--server',
      'QA1',
      '--endpoint',
      local.stack.endpoint,
    ]);
    const primaryAId = cli.stdout.trim();
    expect(primaryAId).toMatch(/^vol-[0-9a-f]+$/);
    // Only one of two devices has a primary: the server has none yet.
    let [server] = serversFromVolumes(await volumeTags([replicaA.volumeId, replicaB.volumeId]));
    expect(server).toMatchObject({ name: 'QA1', hasPrimary: false });
    const recordB = await admin.createPrimary({
      imagePath: primaryB.path,
      serverId: 'QA1',
      device: '/dev/xvdb',
    });
    [server] = serversFromVolumes(await volumeTags([replicaA.volumeId, replicaB.volumeId]));
    expect(server).toMatchObject({ name: 'QA1', hasPrimary: true });
    expect(server!.volumes.map((v) => v.tags['rbp:primary-volume']).sort()).toEqual(
      [primaryAId, recordB.volumeId].sort(),
    );

    const primaries = await volumeTags([primaryAId, recordB.volumeId]);
    const instanceId = recordB.instanceId!;
    expect(primaries.map((v) => v.attachments)).toEqual([
      [[instanceId, '/dev/xvda']],
      [[instanceId, '/dev/xvdb']],
    ]);
    expect(primaries[0]!.tags).toEqual({
      'rbp:primary-of': 'QA1',
      'rbp:source-device': '/dev/xvda',
      'rbp:primary': 'true',
    });
    const instances = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = instances.Reservations![0]!.Instances![0]!;
    expect(instance.Tags).toEqual(expect.arrayContaining([{ Key: 'rbp:source-server', Value: 'QA1' }]));
    expect(instance.Tags).toEqual(expect.arrayContaining([{ Key: 'rbp:primary', Value: 'true' }]));
    expect(instance.BlockDeviceMappings!.map((m) => m.Ebs!.VolumeId).sort()).toEqual(
      [primaryAId, recordB.volumeId].sort(),
    );
    // Primaries are not replicas: they are listed apart.
    expect(local.stack.replicas.list().map((r) => r.volumeId)).not.toContain(primaryAId);
    expect((await admin.listPrimaries()).map((p) => p.volumeId)).toEqual([primaryAId, recordB.volumeId]);

    local.stack.gateway.resetStats();
    const created = await aws.ec2.send(
      new CreateSnapshotsCommand({
        InstanceSpecification: { InstanceId: instanceId },
        CopyTagsFromSource: 'volume',
      }),
    );
    const snapshots = created.Snapshots ?? [];
    expect(snapshots.map((s) => [s.VolumeId, s.State]).sort()).toEqual(
      [
        [primaryAId, 'pending'],
        [recordB.volumeId, 'pending'],
      ].sort(),
    );
    for (const snapshot of snapshots) {
      await waitUntilSnapshotCompleted(
        { client: aws.ec2, maxWaitTime: 30, minDelay: 1 },
        { SnapshotIds: [snapshot.SnapshotId!] },
      );
    }
    const byVolume = new Map(snapshots.map((s) => [s.VolumeId!, s.SnapshotId!]));
    expect(
      (await snapshotBytes(byVolume.get(primaryAId)!, primaryA.bytes.length)).equals(primaryA.bytes),
    ).toBe(true);
    expect(
      (await snapshotBytes(byVolume.get(recordB.volumeId)!, primaryB.bytes.length)).equals(primaryB.bytes),
    ).toBe(true);
    expect(local.stack.gateway.stats().requests['ec2:CreateSnapshots']).toBe(1);
  });

  it('refuses a primary for a device the server has no replica of, and a second primary of one device', async () => {
    await local.stack.replicas.create({ imagePath: (await image('web-r.img', 1)).path, serverId: 'WEB1' });
    const primary = await image('web-p.img', 1);
    await expect(
      admin.createPrimary({ imagePath: primary.path, serverId: 'WEB1', device: '/dev/sdz' }),
    ).rejects.toMatchObject({
      status: 404,
      message:
        'server WEB1 has no replica volume of device /dev/sdz (rbp local replica create --server WEB1 --device /dev/sdz first)',
    });
    await admin.createPrimary({ imagePath: primary.path, serverId: 'WEB1' });
    await expect(admin.createPrimary({ imagePath: primary.path, serverId: 'WEB1' })).rejects.toMatchObject({
      status: 400,
      message: 'server WEB1 already has a primary volume of device /dev/xvda',
    });
  });
});
