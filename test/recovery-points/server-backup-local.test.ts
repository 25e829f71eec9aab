/**
 * Done-when of whole-server backups (docs/recovery-points.md), on the local stack with the real
 * state machine, handlers and API: a server with two real ext4 disks (root /dev/xvda and data
 * /dev/xvdb, both tagged rbp:source-server=web-01) is backed up by `rbp backup start --server` as
 * one recovery point; `rbp recovery-points` and `rbp files ls --recovery-point` show both volumes'
 * filesystems under their device names; `rbp restore server` restores both volumes to new EBS
 * snapshots that hold the disks byte for byte, and with `--availability-zone` into two new
 * volumes (snapshot, size, zone, encryption key and tags checked on moto; the Create Volume step
 * run again makes none; an unknown zone is a 400 before any job). Then a `rbp backup start --volume` of one of the
 * server's volumes is filed under the server (its rbp:source-server tag), and a deleted image leaves
 * its recovery point: `rbp images delete` narrows the two-volume point to its other volume (still
 * shown), `rbp retention apply --keep-last 1` deletes that point's last image and the point is no
 * longer listed (show: does not exist), then `rbp images delete` removes the one-volume point.
 */
import '../support/quiet-powertools.ts';
import { readFile } from 'node:fs/promises';
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import {
  createRestoredVolumeStep,
  type RestoredVolumes,
} from '../../lambdas/core/restore/restored-volumes.ts';
import { volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { Ec2RestoredVolumes } from '../../lambdas/aws/ec2-restored-volumes.ts';
import { LOCAL_RESTORE_KMS_KEY_ARN } from '../../local/volume-restore-deploy.ts';
import { prng, randomBytes } from '../support/fs-images.ts';
import { backupServer, useDeployedProduct, type ReplicaDisk } from '../support/local-product.ts';

const deployment = useDeployedProduct('server-backup', { handlerEnv: { RANGE_WORKERS: '2' } });
const json = deployment.rbp.json;
const disks = new Map<string, ReplicaDisk>();

/** The snapshot's content as a disk of `size` bytes (blocks it does not list are zeros). */
async function snapshotBytes(snapshotId: string, size: number): Promise<Buffer> {
  const ebs = deployment.engine.ebsClient;
  const disk = Buffer.alloc(size);
  let nextToken: string | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({
        SnapshotId: snapshotId,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const block of page.Blocks ?? []) {
      const offset = block.BlockIndex! * EBS_BLOCK_SIZE_BYTES;
      if (offset >= size) continue;
      const out = await ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: block.BlockIndex!,
          BlockToken: block.BlockToken!,
        }),
      );
      Buffer.from(await out.BlockData!.transformToByteArray()).copy(disk, offset);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return disk;
}

beforeAll(async () => {
  const rand = prng(12);
  const trees: Record<string, Record<string, Uint8Array | string>> = {
    '/dev/xvda': {
      'etc/hostname': 'web-01\n',
      'etc/os-release': 'ID=debian\nVERSION_ID=12\n',
      'usr/bin/tool': randomBytes(rand, 300_000),
    },
    '/dev/xvdb': {
      'var/lib/pgsql/data/PG_VERSION': '16\n',
      'var/lib/pgsql/data/base/1/16384': randomBytes(rand, 2_000_000),
    },
  };
  for (const [device, files] of Object.entries(trees)) {
    const name = device.slice('/dev/'.length);
    disks.set(device, await deployment.makeReplica(name, files, { serverId: 'web-01', device, label: name }));
  }
}, 300_000);

interface BackupJson {
  readonly backupId: string;
  readonly status: string;
  readonly serverId: string;
  readonly recoveryPointId: string;
  readonly images: { volumeId: string; device: string; imageId: string }[];
}

let recoveryPointId: string;

describe('a two-disk server on the local stack', () => {
  it('is backed up by rbp backup start --server as one recovery point', async () => {
    const backup = await backupServer<BackupJson>(deployment.rbp, 'web-01');
    const root = disks.get('/dev/xvda')!.volumeId;
    const data = disks.get('/dev/xvdb')!.volumeId;
    expect(backup).toMatchObject({
      status: 'SUCCEEDED',
      serverId: 'web-01',
      recoveryPointId: `rp-${backup.backupId}`,
      images: [
        { volumeId: root, device: '/dev/xvda', imageId: `img-${backup.backupId}-${root}` },
        { volumeId: data, device: '/dev/xvdb', imageId: `img-${backup.backupId}-${data}` },
      ],
    });
    recoveryPointId = backup.recoveryPointId;
    const listed = await json<{ recoveryPointId: string; images: unknown[] }[]>(
      'recovery-points',
      'ls',
      '--server',
      'web-01',
    );
    expect(listed.map((p) => [p.recoveryPointId, p.images.length])).toEqual([[recoveryPointId, 2]]);
  }, 900_000);

  it('shows both volumes’ filesystems under their device names', async () => {
    const shown = await json<{
      filesystems: { path: string; type: string; status: string; label: string }[];
    }>('recovery-points', 'show', recoveryPointId);
    expect(shown.filesystems.map((f) => [f.path, f.type, f.status, f.label])).toEqual([
      ['/dev/xvda', 'ext4', 'complete', 'xvda'],
      ['/dev/xvdb', 'ext4', 'complete', 'xvdb'],
    ]);
    const names = async (path: string) =>
      (
        await json<{ name: string; path: string }[]>('files', 'ls', '--recovery-point', recoveryPointId, path)
      ).map((e) => e.path);
    expect(await names('/')).toEqual(['/dev']);
    expect(await names('/dev')).toEqual(['/dev/xvda', '/dev/xvdb']);
    expect(await names('/dev/xvda/etc')).toEqual(['/dev/xvda/etc/hostname', '/dev/xvda/etc/os-release']);
    expect(await names('/dev/xvdb/var/lib/pgsql/data')).toEqual([
      '/dev/xvdb/var/lib/pgsql/data/PG_VERSION',
      '/dev/xvdb/var/lib/pgsql/data/base',
    ]);
  }, 300_000);

  it('restores both volumes byte for byte through rbp restore server', async () => {
    const restored = await json<{
      restoreId: string;
      status: string;
      snapshots: { device: string; volumeId: string; imageId: string; snapshotId: string }[];
    }>('restore', 'server', '--recovery-point', recoveryPointId, '--wait', '--timeout', '600');
    expect(Object.keys(restored)).toEqual(['restoreId', 'status', 'snapshots']);
    expect(restored.status).toBe('SUCCEEDED');
    expect(restored.snapshots.map((s) => [s.device, s.volumeId])).toEqual([
      ['/dev/xvda', disks.get('/dev/xvda')!.volumeId],
      ['/dev/xvdb', disks.get('/dev/xvdb')!.volumeId],
    ]);
    for (const snapshot of restored.snapshots) {
      expect(Object.keys(snapshot)).toEqual(['device', 'volumeId', 'imageId', 'snapshotId']);
      expect(snapshot.snapshotId).toMatch(/^snap-/);
      const original = await readFile(disks.get(snapshot.device)!.image);
      const bytes = await snapshotBytes(snapshot.snapshotId, original.length);
      expect(bytes.equals(original), `${snapshot.device} restored byte for byte`).toBe(true);
    }
  }, 900_000);

  it('restores both volumes into new volumes in an Availability Zone with --availability-zone, once, and refuses a zone EC2 does not know before any job', async () => {
    const restores = async () => (await json<{ items: unknown[] }>('restore', 'ls')).items.length;
    const before = await restores();
    const bad = await deployment.rbp(
      'restore',
      'server',
      '--recovery-point',
      recoveryPointId,
      '--availability-zone',
      'us-east-1z',
    );
    expect(bad.code).not.toBe(0);
    const badAnswer = await deployment.api<{ message: string }>('POST', '/server-restores', {
      recoveryPointId,
      availabilityZone: 'us-east-1z',
    });
    expect(badAnswer.status).toBe(400);
    expect(badAnswer.body.message).toMatch(
      /^availabilityZone us-east-1z is not an Availability Zone of this region \(EC2 knows us-east-1a, us-east-1b, /,
    );
    expect(bad.stderr).toContain(badAnswer.body.message);
    expect(await restores()).toBe(before);

    const restored = await json<{
      restoreId: string;
      status: string;
      snapshots: {
        device: string;
        volumeId: string;
        imageId: string;
        snapshotId: string;
        restoredVolumeId: string;
        availabilityZone: string;
      }[];
    }>(
      'restore',
      'server',
      '--recovery-point',
      recoveryPointId,
      '--availability-zone',
      'us-east-1b',
      '--wait',
      '--timeout',
      '600',
    );
    expect(restored.status).toBe('SUCCEEDED');
    const ec2 = deployment.engine.ec2Client;
    const tagged = async () =>
      (
        await ec2.send(
          new DescribeVolumesCommand({
            Filters: [{ Name: 'tag:rbp:restore-id', Values: [restored.restoreId] }],
          }),
        )
      ).Volumes ?? [];
    const made = await tagged();
    expect(made).toHaveLength(2);
    for (const entry of restored.snapshots) {
      expect(Object.keys(entry)).toEqual([
        'device',
        'volumeId',
        'imageId',
        'snapshotId',
        'restoredVolumeId',
        'availabilityZone',
      ]);
      const volume = made.find((v) => v.VolumeId === entry.restoredVolumeId)!;
      const tags: Record<string, string> = Object.fromEntries(
        (volume.Tags ?? []).map((t): [string, string] => [t.Key ?? '', t.Value ?? '']),
      );
      expect({
        snapshot: volume.SnapshotId,
        size: volume.Size,
        zone: volume.AvailabilityZone,
        encrypted: volume.Encrypted,
        key: volume.KmsKeyId,
        state: volume.State,
        tags,
      }).toEqual({
        snapshot: entry.snapshotId,
        size: 1,
        zone: 'us-east-1b',
        encrypted: true,
        key: LOCAL_RESTORE_KMS_KEY_ARN,
        state: 'available',
        tags: {
          'rbp:restore-id': restored.restoreId,
          'rbp:source-server': 'web-01',
          'rbp:source-volume': entry.volumeId,
          'rbp:device': entry.device,
          Name: `web-01 ${entry.device} (rbp restore ${restored.restoreId})`,
        },
      });
      expect(entry.availabilityZone).toBe('us-east-1b');
    }
    // The Create Volume step run again for each volume (a retry, a redrive): found by its tags, no CreateVolume.
    let createVolumeRequests = 0;
    const adapter = new Ec2RestoredVolumes(ec2);
    const counted: RestoredVolumes = {
      findRestoredVolume: (id, device) => adapter.findRestoredVolume(id, device),
      createVolume: (request) => {
        createVolumeRequests += 1;
        return adapter.createVolume(request);
      },
    };
    const jobs = volumeRestoreJobs(
      new DynamoDbJobStore(deployment.engine.ddbClient, deployment.product.names.table),
    );
    for (const [n, entry] of restored.snapshots.entries()) {
      const restoreId = `${restored.restoreId}-v${n}`;
      const job = await jobs.get(restoreId);
      await jobs.update({ ...job, status: 'running' }, ['succeeded']);
      const again = await createRestoredVolumeStep({ jobs, clock: systemClock, volumes: counted }, restoreId);
      expect(again).toEqual({ volumeId: entry.restoredVolumeId, state: 'available' });
      await jobs.update({ ...job, status: 'succeeded' }, ['running']);
    }
    expect(createVolumeRequests).toBe(0);
    expect((await tagged()).map((v) => v.VolumeId).sort()).toEqual(made.map((v) => v.VolumeId).sort());
  }, 900_000);

  it('files a --volume backup under the volume’s server; images deleted by rbp images delete and by retention leave their recovery points', async () => {
    const root = disks.get('/dev/xvda')!.volumeId;
    const data = disks.get('/dev/xvdb')!.volumeId;
    const single = await json<BackupJson>('backup', 'start', '--volume', root, '--wait', '--timeout', '600');
    expect([single.status, single.recoveryPointId]).toEqual(['SUCCEEDED', `rp-${single.backupId}`]);
    const listed = async () =>
      (
        await json<{ recoveryPointId: string; images: { imageId: string }[] }[]>(
          'recovery-points',
          'ls',
          '--server',
          'web-01',
        )
      ).map((p) => [p.recoveryPointId, p.images.map((i) => i.imageId)]);
    const serverImages = [
      `img-${recoveryPointId.slice(3)}-${root}`,
      `img-${recoveryPointId.slice(3)}-${data}`,
    ];
    expect(await listed()).toEqual([
      [single.recoveryPointId, [single.images[0]!.imageId]],
      [recoveryPointId, serverImages],
    ]);
    // One volume of the two-volume point: the point is narrowed to the other and still shown.
    const deleted = await deployment.rbp('images', 'delete', serverImages[1]!);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await listed()).toEqual([
      [single.recoveryPointId, [single.images[0]!.imageId]],
      [recoveryPointId, [serverImages[0]]],
    ]);
    const shown = await json<{ filesystems: { path: string }[] }>('recovery-points', 'show', recoveryPointId);
    expect(shown.filesystems.map((f) => f.path)).toEqual(['/dev/xvda']);
    // Retention deletes the older point's last image: the point goes with it.
    const retention = await json<{ images: { imageId: string; outcome: string }[] }>(
      'retention',
      'apply',
      '--server',
      'web-01',
      '--keep-last',
      '1',
    );
    expect(retention.images.map((i) => [i.imageId, i.outcome])).toEqual([
      [single.images[0]!.imageId, 'kept'],
      [serverImages[0], 'deleted'],
    ]);
    expect(await listed()).toEqual([[single.recoveryPointId, [single.images[0]!.imageId]]]);
    const gone = await deployment.rbp('recovery-points', 'show', recoveryPointId);
    expect(gone.stderr).toContain(`recovery point ${recoveryPointId} does not exist`);
    expect((await deployment.rbp('images', 'delete', single.images[0]!.imageId)).code).toBe(0);
    expect(await listed()).toEqual([]);
  }, 900_000);
});
